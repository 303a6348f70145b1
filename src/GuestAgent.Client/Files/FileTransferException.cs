using GuestAgent.Protocol;

namespace GuestAgent.Client.Files;

/// <summary>
/// <c>error.code</c>s a file transfer can end with that this side detects itself. The agent's
/// (from a <c>failed</c> or <c>rejected</c> reply) are in <see cref="FileErrorCodes"/>; the agent
/// may add others.
/// </summary>
public static class FileTransferErrors
{
    /// <summary>
    /// This side's: the data does not verify: a chunk is missing, corrupt or inconsistent, a length
    /// differs, or the agent's SHA-256 of the result is not the one of the bytes sent or received.
    /// </summary>
    public const string VerificationFailed = "verification_failed";

    /// <summary>
    /// This side's: a resumed read's new bytes, after the bytes already held, do not hash to the file's
    /// SHA-256: the guest file changed since the earlier read, or the partial copy is not of it.
    /// </summary>
    public const string ResumeMismatch = "resume_mismatch";

    /// <summary>This side's: every attempt of a chunk or read ended <c>interrupted</c> (the agent kept stopping).</summary>
    public const string Interrupted = "interrupted";

    /// <summary>This side's: every attempt of a chunk or read went unanswered within its timeout.</summary>
    public const string TimedOut = "timed_out";

    /// <summary>This side's: the command was cancelled on the agent (a <c>cancel</c> from someone).</summary>
    public const string Cancelled = "cancelled";

    /// <summary>This side's: rounds of chunks stopped making the agent hold more of the file.</summary>
    public const string Stalled = "stalled";
}

/// <summary>
/// A file transfer did not complete: the agent refused or failed it (<see cref="Code"/> is its
/// <c>error.code</c>, e.g. <c>exists</c>, <c>forbidden_path</c>; <see cref="Status"/> its reply status), or
/// this side found the data wrong or got no answer (<see cref="Code"/> one of the client codes in
/// <see cref="FileTransferErrors"/>). Nothing more is sent after it.
/// </summary>
public sealed class FileTransferException : GuestClientException
{
    public FileTransferException(
        string op, string code, string errorMessage, string guestPath, Guid? transferId = null, int? chunkIndex = null,
        Reply? reply = null, Guid? commandId = null, Exception? inner = null)
        : base(Format(op, code, errorMessage, guestPath, transferId, chunkIndex, reply), commandId, op, inner)
    {
        Code = code;
        ErrorMessage = errorMessage;
        GuestPath = guestPath;
        TransferId = transferId;
        ChunkIndex = chunkIndex;
        Reply = reply;
    }

    /// <summary>The agent's <c>error.code</c>, or one of this side's in <see cref="FileTransferErrors"/>.</summary>
    public string Code { get; }

    /// <summary>The agent's <c>error.message</c>, or this side's explanation.</summary>
    public string ErrorMessage { get; }

    public string GuestPath { get; }

    /// <summary>The put's transfer id (null for a get).</summary>
    public Guid? TransferId { get; }

    /// <summary>The put chunk whose answer ended the transfer, when one did.</summary>
    public int? ChunkIndex { get; }

    /// <summary>The agent's reply that ended the transfer, when one did.</summary>
    public Reply? Reply { get; }

    /// <summary>The status of <see cref="Reply"/> (e.g. failed, rejected), or null when this side gave up.</summary>
    public ReplyStatus? Status => Reply?.Status;

    /// <summary>Whether the agent refused the command outright (e.g. <c>forbidden</c>: it does not allow the op).</summary>
    public bool Rejected => Reply?.Status == ReplyStatus.Rejected;

    /// <summary>Whether the data did not verify (this side's or the agent's checksum check).</summary>
    public bool IsVerificationFailure => Code is FileTransferErrors.VerificationFailed or FileTransferErrors.ResumeMismatch
        or FileErrorCodes.ChecksumMismatch;

    /// <summary>The exception for a chunk or read whose final reply is not <c>succeeded</c>.</summary>
    internal static FileTransferException FromReply(
        string op, Guid commandId, Reply final, string guestPath, Guid? transferId = null, int? chunkIndex = null)
    {
        var code = final.Error?.Code ?? final.Status switch
        {
            ReplyStatus.TimedOut => FileTransferErrors.TimedOut,
            ReplyStatus.Cancelled => FileTransferErrors.Cancelled,
            ReplyStatus.Interrupted => FileTransferErrors.Interrupted,
            _ => "failed",
        };
        var message = final.Error?.Message ?? $"the command ended {GuestCallFailedException.Wire(final.Status)}";
        if (final.Status == ReplyStatus.Rejected)
        {
            message = $"rejected by agent '{final.Agent}': {message}" +
                      (code == RejectCodes.Forbidden ? " (does the agent allow this op? see ping's capabilities)" : "");
        }
        return new FileTransferException(op, code, message, guestPath, transferId, chunkIndex, final, commandId);
    }

    private static string Format(string op, string code, string message, string path, Guid? transferId, int? chunk, Reply? reply)
    {
        var where = chunk is { } c ? $" (chunk {c}{(transferId is { } t ? $" of transfer {t}" : "")})"
            : transferId is { } id ? $" (transfer {id})" : "";
        var by = reply is null ? "" : $" [{GuestCallFailedException.Wire(reply.Status)}]";
        return $"{op} {path}{where}: {code}{by}: {message}";
    }
}
