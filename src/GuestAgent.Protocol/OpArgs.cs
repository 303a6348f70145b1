using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GuestAgent.Protocol;

/// <summary>The op-specific <c>args</c> of a command; one subtype per op.</summary>
public abstract record OpArgs
{
    /// <summary>The <c>op</c> these arguments belong to.</summary>
    [JsonIgnore]
    public abstract string Op { get; }

    /// <summary>The <c>args</c> object of the wire form.</summary>
    public JsonElement ToJsonElement() => JsonSerializer.SerializeToElement(this, GetType(), ProtocolJson.Options);
}

/// <summary>
/// Arguments of <c>exec</c>: run a program (<see cref="Argv"/>, no shell involved) or a shell
/// script (<see cref="Shell"/>, run with <c>/bin/sh -c</c>); exactly one of the two.
/// </summary>
public sealed record ExecArgs : OpArgs
{
    public const double DefaultTimeoutSeconds = 300;
    public const double DefaultKillGraceSeconds = 5;

    [JsonIgnore]
    public override string Op => Ops.Exec;

    /// <summary>Program and arguments, passed to execve as they are.</summary>
    public IReadOnlyList<string>? Argv { get; init; }

    /// <summary>A script for <c>/bin/sh -c</c>.</summary>
    public string? Shell { get; init; }

    /// <summary>Variables added to (or replacing those in) the agent's environment.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }

    public string? Cwd { get; init; }

    /// <summary>Standard input as text (sent as UTF-8); at most one of this and <see cref="StdinB64"/>.</summary>
    public string? Stdin { get; init; }

    /// <summary>Standard input as base64, for bytes that are not text.</summary>
    [JsonPropertyName("stdin_b64")]
    public string? StdinB64 { get; init; }

    /// <summary>Wall-clock limit of the run; on expiry the process gets SIGTERM, then SIGKILL after <see cref="KillGraceSeconds"/>.</summary>
    [JsonPropertyName("timeout_s")]
    public double TimeoutSeconds { get; init; } = DefaultTimeoutSeconds;

    /// <summary>User to run as; the agent's own user when null.</summary>
    public string? RunAs { get; init; }

    [JsonPropertyName("kill_grace_s")]
    public double KillGraceSeconds { get; init; } = DefaultKillGraceSeconds;

    /// <summary>
    /// How many bytes of each stream go inline in the final reply; the rest follows in chunk
    /// replies. Null leaves it to the agent (its exec.inline-output-bytes, which also caps a larger value).
    /// </summary>
    public int? OutputCapBytes { get; init; }

    /// <summary>The bytes to feed to standard input, or null for none (stdin is then empty).</summary>
    public byte[]? DecodeStdin() =>
        StdinB64 is not null ? Convert.FromBase64String(StdinB64)
        : Stdin is not null ? Encoding.UTF8.GetBytes(Stdin)
        : null;
}

/// <summary>Arguments of <c>status</c>: which earlier command to report on.</summary>
public sealed record StatusArgs(Guid CommandId) : OpArgs
{
    [JsonIgnore]
    public override string Op => Ops.Status;
}

/// <summary>Arguments of <c>cancel</c>: which earlier command to stop.</summary>
public sealed record CancelArgs(Guid CommandId) : OpArgs
{
    [JsonIgnore]
    public override string Op => Ops.Cancel;
}

/// <summary>Arguments of <c>ping</c>: none.</summary>
public sealed record PingArgs : OpArgs
{
    [JsonIgnore]
    public override string Op => Ops.Ping;
}

/// <summary>
/// Arguments of <c>http</c>: one HTTP request sent from inside the guest to a destination the
/// agent's policy allows (per tenant <c>http-destinations</c>). At most one of <see cref="Body"/>
/// and <see cref="BodyB64"/>.
/// </summary>
public sealed record HttpArgs : OpArgs
{
    public const string DefaultMethod = "GET";
    public const double DefaultTimeoutSeconds = 30;

    /// <summary>Redirect hops followed at most when <see cref="FollowRedirects"/> is true.</summary>
    public const int MaxRedirects = 5;

