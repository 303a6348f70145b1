using System.Runtime.Versioning;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>The agent's platform on a Linux guest: libc (posix_spawn among it), /proc and setpriv.</summary>
[SupportedOSPlatform("linux")]
public static class LinuxPlatform
{
    public static GuestPlatform Create()
    {
        var accounts = new LinuxAccounts();
        return new GuestPlatform(new LinuxProcessControl(accounts), accounts, new LinuxFileSystem(), new LinuxOsFacts());
    }
}
