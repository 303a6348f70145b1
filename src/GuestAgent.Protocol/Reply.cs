using System.Text.Json;
using System.Text.Json.Serialization;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Protocol;

/// <summary>Where a command stands, as told by one reply. Wire names are snake_case (<c>timed_out</c>).</summary>
public enum ReplyStatus
{
    /// <summary>The agent took the command and will act on it.</summary>
    Accepted,

    /// <summary>Still running; may carry a chunk of output.</summary>
    Progress,

    Succeeded,
    Failed,

    /// <summary>Refused before running; <c>error.code</c> is one of <see cref="RejectCodes"/>.</summary>
    Rejected,
    TimedOut,
    Cancelled,

    /// <summary>The agent stopped while the command ran and the command said not to rerun it.</summary>
    Interrupted,
}

public static class ReplyStatusExtensions
{
    /// <summary>Final statuses end a command: no reply with a higher seq follows.</summary>
    public static bool IsFinal(this ReplyStatus status) => status is not (ReplyStatus.Accepted or ReplyStatus.Progress);
}

/// <summary>The <c>error</c> object of a reply.</summary>
public sealed record ReplyError(string Code, string Message);

/// <summary>
/// One reply from the agent about one command. Replies of a command are numbered by
/// <see cref="Seq"/> from 0; the controller orders and deduplicates by (<see cref="Id"/>,
/// <see cref="Seq"/>). <see cref="Result"/> stays JSON because its shape depends on the op, which
/// the reply does not repeat; read it with <see cref="ResultAs{T}"/>.
/// </summary>
public sealed record Reply(
    [property: JsonPropertyOrder(-3)] Guid Id,
    [property: JsonPropertyOrder(-3)] long Seq,
    [property: JsonPropertyOrder(-3)] ReplyStatus Status,
    string Agent,
    DateTimeOffset SentAt,
    JsonElement? Result = null,
    ReplyError? Error = null,
    Chunk? Chunk = null)
{
    [JsonPropertyName("v")]
    [JsonPropertyOrder(-4)]
    public int Version { get; init; } = ProtocolVersion.Current;

    /// <summary>Derived from <see cref="Status"/>; written for readers that do not know every status.</summary>
    [JsonPropertyOrder(-2)]
    public bool Final => Status.IsFinal();

    /// <summary>A reply whose result is <paramref name="result"/> serialised with <see cref="ProtocolJson.Options"/>.</summary>
    public static Reply WithResult<T>(Guid id, long seq, ReplyStatus status, string agent, DateTimeOffset sentAt, T result) =>
        new(id, seq, status, agent, sentAt, ProtocolJson.ToElement(result));

    /// <summary>The result as <typeparamref name="T"/> (e.g. <see cref="ExecResult"/>), or null when there is none.</summary>
    /// <exception cref="JsonException">The result does not have the shape of <typeparamref name="T"/>.</exception>
    public T? ResultAs<T>() where T : class =>
        Result is { } r ? r.Deserialize<T>(ProtocolJson.Options) : null;

    public string ToJson() => JsonSerializer.Serialize(this, ProtocolJson.Options);

    public byte[] ToUtf8Bytes() => JsonSerializer.SerializeToUtf8Bytes(this, ProtocolJson.Options);

    /// <summary>The wire form as an element, e.g. for a Zaqar message body.</summary>
    public JsonElement ToJsonElement() => JsonSerializer.SerializeToElement(this, ProtocolJson.Options);
}
