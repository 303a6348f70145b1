using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Protocol;

/// <summary>
/// One output stream of a run as reported in the final reply. The first <see cref="InlineBytes"/>
/// bytes are here, as text (<see cref="Data"/>) when they are valid UTF-8 and as base64
/// (<see cref="DataB64"/>) otherwise; the rest follows in <see cref="Chunks"/> chunk replies.
/// <see cref="Bytes"/> and <see cref="Truncated"/> are always present, so output is never cut
/// short without saying so.
/// </summary>
/// <param name="Bytes">Total bytes the stream produced.</param>
/// <param name="InlineBytes">Bytes carried in this object.</param>
/// <param name="Chunks">Chunk replies that carry bytes <see cref="InlineBytes"/>..<see cref="Bytes"/>; 0 if none.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the whole stream, to check a reassembly.</param>
public sealed record StreamOutput(
    [property: JsonPropertyOrder(1)] long Bytes,
    [property: JsonPropertyOrder(1)] int InlineBytes,
    [property: JsonPropertyOrder(3)] int Chunks,
    [property: JsonPropertyOrder(3)] string Sha256,
    string? Data = null,
    [property: JsonPropertyName("data_b64")] string? DataB64 = null)
{
    /// <summary>True when some of the stream is not inline (it is in chunks, or was not kept at all).</summary>
    [JsonPropertyOrder(2)]
    public bool Truncated => InlineBytes < Bytes;

    /// <summary>Describes <paramref name="stream"/> with its first <paramref name="inlineBytes"/> bytes inline.</summary>
    public static StreamOutput From(ReadOnlySpan<byte> stream, int inlineBytes, int chunks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(inlineBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(inlineBytes, stream.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(chunks);
        var inline = stream[..inlineBytes];
        // A cut inside a multi-byte character makes the inline part invalid UTF-8, so it goes as base64;
        // so does text that JSON escaping would make longer than base64 (control characters take six
        // bytes each): the inline part's size on the wire stays within 4/3 of its bytes, and the
        // final reply within one Zaqar message.
        return Utf8.IsValid(inline) && JsonEncodedText.Encode(inline, ProtocolJson.Encoder).EncodedUtf8Bytes.Length <= (inlineBytes + 2) / 3 * 4
            ? new StreamOutput(stream.Length, inlineBytes, chunks, Chunker.Sha256Hex(stream), Data: Encoding.UTF8.GetString(inline))
            : new StreamOutput(stream.Length, inlineBytes, chunks, Chunker.Sha256Hex(stream), DataB64: Convert.ToBase64String(inline));
    }

    /// <summary>The inline bytes, whichever way they were encoded.</summary>
    public byte[] DecodeInline() =>
        DataB64 is not null ? Convert.FromBase64String(DataB64)
        : Data is not null ? Encoding.UTF8.GetBytes(Data)
        : [];
}

/// <summary>
/// Result of <c>exec</c>. A process that died of signal n shows <see cref="ExitCode"/> 128+n; only when
/// the agent's own timeout or cancel signal ended it is <see cref="ExitCode"/> null and <see cref="Signal"/>
/// set (e.g. "SIGKILL").
/// </summary>
/// <param name="Attempt">1 for the first run; higher when the agent reran it after an interruption.</param>
/// <param name="Reattached">
/// True when the run outlived the agent (a crash, a restart) and the agent that reports it found it
/// again, still running or ended: this is its true end, not a guess; absent otherwise.
/// </param>
public sealed record ExecResult(
    int Attempt,
    long DurationMs,
    StreamOutput Stdout,
    StreamOutput Stderr,
    [property: JsonPropertyOrder(-1)] int? ExitCode = null,
    [property: JsonPropertyOrder(-1)] string? Signal = null,
    bool? Reattached = null);

/// <summary>
/// Result of <c>http</c>: the response to the last request sent (after any redirects followed).
/// Any HTTP status, 4xx and 5xx included, is a result: the request was carried out.
/// </summary>
/// <param name="Status">The HTTP status code.</param>
/// <param name="Headers">Response (and content) headers; several values of one name joined with ", ".</param>
/// <param name="Body">The response body, with the same inline/chunk/sha256 rules as exec output (chunk stream "body").</param>
/// <param name="FinalUrl">The URL that produced this response.</param>
/// <param name="Redirects">Redirect hops followed.</param>
/// <param name="Reason">The reason phrase, when the server sent one.</param>
/// <param name="Attempt">1 for the first run; higher when the agent reran it after an interruption.</param>
public sealed record HttpResult(
    [property: JsonPropertyOrder(-1)] int Status,
    IReadOnlyDictionary<string, string> Headers,
    StreamOutput Body,
    string FinalUrl,
    int Redirects,
    long DurationMs,
    [property: JsonPropertyOrder(-1)] string? Reason = null,
    int Attempt = 1);

/// <summary>Result of <c>ping</c>.</summary>
/// <param name="Version">The agent's software version.</param>
/// <param name="Capabilities">Ops this agent accepts.</param>
/// <param name="Agent">The agent's name, as in replies' <c>agent</c>.</param>
/// <param name="CredentialsExpireAt">With pre-signed URL credentials: when the first of them expires (renew before, with <c>credentials</c>).</param>
/// <param name="Metrics">The binding's counters since the agent started; absent from older agents.</param>
public sealed record PingResult(
    string Version,
    [property: JsonPropertyName("uptime_s")] long UptimeSeconds,
    IReadOnlyList<string> Capabilities,
    string Os,
    string Hostname,
    string Agent,
    DateTimeOffset? CredentialsExpireAt = null,
    PingMetrics? Metrics = null);

/// <summary>ping's <c>metrics</c>: what one tenant binding did since the agent started (other bindings' figures are not shown).</summary>
/// <param name="Commands">Commands that reached a final status, by op and status, sorted.</param>
/// <param name="QueuePolls">Requests for commands: Zaqar claims (AMQP delivers by push and counts none).</param>
/// <param name="TransportErrors">Requests to the transport that failed: claims, deletes, reads, reply posts.</param>
/// <param name="RepliesRetried">Replies whose post failed and was tried again.</param>
public sealed record PingMetrics(
    DateTimeOffset Since,
    IReadOnlyList<CommandMetrics> Commands,
    long QueuePolls,
    long TransportErrors,
    long RepliesRetried);

/// <summary>One op and final status: how many commands ended so, and how long they took from accepted to final.</summary>
/// <param name="LatencyMs">Of the accepted ones (a command rejected on arrival was never accepted); null when none was.</param>
public sealed record CommandMetrics(string Op, string Status, long Count, [property: JsonPropertyName("latency_ms")] LatencySummary? LatencyMs = null);

/// <summary>
/// Latencies in milliseconds: their sum and largest exactly; the percentiles as the upper bound of the
/// histogram bucket they fall in (the agent keeps buckets, not every value).
/// </summary>
public sealed record LatencySummary(long Count, double Sum, double Max, double P50, double P90, double P99);

/// <summary>How far the agent got with a command, as <c>status</c> reports it.</summary>
public enum CommandState
{
    /// <summary>The agent has no record of it (never received, or forgotten).</summary>
    Unknown,
    Accepted,
    Started,

    /// <summary>Finished; the final reply is not yet posted.</summary>
    Completed,

    /// <summary>Finished and the final reply is posted.</summary>
    Replied,
    Rejected,
}

/// <summary>Result of <c>status</c> (and of <c>cancel</c>, reporting the target after the request).</summary>
/// <param name="Attempt">Runs so far; 0 if it never started.</param>
/// <param name="FinalStatus">Status of the final reply, once there is one.</param>
public sealed record StatusResult(Guid CommandId, CommandState State, int Attempt, ReplyStatus? FinalStatus = null);

/// <summary>
/// Result of each <c>file.put</c> chunk command: the transfer's progress after that chunk. The
/// chunk that completes the file is answered after the SHA-256 was verified and the file put in
/// place; then <see cref="Complete"/> is true and <see cref="Bytes"/> and <see cref="Sha256"/> are set.
/// </summary>
/// <param name="Received">Chunks the agent holds.</param>
/// <param name="Count">Chunks in the transfer.</param>
/// <param name="Missing">Indexes still missing, in ascending order, at most <see cref="MaxMissingListed"/> of them.</param>
/// <param name="Bytes">Size of the file in place, when complete.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the file in place, when complete.</param>
public sealed record FilePutResult(
    Guid TransferId,
    int Received,
    int Count,
    IReadOnlyList<int> Missing,
    bool Complete,
    string Path,
    long? Bytes = null,
    string? Sha256 = null)
{
    /// <summary>At most this many missing indexes are listed; send those, and the next answer lists more.</summary>
    public const int MaxMissingListed = 1000;

    /// <summary>The first <see cref="MaxMissingListed"/> indexes below <paramref name="count"/> not in <paramref name="held"/>.</summary>
    public static IReadOnlyList<int> MissingOf(IReadOnlySet<int> held, int count)
    {
        ArgumentNullException.ThrowIfNull(held);
        var missing = new List<int>();
        for (var i = 0; i < count && missing.Count < MaxMissingListed; i++)
        {
            if (!held.Contains(i))
            {
                missing.Add(i);
            }
        }
        return missing;
    }
}

/// <summary>
/// Result of <c>file.get</c>: the file's bytes from <see cref="Offset"/> on, in <see cref="Data"/>
/// (inline part plus chunk replies of stream "file", as exec's stdout).
/// </summary>
/// <param name="Size">Size of the whole file.</param>
/// <param name="Offset">Where the bytes sent start.</param>
/// <param name="Bytes">Bytes sent: <c>Size - Offset</c> (0 when the offset is the end).</param>
/// <param name="Mode">Permission bits as an octal string, e.g. "0644".</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the whole file (not only of the bytes sent).</param>
/// <param name="Data">The bytes sent; its own <c>sha256</c> covers just those.</param>
public sealed record FileGetResult(
    string Path,
    long Size,
    long Offset,
    long Bytes,
    string Mode,
    string Sha256,
    StreamOutput Data);

/// <summary>
/// Result of <c>file.put</c> in URL mode: the file was downloaded, verified and is in place.
/// <see cref="Complete"/> is always true (as in the last chunk's <see cref="FilePutResult"/>), so a
/// reader of file.put results can check one field whichever mode was used.
/// </summary>
/// <param name="Path">As sent.</param>
/// <param name="Bytes">Size of the file in place.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the file in place.</param>
/// <param name="HttpStatus">Status of the response the body came with.</param>
/// <param name="Url">The URL the body came from (after redirects) without its query string and user info: temp URLs carry their signature there.</param>
/// <param name="Redirects">Redirect hops followed.</param>
/// <param name="DurationMs">Wall-clock time of the whole run.</param>
/// <param name="Attempt">1 for the first run; higher when the agent reran it after an interruption.</param>
public sealed record FileDownloadResult(
    string Path,
    long Bytes,
    string Sha256,
    bool Complete,
    int HttpStatus,
    string Url,
    int Redirects,
    long DurationMs,
    int Attempt = 1);

/// <summary>Result of <c>file.get</c> with an <c>upload_url</c>: the file was sent and the server answered 2xx.</summary>
/// <param name="Path">As sent.</param>
/// <param name="Size">Size of the whole file when it was opened.</param>
/// <param name="Offset">Where the bytes sent start.</param>
/// <param name="Bytes">Bytes sent as the request body: <c>Size - Offset</c>.</param>
/// <param name="Mode">Permission bits as an octal string, e.g. "0644".</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the whole file (bytes before the offset included), as read while sending.</param>
/// <param name="HttpStatus">Status of the server's answer to the upload.</param>
/// <param name="Url">The URL that took the body (after redirects), without its query string and user info.</param>
/// <param name="Redirects">307/308 redirects followed (each sends the body again from the start).</param>
/// <param name="DurationMs">Wall-clock time of the whole run.</param>
/// <param name="Attempt">1 for the first run; higher when the agent reran it after an interruption.</param>
public sealed record FileUploadResult(
    string Path,
    long Size,
    long Offset,
    long Bytes,
    string Mode,
    string Sha256,
    int HttpStatus,
    string Url,
    int Redirects,
    long DurationMs,
    int Attempt = 1);

/// <summary>
/// Result of <c>credentials</c>: when the pre-signed URLs the agent now uses for its command queue
/// and its reply queue expire (the new ones, or the ones it kept where the command brought none).
/// </summary>
public sealed record CredentialsResult(
    DateTimeOffset CommandQueueExpiresAt,
    DateTimeOffset ReplyQueueExpiresAt);