    /// <summary>Request headers the agent sets itself; a command may not override them.</summary>
    public static IReadOnlyList<string> ReservedHeaders { get; } = ["Host", "Content-Length", "Transfer-Encoding", "Connection"];

    [JsonIgnore]
    public override string Op => Ops.Http;

    /// <summary>The request method, an HTTP token (GET, POST, ...).</summary>
    public string Method { get; init; } = DefaultMethod;

    /// <summary>Absolute http or https URL.</summary>
    public required string Url { get; init; }

    /// <summary>Request headers, one value each.</summary>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    /// <summary>Request body as text (sent as UTF-8).</summary>
    public string? Body { get; init; }

    /// <summary>Request body as base64, for bytes that are not text.</summary>
    [JsonPropertyName("body_b64")]
    public string? BodyB64 { get; init; }

    /// <summary>Wall-clock limit of the whole exchange, redirects and body included.</summary>
    [JsonPropertyName("timeout_s")]
    public double TimeoutSeconds { get; init; } = DefaultTimeoutSeconds;

    /// <summary>Whether 3xx answers with a Location are followed (each hop checked against the allow-list).</summary>
    public bool FollowRedirects { get; init; } = true;

    /// <summary>How many bytes of the response body go inline in the final reply; the rest follows in chunk replies.</summary>
    public int? OutputCapBytes { get; init; }

    /// <summary>The request body bytes, or null for none.</summary>
    public byte[]? DecodeBody() =>
        BodyB64 is not null ? Convert.FromBase64String(BodyB64)
        : Body is not null ? Encoding.UTF8.GetBytes(Body)
        : null;
}

/// <summary>
/// Arguments of <c>file.put</c>: one numbered chunk of a file sent to the guest. Every chunk of
/// one file is its own command and carries the same <see cref="TransferId"/>, <see cref="Path"/>,
/// <see cref="Size"/>, <see cref="Sha256"/>, <see cref="ChunkBytes"/> and <see cref="Count"/>.
/// The parser checks that these agree with each other and with the decoded length of
/// <see cref="DataB64"/>; whether they agree with earlier chunks of the transfer is the agent's
/// business: the agent fails a chunk that disagrees with its transfer.
/// </summary>
public sealed record FilePutArgs : OpArgs
{
    /// <summary>Longest <see cref="Path"/> in UTF-8 bytes, so that a chunk of the largest size still fits one Zaqar message.</summary>
    public const int MaxPathBytes = 1024;

    /// <summary>Longest <see cref="Owner"/> or <see cref="Group"/> name (Linux's own limit).</summary>
    public const int MaxNameLength = 32;

    [JsonIgnore]
    public override string Op => Ops.FilePut;

    /// <summary>Shared by every chunk of one file; chunks of another transfer never mix with it.</summary>
    public required Guid TransferId { get; init; }

    /// <summary>Absolute destination path in the guest.</summary>
    public required string Path { get; init; }

    /// <summary>Total bytes of the file.</summary>
    public required long Size { get; init; }

    /// <summary>Lower-case hex SHA-256 of the whole file; checked before the file is put in place.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Size of every chunk but the last (which holds the remainder).</summary>
    public required int ChunkBytes { get; init; }

    /// <summary>0-based number of this chunk.</summary>
    public required int Index { get; init; }

    /// <summary>Chunks in the transfer: <c>max(1, ceil(Size / ChunkBytes))</c>.</summary>
    public required int Count { get; init; }

    // A parsed chunk keeps its bytes as decoded from the command's UTF-8 (no base64 string of a
    // third of a megabyte in between); the base64 text is made only if someone asks for it.
    private string? _dataB64;
    private byte[]? _data;

    public FilePutArgs()
    {
    }

    /// <summary>
    /// A chunk read from the wire: <paramref name="data"/> holds its decoded bytes (see <see cref="DataB64"/>).
    /// Only the parser calls it, and sets every other member in its initializer.
    /// </summary>
#pragma warning disable CS8618
    [SetsRequiredMembers]
    internal FilePutArgs(byte[] data)
    {
        _data = data;
    }
#pragma warning restore CS8618

