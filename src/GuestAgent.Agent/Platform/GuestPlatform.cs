namespace GuestAgent.Agent.Platform;

/// <summary>
/// Everything the agent asks of the guest's operating system, chosen once at start
/// (<see cref="Hosting.AgentHost"/>) and passed down to the code that runs operations, which
/// never calls the OS for these things itself. Linux: <see cref="Linux.LinuxPlatform"/>; Windows: <see cref="Windows.WindowsPlatform"/>.
/// </summary>
/// <param name="Processes">Starting, stopping and finding the processes of exec runs.</param>
/// <param name="Accounts">The guest's users and groups.</param>
/// <param name="Files">Real paths, file types, owners, modes and durable renames.</param>
/// <param name="Os">What ping reports about the guest.</param>
public sealed record GuestPlatform(IProcessControl Processes, IAccounts Accounts, IFileSystem Files, IOsFacts Os)
{
    /// <summary>The platform of the machine the agent runs on; null where the agent has none yet.</summary>
    public static GuestPlatform? OfThisMachine() =>
        OperatingSystem.IsLinux() ? Linux.LinuxPlatform.Create()
        : OperatingSystem.IsWindows() ? Windows.WindowsPlatform.Create()
        : null;
}
