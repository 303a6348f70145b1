using System.Text;
using System.Text.Json;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Client;

/// <summary>
/// The outcome of a call: its final reply, every reply it got (in seq order, duplicates dropped)
/// and, for exec, the whole stdout and stderr (for http, the whole response body; for file.get,
/// the file's bytes) (inline part and chunks, verified against their length and SHA-256). A <c>rejected</c> or <c>failed</c> command is a result too: check
/// <see cref="Succeeded"/> or call <see cref="EnsureSucceeded"/>.
/// </summary>
public sealed class CallResult
{
    private CallResult(Guid commandId, string op, IReadOnlyList<Reply> replies, ExecResult? exec,
        byte[] stdout, byte[] stderr, bool stdoutTruncated, bool stderrTruncated,
        HttpResult? http = null, byte[]? body = null, bool bodyTruncated = false,
        FileGetResult? file = null, byte[]? fileData = null, bool fileDataTruncated = false)
    {
        File = file;
        FileData = fileData ?? [];
        FileDataTruncated = fileDataTruncated;
        Http = http;
        Body = body ?? [];
        BodyTruncated = bodyTruncated;
        CommandId = commandId;
        Op = op;
        Replies = replies;
        Final = replies[^1];
        Exec = exec;
        Stdout = stdout;
        Stderr = stderr;
        StdoutTruncated = stdoutTruncated;
        StderrTruncated = stderrTruncated;
    }

    public Guid CommandId { get; }
    public string Op { get; }

    /// <summary>The last reply (the one with <see cref="Reply.Final"/>).</summary>
    public Reply Final { get; }

    /// <summary>All replies of the command, seq 0 .. <see cref="Final"/>'s seq.</summary>
    public IReadOnlyList<Reply> Replies { get; }

    public ReplyStatus Status => Final.Status;

    public bool Succeeded => Final.Status == ReplyStatus.Succeeded;

    public bool Rejected => Final.Status == ReplyStatus.Rejected;

    public ReplyError? Error => Final.Error;

    /// <summary>The exec result, when the op is exec and the final reply has one (a program that could not start has none).</summary>
    public ExecResult? Exec { get; }

    /// <summary>The http result, when the op is http and the request was carried out (any HTTP status).</summary>
    public HttpResult? Http { get; }

    /// <summary>The whole http response body (inline part and chunks, verified); empty when there is none.</summary>
    public byte[] Body { get; }

    /// <summary>Like <see cref="StdoutTruncated"/>, for the http response body.</summary>
    public bool BodyTruncated { get; }

    /// <summary>
    /// The file.get result, when the op is file.get and the file was read (in replies: a read with an
    /// <c>upload_url</c> has another result, see <see cref="ResultAs{T}"/>).
    /// </summary>
    public FileGetResult? File { get; }

    /// <summary>
    /// The bytes a file.get read (from its offset on: inline part and chunks of stream "file",
    /// verified against the stream's length and SHA-256); empty when there are none. The whole
    /// file's SHA-256 is <see cref="FileGetResult.Sha256"/>, checked by <see cref="GuestClient.GetFileAsync(string, Stream, Files.FileGetOptions?, CancellationToken)"/>.
    /// </summary>
    public byte[] FileData { get; }

    /// <summary>Like <see cref="StdoutTruncated"/>, for the bytes of a file.get.</summary>
    public bool FileDataTruncated { get; }

    /// <summary>The remote process's exit status; null when it did not run or was killed by a signal.</summary>
    public int? ExitCode => Exec?.ExitCode;

    /// <summary>The signal that killed the remote process, e.g. "SIGKILL".</summary>
    public string? Signal => Exec?.Signal;

    /// <summary>The whole of stdout (empty when there is none).</summary>
    public byte[] Stdout { get; }

    public byte[] Stderr { get; }

    /// <summary>Stdout as UTF-8 text (invalid sequences become U+FFFD).</summary>
    public string StdoutText => Encoding.UTF8.GetString(Stdout);

    public string StderrText => Encoding.UTF8.GetString(Stderr);

    /// <summary>
    /// True when the agent reported more stdout than it sent (bytes beyond the inline part and no
    /// chunks): <see cref="Stdout"/> is then only the first part, and could not be hash-checked.
    /// When chunks were announced they are always all there and verified, or the call throws.
    /// </summary>
    public bool StdoutTruncated { get; }

    public bool StderrTruncated { get; }

    /// <summary>The final reply's result as <typeparamref name="T"/>, or null when there is none.</summary>
    /// <exception cref="GuestProtocolException">The result does not have that shape.</exception>
    public T? ResultAs<T>() where T : class => ReadResult<T>(Final, CommandId, Op);