    /// <summary>This chunk's bytes, base64.</summary>
    [JsonPropertyName("data_b64")]
    public required string DataB64
    {
        get => _dataB64 ??= Convert.ToBase64String(_data ?? []);
        init
        {
            _dataB64 = value;
            _data = null;
        }
    }

    /// <summary>Permission bits as an octal string ("0644"); null leaves them to the agent.</summary>
    public string? Mode { get; init; }

    /// <summary>User name to own the file; null leaves it to the agent.</summary>
    public string? Owner { get; init; }

    /// <summary>Group name to own the file; null leaves it to the agent.</summary>
    public string? Group { get; init; }

    /// <summary>Whether an existing file at <see cref="Path"/> may be replaced.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Bytes the chunk <paramref name="index"/> of a file of <paramref name="size"/> bytes must hold.</summary>
    public static long ExpectedChunkLength(long size, int chunkBytes, int index)
    {
        var count = ExpectedCount(size, chunkBytes);
        return index < count - 1 ? chunkBytes : size - ((count - 1) * (long)chunkBytes);
    }

    /// <summary>How many chunks a file of <paramref name="size"/> bytes takes: at least one, even when empty.</summary>
    public static long ExpectedCount(long size, int chunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkBytes);
        return Math.Max(1, (size / chunkBytes) + (size % chunkBytes == 0 ? 0 : 1));
    }

    /// <summary><see cref="Mode"/> as permission bits, or null when not given.</summary>
    public UnixFileMode? DecodeMode() => Mode is null ? null : (UnixFileMode)Convert.ToInt32(Mode, 8);

    /// <summary>This chunk's bytes.</summary>
    public byte[] DecodeData() => _data ?? Convert.FromBase64String(DataB64);

    /// <summary>
    /// Equal when every field is, the chunk's bytes compared as bytes however each side holds them
    /// (written by hand because of that: a field added to this record must be added here too).
    /// </summary>
    public bool Equals(FilePutArgs? other) =>
        other is not null && (ReferenceEquals(this, other) || (base.Equals(other)
            && TransferId == other.TransferId && Path == other.Path && Size == other.Size && Sha256 == other.Sha256
            && ChunkBytes == other.ChunkBytes && Index == other.Index && Count == other.Count
            && Mode == other.Mode && Owner == other.Owner && Group == other.Group && Overwrite == other.Overwrite
            && (_data is not null && other._data is not null
                ? _data.AsSpan().SequenceEqual(other._data)
                : DataB64 == other.DataB64)));

    public override int GetHashCode() => HashCode.Combine(TransferId, Path, Size, Sha256, Index, Count);
}

/// <summary>
/// Arguments of <c>file.get</c>: read a file from the guest, from <see cref="Offset"/> to its end.
/// Only paths under the tenant binding's file roots can be read. The bytes come back in replies,
/// or, with <see cref="UploadUrl"/>, are sent by the agent to that URL in one request.
/// </summary>
public sealed record FileGetArgs : OpArgs
{
    /// <summary>Method of an upload when the command names none.</summary>
    public const string DefaultUploadMethod = "PUT";

    /// <summary>Limit of an upload when the command names none: big files over slow links take a while.</summary>
    public const double DefaultUploadTimeoutSeconds = 3600;

    /// <summary>The methods an upload may use: the two an object store takes a whole object with.</summary>
    public static IReadOnlyList<string> UploadMethods { get; } = ["PUT", "POST"];

    [JsonIgnore]
    public override string Op => Ops.FileGet;

    /// <summary>Absolute path of the file in the guest.</summary>
    public required string Path { get; init; }

    /// <summary>Byte offset to start from, to resume an earlier read; 0 for the whole file.</summary>
    public long Offset { get; init; }

    /// <summary>How many bytes go inline in the final reply; the rest follows in chunk replies of stream "file".</summary>
    public int? OutputCapBytes { get; init; }

    /// <summary>
    /// Upload mode: the agent sends the file (from <see cref="Offset"/>) as the body of one request
    /// to this absolute http(s) URL, instead of in replies. Null: the bytes come back in replies.
    /// </summary>
    public string? UploadUrl { get; init; }

