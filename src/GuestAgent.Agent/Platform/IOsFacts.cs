namespace GuestAgent.Agent.Platform;

/// <summary>What ping tells a controller about the guest.</summary>
public interface IOsFacts
{
    /// <summary>The operating system and its version, as the runtime describes it (ping's <c>os</c>).</summary>
    string Description { get; }

    /// <summary>The guest's host name (ping's <c>hostname</c>).</summary>
    string HostName { get; }
}
