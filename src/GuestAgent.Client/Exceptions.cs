using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Client;

/// <summary>Base of the errors <see cref="GuestClient"/> raises about a command.</summary>
public class GuestClientException : Exception
{
    public GuestClientException(string message, Guid? commandId = null, string? op = null, Exception? inner = null)
        : base(message, inner)
    {
        CommandId = commandId;
        Op = op;
    }

    /// <summary>The command concerned, when there is one.</summary>
    public Guid? CommandId { get; }

    public string? Op { get; }
}

/// <summary>
/// No final reply within the wait. <see cref="AcceptedSeen"/> tells whether the agent had confirmed
/// the command (then it may still be running: ask with <see cref="GuestClient.StatusAsync"/>).
/// </summary>
public sealed class GuestTimeoutException : GuestClientException
{
    public GuestTimeoutException(
        Guid commandId, string op, string commandQueue, string replyQueue, TimeSpan waited, bool acceptedSeen,
        int repliesSeen, Reply? final, IReadOnlyList<long> missingSeqs)
        : base(Format(commandId, op, commandQueue, replyQueue, waited, acceptedSeen, repliesSeen, final, missingSeqs), commandId, op)
    {
        CommandQueue = commandQueue;
        ReplyQueue = replyQueue;
        Waited = waited;
        AcceptedSeen = acceptedSeen;
        RepliesSeen = repliesSeen;
        Final = final;
        MissingSeqs = missingSeqs;
    }

    public string CommandQueue { get; }
    public string ReplyQueue { get; }
    public TimeSpan Waited { get; }

    /// <summary>Whether an <c>accepted</c> reply arrived.</summary>
    public bool AcceptedSeen { get; }

    /// <summary>Distinct replies received for the command.</summary>
    public int RepliesSeen { get; }

    /// <summary>The final reply, when it arrived but earlier replies (<see cref="MissingSeqs"/>) did not.</summary>
    public Reply? Final { get; }

    /// <summary>Seqs below the final reply's that never arrived; empty unless <see cref="Final"/> is set.</summary>
    public IReadOnlyList<long> MissingSeqs { get; }

    private static string Format(
        Guid id, string op, string commandQueue, string replyQueue, TimeSpan waited, bool accepted, int seen,
        Reply? final, IReadOnlyList<long> missing)
    {
        var head = $"{op} command {id} sent to queue '{commandQueue}' (replies to '{replyQueue}')";
        var secs = $"{waited.TotalSeconds:0.#} s";
        if (final is not null)
        {
            return $"{head}: the final reply (seq {final.Seq}, {final.Status}) arrived, but replies with seq " +
                   $"{string.Join(", ", missing)} did not within {secs}; they may have been lost to their TTL.";
        }
        var state = accepted
            ? "an 'accepted' reply was seen, so the agent has the command and may still be running it (ask with status)"
            : seen > 0
                ? $"{seen} reply(ies) but no 'accepted' reply were seen"
                : "no 'accepted' reply (no reply at all) was seen. Is an agent consuming that queue";
        return $"{head}: no final reply after waiting {secs}; {state}" + (accepted || seen > 0 ? "." : "?");
    }
}

/// <summary>A command ended otherwise than <c>succeeded</c> where success was required.</summary>
public class GuestCallFailedException : GuestClientException
{
    public GuestCallFailedException(Guid commandId, string op, Reply reply)
        : this(commandId, op, reply,
            $"{op} command {commandId} ended {Wire(reply.Status)}" +
            (reply.Error is { } e ? $": {e.Code}: {e.Message}" : "."))
    {
    }

    protected GuestCallFailedException(Guid commandId, string op, Reply reply, string message)
        : base(message, commandId, op)
    {
        Reply = reply;
    }

    /// <summary>The reply that says so (the final one, or the rejection).</summary>
    public Reply Reply { get; }

    internal static string Wire(ReplyStatus status) => ProtocolJson.ToElement(status).GetString() ?? status.ToString();
}

/// <summary>The agent refused the command (<c>rejected</c>); <see cref="Code"/> is one of <see cref="RejectCodes"/>.</summary>
public sealed class GuestRejectedException : GuestCallFailedException
{
    public GuestRejectedException(Guid commandId, string op, Reply reply)
        : base(commandId, op, reply,
            $"{op} command {commandId} was rejected by agent '{reply.Agent}': {reply.Error?.Code ?? "?"}: {reply.Error?.Message ?? "(no message)"}")
    {
        Code = reply.Error?.Code ?? "";
        ErrorMessage = reply.Error?.Message ?? "";
    }

    public string Code { get; }
    public string ErrorMessage { get; }
}

/// <summary>A reply that breaks the protocol, e.g. a result of the wrong shape.</summary>
public class GuestProtocolException(string message, Guid? commandId = null, string? op = null, Exception? inner = null)
    : GuestClientException(message, commandId, op, inner);

/// <summary>
/// Output (exec's stdout/stderr, http's body, file.get's file) could not be put back together: a
/// chunk is missing, corrupt or inconsistent, or the whole does not match its length or SHA-256.
/// Output is never handed back truncated.
/// </summary>
public sealed class GuestOutputException(Guid commandId, string stream, ChunkError error, Reply final, string op = Ops.Exec)
    : GuestProtocolException($"{op} command {commandId}: {stream} cannot be reassembled ({error.Kind}): {error.Message}", commandId, op)
{
    public string Stream { get; } = stream;
    public ChunkError Error { get; } = error;

    /// <summary>The command's final reply (its status and exit code are still good to know).</summary>
    public Reply Final { get; } = final;
}