    /// <summary>"PUT" or "POST"; null means <see cref="DefaultUploadMethod"/>. Only with <see cref="UploadUrl"/>.</summary>
    public string? UploadMethod { get; init; }

    /// <summary>Headers of the upload request, validated like http's <c>headers</c>. Only with <see cref="UploadUrl"/>.</summary>
    public IReadOnlyDictionary<string, string>? UploadHeaders { get; init; }

    /// <summary>Wall-clock limit of the upload; null means <see cref="DefaultUploadTimeoutSeconds"/>. Only with <see cref="UploadUrl"/>.</summary>
    [JsonPropertyName("timeout_s")]
    public double? TimeoutSeconds { get; init; }
}

/// <summary>
/// Arguments of <c>file.put</c> in URL mode (a <c>url</c> instead of chunks): the agent downloads
/// the file itself from <see cref="Url"/> (e.g. an object store's temp URL), streaming it into a
/// temp file beside the target, checks <see cref="Size"/> and <see cref="Sha256"/>, and renames it
/// into place. One command moves the whole file, so there is no transfer id and no chunk fields.
/// </summary>
public sealed record FilePutUrlArgs : OpArgs
{
    /// <summary>Limit of a download when the command names none: big files over slow links take a while.</summary>
    public const double DefaultTimeoutSeconds = 3600;

    /// <summary>The chunk-mode fields, which a URL-mode command must not carry (it would be two transfers in one).</summary>
    public static IReadOnlyList<string> ChunkFields { get; } = ["transfer_id", "chunk_bytes", "index", "count", "data_b64"];

    [JsonIgnore]
    public override string Op => Ops.FilePut;

    /// <summary>Absolute destination path in the guest.</summary>
    public required string Path { get; init; }

    /// <summary>Exact length of the file; a body of any other length is refused.</summary>
    public required long Size { get; init; }

    /// <summary>Lower-case hex SHA-256 of the file; checked before the file is put in place.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Absolute http or https URL to GET the file from; every hop must be an allowed http destination.</summary>
    public required string Url { get; init; }

    /// <summary>Request headers (e.g. a token), one value each, validated like http's <c>headers</c>.</summary>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    /// <summary>Permission bits as an octal string ("0644"); null leaves them to the agent.</summary>
    public string? Mode { get; init; }

    /// <summary>User name to own the file; null leaves it to the agent.</summary>
    public string? Owner { get; init; }

    /// <summary>Group name to own the file; null leaves it to the agent.</summary>
    public string? Group { get; init; }

    /// <summary>Whether an existing file at <see cref="Path"/> may be replaced.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Wall-clock limit of the whole download (redirects, body, checksum and rename).</summary>
    [JsonPropertyName("timeout_s")]
    public double TimeoutSeconds { get; init; } = DefaultTimeoutSeconds;

    /// <summary><see cref="Mode"/> as permission bits, or null when not given.</summary>
    public UnixFileMode? DecodeMode() => Mode is null ? null : (UnixFileMode)Convert.ToInt32(Mode, 8);
}

/// <summary>
/// Arguments of <c>credentials</c>: fresh Zaqar pre-signed URLs for a guest whose binding uses
/// them (auth.mode = presigned), for its command queue, its reply queue or both. Only taken when
/// the command is signed.
/// </summary>
public sealed record CredentialsArgs(
    [property: JsonPropertyName("command_queue_signature")] PreSignedBlock? CommandQueueSignature,
    [property: JsonPropertyName("reply_queue_signature")] PreSignedBlock? ReplyQueueSignature) : OpArgs
{
    [JsonIgnore]
    public override string Op => Ops.Credentials;
}

/// <summary>One pre-signed URL as Zaqar's share call returns it (docs/security.md).</summary>
public sealed record PreSignedBlock(
    IReadOnlyList<string> Paths,
    IReadOnlyList<string> Methods,
    string Expires,
    string Signature,
    string? Project = null)
{
    /// <summary>How Zaqar writes <see cref="Expires"/>: UTC without an offset.</summary>
    public const string ExpiresFormat = "yyyy-MM-dd'T'HH:mm:ss";

    /// <summary>Most paths or methods one block may list.</summary>
    public const int MaxEntries = 16;
}