    /// <summary>
    /// The whole of an output stream that a result announces (any op's, e.g. a block's own
    /// <paramref name="stream"/>): its inline part and chunk replies, verified against the
    /// stream's SHA-256.
    /// </summary>
    /// <exception cref="GuestOutputException">A chunk is missing or the stream does not verify.</exception>
    public (byte[] Data, bool Truncated) ReadStream(string stream, StreamOutput output) =>
        Reassemble(CommandId, Op, Final, output, stream, Replies);

    /// <summary>Throws unless the command succeeded: <see cref="GuestRejectedException"/> or <see cref="GuestCallFailedException"/>.</summary>
    public CallResult EnsureSucceeded() => Succeeded ? this
        : throw (Rejected ? new GuestRejectedException(CommandId, Op, Final) : new GuestCallFailedException(CommandId, Op, Final));

    internal static T? ReadResult<T>(Reply reply, Guid id, string op) where T : class
    {
        try
        {
            return reply.ResultAs<T>();
        }
        catch (JsonException e)
        {
            throw new GuestProtocolException($"{op} command {id}: the result is not a valid {typeof(T).Name}: {e.Message}", id, op, e);
        }
    }

    /// <summary>Builds the result from a complete reply set (seq 0..n, the last final).</summary>
    /// <exception cref="GuestOutputException">Exec output is missing a chunk or does not verify.</exception>
    internal static CallResult Create(Guid commandId, string op, IReadOnlyList<Reply> replies)
    {
        if (replies.Count == 0 || !replies[^1].Final)
        {
            throw new ArgumentException("A call result needs the replies up to and including the final one.", nameof(replies));
        }
        var final = replies[^1];
        if (op == Ops.Http && final.Result is not null && final.Status != ReplyStatus.Rejected)
        {
            var http = ReadResult<HttpResult>(final, commandId, op)!;
            var (body, bodyTruncated) = Reassemble(commandId, op, final, http.Body, ChunkStreams.Body, replies);
            return new CallResult(commandId, op, replies, null, [], [], false, false, http, body, bodyTruncated);
        }
        // Only a read answered in replies has "data"; one sent to an upload_url has another result.
        if (op == Ops.FileGet && final.Result is { ValueKind: JsonValueKind.Object } fr && fr.TryGetProperty("data", out _)
            && final.Status != ReplyStatus.Rejected)
        {
            var file = ReadResult<FileGetResult>(final, commandId, op)!;
            var (data, dataTruncated) = Reassemble(commandId, op, final, file.Data, ChunkStreams.File, replies);
            return new CallResult(commandId, op, replies, null, [], [], false, false, file: file, fileData: data, fileDataTruncated: dataTruncated);
        }
        ExecResult? exec = null;
        if (op == Ops.Exec && final.Result is not null && final.Status != ReplyStatus.Rejected)
        {
            exec = ReadResult<ExecResult>(final, commandId, op);
        }
        if (exec is null)
        {
            return new CallResult(commandId, op, replies, null, [], [], false, false);
        }
        var (stdout, outTruncated) = Reassemble(commandId, op, final, exec.Stdout, ChunkStreams.Stdout, replies);
        var (stderr, errTruncated) = Reassemble(commandId, op, final, exec.Stderr, ChunkStreams.Stderr, replies);
        return new CallResult(commandId, op, replies, exec, stdout, stderr, outTruncated, errTruncated);
    }

    private static (byte[] Data, bool Truncated) Reassemble(Guid id, string op, Reply final, StreamOutput output, string stream, IReadOnlyList<Reply> replies)
    {
        ChunkAssembler assembler;
        try
        {
            assembler = ChunkAssembler.For(output);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new GuestOutputException(id, stream, new ChunkError(ChunkErrorKind.InvalidChunk, $"The inline part or chunk count is invalid: {e.Message}"), final, op);
        }
        foreach (var reply in replies)
        {
            if (reply.Chunk is { } chunk && chunk.Stream == stream)
            {
                var added = assembler.Add(chunk);
                if (added.Status == ChunkAddStatus.Rejected)
                {
                    throw new GuestOutputException(id, stream, added.Error!, final, op);
                }
            }
        }
        if (output.Chunks == 0 && output.Truncated)
        {
            // The agent kept only the inline part and says so; nothing is missing that was sent.
            return (output.DecodeInline(), true);
        }
        var whole = assembler.Assemble();
        return whole.IsSuccess ? (whole.Data, false) : throw new GuestOutputException(id, stream, whole.Error, final, op);
    }
}
