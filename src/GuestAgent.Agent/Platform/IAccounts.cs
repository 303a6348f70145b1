namespace GuestAgent.Agent.Platform;

/// <summary>The guest's users and groups, as run_as and file owners name them.</summary>
public interface IAccounts
{
    /// <summary>The user called <paramref name="name"/>, or null when there is none.</summary>
    GuestUser? FindUser(string name);

    /// <summary>The id of the group called <paramref name="name"/>, or null when there is none.</summary>
    uint? FindGroup(string name);

    /// <summary>The user id the agent acts as (0: root, which may switch users and give files away).</summary>
    uint EffectiveUserId { get; }
}

/// <summary>A user of the guest: numeric user and primary group ids, and home directory.</summary>
public sealed record GuestUser(string Name, uint Uid, uint Gid, string Home);
