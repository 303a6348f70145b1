namespace GuestAgent.Agent.Platform.Windows;

/// <summary>
/// Windows accounts as run_as and file owners name them: the agent's own account only (Windows has
/// SIDs, not numeric ids; another account would need a logon). It gets the id <see cref="AgentAccountId"/>.
/// </summary>
public sealed class WindowsAccounts : IAccounts
{
    /// <summary>The id given to the agent's own account, the one account this platform knows.</summary>
    public const uint AgentAccountId = 1;

    public GuestUser? FindUser(string name) =>
        name.Equals(Environment.UserName, StringComparison.OrdinalIgnoreCase)
        || name.Equals($"{Environment.UserDomainName}\\{Environment.UserName}", StringComparison.OrdinalIgnoreCase)
            ? new GuestUser(Environment.UserName, AgentAccountId, AgentAccountId, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile))
            : null;

    /// <summary>No groups: a file's group cannot be set on Windows guests.</summary>
    public uint? FindGroup(string name) => null;

    public uint EffectiveUserId => AgentAccountId;
}
