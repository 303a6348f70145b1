using System.Runtime.InteropServices;

namespace GuestAgent.Agent.Platform.Windows;

/// <summary>The runtime's description of the guest ("Microsoft Windows 10.0.20348") and its host name.</summary>
public sealed class WindowsOsFacts : IOsFacts
{
    public string Description => RuntimeInformation.OSDescription;

    public string HostName => Environment.MachineName;
}
