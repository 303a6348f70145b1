using System.Runtime.InteropServices;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>The runtime's description of the guest (on Linux, PRETTY_NAME of /etc/os-release) and its host name.</summary>
public sealed class LinuxOsFacts : IOsFacts
{
    public string Description => RuntimeInformation.OSDescription;

    public string HostName => Environment.MachineName;
}
