using GuestAgent.Protocol;

namespace GuestAgent.Client.Files;

/// <summary>
/// How <see cref="GuestClient.PutFileAsync(Stream, string, FilePutOptions?, CancellationToken)"/>
/// sends a file: what the guest file gets (<see cref="Mode"/>, <see cref="Owner"/>,
/// <see cref="Group"/>, <see cref="Overwrite"/>) and how the chunks travel.
/// </summary>
public sealed record FilePutOptions
{
    /// <summary>
    /// Chunks in flight at once when <see cref="Window"/> is not given. A chunk's round trip (posted,
    /// claimed, written, recorded, answered, its answer received) is several times a post's, so a
    /// window of 8 left Zaqar and both ends idle half the time: 16 moved a put at 0.60 to 0.87 of the
    /// raw payload rate where 8 moved it at 0.45 to 0.62 (docs/performance.md). Against the
    /// single-process development zaqar-server over one connection (<c>MaxConnections = 1</c>) use 8:
    /// 16 large posts queued on its one connection broke one of them in the bench.
    /// </summary>
    public const int DefaultWindow = 16;

    /// <summary>Tries per chunk when <see cref="MaxAttempts"/> is not given.</summary>
    public const int DefaultMaxAttempts = 5;

    /// <summary>Largest <see cref="Window"/>: more only queues more commands, it does not go faster.</summary>
    public const int MaxWindow = 64;

    /// <summary>Permission bits as 3 or 4 octal digits ("0644"); null leaves them to the agent.</summary>
    public string? Mode { get; init; }

    /// <summary>User to own the file; null leaves it to the agent.</summary>
    public string? Owner { get; init; }

    /// <summary>Group to own the file; null leaves it to the agent (the owner's group).</summary>
    public string? Group { get; init; }

    /// <summary>Whether an existing file at the path may be replaced (else the agent fails <c>exists</c>).</summary>
    public bool Overwrite { get; init; }

    /// <summary>
    /// Bytes per chunk (each chunk is one command, one message). The default is the most that
    /// fits one message, so a file takes as few commands as it can.
    /// </summary>
    public int ChunkBytes { get; init; } = ProtocolLimits.MaxChunkDataBytes();

    /// <summary>
    /// Chunk commands outstanding at once (1 .. <see cref="MaxWindow"/>). More than one hides the
    /// round trips through the queues of each chunk behind the others; the agent takes chunks in any order.
    /// </summary>
    public int Window { get; init; } = DefaultWindow;

    /// <summary>
    /// The transfer to send the chunks under. Null starts a new transfer. Given, the transfer is
    /// <b>resumed</b>: one chunk goes first to learn which chunks the agent already holds, and only the
    /// missing ones follow, so passing the id of an interrupted transfer of the same file sends only
    /// what is left (see <see cref="FileTransferIds.ForPut"/> for an id that is the same each time).
    /// </summary>
    public Guid? TransferId { get; init; }

    /// <summary>
    /// The lower-case hex SHA-256 of the source from its position to its end, when the caller has
    /// already computed it (e.g. to derive a <see cref="TransferId"/>): it saves reading the source
    /// twice. Null: the client hashes the source first. A wrong value makes the agent refuse the
    /// assembled file with <c>checksum_mismatch</c>.
    /// </summary>
    public string? Sha256 { get; init; }

    /// <summary>
    /// Told how far the transfer is after the source was hashed and after each chunk answered; reports
    /// come one at a time and in order, from the transfer's own threads, so keep the handler short.
    /// </summary>
    public IProgress<FileTransferProgress>? Progress { get; init; }

    /// <summary>
    /// How long to wait for one chunk's answer before sending it again; null means the client's
    /// <see cref="GuestClientOptions.DefaultCallTimeout"/>. The chunk that completes the file is
    /// answered only after the agent has hashed the whole file, so leave room for that on big files.
    /// </summary>
    public TimeSpan? ChunkTimeout { get; init; }

    /// <summary>
    /// Sends per chunk before giving up, counting the first (a chunk is sent again when its answer does
    /// not come in time, or says the agent was <c>interrupted</c>). Re-sending is safe: a chunk the agent
    /// already holds is answered with the progress and not written again.
    /// </summary>
    public int MaxAttempts { get; init; } = DefaultMaxAttempts;
}

/// <summary>
/// How <see cref="GuestClient.GetFileAsync(string, Stream, FileGetOptions?, CancellationToken)"/>
/// reads a file.
/// </summary>
public sealed record FileGetOptions
{
    /// <summary>Reads per file before giving up when <see cref="MaxAttempts"/> is not given.</summary>
    public const int DefaultMaxAttempts = 3;

    /// <summary>
    /// Continue from bytes already held. With a stream, its current contents (0 .. its length) are taken
    /// as the first bytes of the file and only the rest is asked for (file.get <c>offset</c>); with a local
    /// path, the contents of <c>PATH.part</c> are, when it exists. Either way the whole file's SHA-256 is
    /// checked over the bytes held before plus the new ones.
    /// </summary>
    public bool Resume { get; init; }

    /// <summary>With a local path: whether an existing file at that path may be replaced.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Told as chunks arrive and once at the end; reports come one at a time and in order.</summary>
    public IProgress<FileTransferProgress>? Progress { get; init; }

    /// <summary>
    /// How long the read may go without any reply before it is given up (null: the client's
    /// <see cref="GuestClientOptions.DefaultCallTimeout"/>). A limit on silence rather than on the whole
    /// read, so that a big file is not cut off while its chunks keep coming; the agent copies the whole
    /// file before its first chunk, so leave room for that on big files.
    /// </summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>Reads before giving up, counting the first (a read is made again when the agent answers <c>interrupted</c>).</summary>
    public int MaxAttempts { get; init; } = DefaultMaxAttempts;
}
