using System.Text.Json;

namespace GuestAgent.Protocol;

/// <summary>Whether the issuer wants replies.</summary>
public enum CommandMode
{
    /// <summary>Replies go to <c>reply_to</c>, which is therefore required.</summary>
    Call,

    /// <summary>Fire and forget; replies only if <c>reply_to</c> is given anyway.</summary>
    Cast,
}

/// <summary>What the agent does with a command that was running when the agent itself stopped.</summary>
public enum InterruptPolicy
{
    /// <summary>Run it again (the next attempt).</summary>
    Rerun,

    /// <summary>Do not run it again; reply <c>interrupted</c>.</summary>
    Fail,
}

/// <summary>
/// The <c>sig</c> object of a command: the HMAC-SHA256 (base64) of its canonical form under the key
/// <see cref="KeyId"/> (see <see cref="Signing.Signatures"/>). The parser checks it only when given
/// a <see cref="Signing.SigningPolicy"/>.
/// </summary>
public sealed record CommandSignature(string KeyId, string Mac);

/// <summary>
/// A command as it travels in the body of one Zaqar message. <see cref="RawArgs"/> is the
/// <c>args</c> object exactly as received (or as built from <see cref="Args"/>), so that fields this
/// version does not know survive re-serialisation; change arguments with <see cref="WithArgs"/>
/// to keep the two in step.
/// </summary>
public sealed record Command(
    int Version,
    Guid Id,
    string Op,
    CommandMode Mode,
    string? ReplyTo,
    DateTimeOffset IssuedAt,
    DateTimeOffset? ExpiresAt,
    InterruptPolicy OnInterrupt,
    OpArgs Args,
    CommandSignature? Signature,
    JsonElement RawArgs)
{
    /// <summary>
    /// A command whose replies go to <paramref name="replyTo"/>. Interrupted runs fail by default:
    /// someone waits for the answer and should learn that the run was cut short.
    /// </summary>
    public static Command Call(
        OpArgs args, string replyTo, DateTimeOffset issuedAt, DateTimeOffset? expiresAt = null,
        InterruptPolicy onInterrupt = InterruptPolicy.Fail, Guid? id = null) =>
        Create(args, CommandMode.Call, replyTo, issuedAt, expiresAt, onInterrupt, id);

    /// <summary>
    /// A fire-and-forget command. Interrupted runs are rerun by default: nobody waits for a
    /// failure report, so the next best thing is to get the work done.
    /// </summary>
    public static Command Cast(
        OpArgs args, DateTimeOffset issuedAt, DateTimeOffset? expiresAt = null, string? replyTo = null,
        InterruptPolicy onInterrupt = InterruptPolicy.Rerun, Guid? id = null) =>
        Create(args, CommandMode.Cast, replyTo, issuedAt, expiresAt, onInterrupt, id);

    /// <summary>The default of <c>on_interrupt</c> when a command leaves it out.</summary>
    public static InterruptPolicy DefaultInterruptPolicy(CommandMode mode) =>
        mode == CommandMode.Cast ? InterruptPolicy.Rerun : InterruptPolicy.Fail;

    /// <summary>A copy with other arguments (and the matching <see cref="Op"/> and <see cref="RawArgs"/>).</summary>
    public Command WithArgs(OpArgs args) => this with { Op = args.Op, Args = args, RawArgs = args.ToJsonElement() };

    /// <summary>The wire form; <see cref="CommandParser"/> reads it back to an equal command.</summary>
    public string ToJson() => CommandWriter.ToJson(this);

    public byte[] ToUtf8Bytes() => CommandWriter.ToUtf8Bytes(this);

    /// <summary>The wire form as an element, e.g. for a Zaqar message body.</summary>
    public JsonElement ToJsonElement() => JsonSerializer.Deserialize<JsonElement>(ToUtf8Bytes());

    private static Command Create(
        OpArgs args, CommandMode mode, string? replyTo, DateTimeOffset issuedAt, DateTimeOffset? expiresAt,
        InterruptPolicy onInterrupt, Guid? id) =>
        new(ProtocolVersion.Current, id ?? Guid.NewGuid(), args.Op, mode, replyTo, issuedAt.ToUniversalTime(),
            expiresAt?.ToUniversalTime(), onInterrupt, args, Signature: null, args.ToJsonElement());
}
