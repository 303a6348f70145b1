using System.Runtime.Versioning;

namespace GuestAgent.Agent.Platform.Windows;

/// <summary>The agent's platform on a Windows guest: job objects, cmd.exe, NTFS attributes and ACLs, the agent's own account.</summary>
[SupportedOSPlatform("windows")]
public static class WindowsPlatform
{
    public static GuestPlatform Create() =>
        new(new WindowsProcessControl(), new WindowsAccounts(), new WindowsFileSystem(), new WindowsOsFacts());
}
