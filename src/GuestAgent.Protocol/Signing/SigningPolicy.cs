namespace GuestAgent.Protocol.Signing;

/// <summary>
/// What the parser demands of a command's signature for one tenant binding (docs/protocol.md,
/// "Signing"). A signed command must carry <c>expires_at</c> no more than <see cref="MaxLifetime"/>
/// after <c>issued_at</c>: the agent remembers ids for longer than that (its dedup window), so a
/// captured command cannot be replayed once its id is forgotten.
/// </summary>
public sealed record SigningPolicy(IReadOnlyList<SigningKey> Keys, bool AllowUnsigned, TimeSpan MaxLifetime)
{
    /// <summary>The default <see cref="MaxLifetime"/>.</summary>
    public static readonly TimeSpan DefaultMaxLifetime = TimeSpan.FromHours(1);

    /// <summary>The key replies are signed with when the command's own key is gone: the first (current) one.</summary>
    public SigningKey? Current => Keys.Count > 0 ? Keys[0] : null;

    public SigningKey? Find(string? keyId) => keyId is null ? null : Keys.FirstOrDefault(k => k.Id == keyId);
}
