using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Protocol.Signing;

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
        int repliesSeen, Reply? final, IReadOnlyList<long> missingSeqs, int unverifiedReplies = 0, string? lastUnverifiedReason = null)
        : base(Format(commandId, op, commandQueue, replyQueue, waited, acceptedSeen, repliesSeen, final, missingSeqs,
            unverifiedReplies, lastUnverifiedReason), commandId, op)
    {
        UnverifiedReplies = unverifiedReplies;
        LastUnverifiedReason = lastUnverifiedReason;
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

    /// <summary>
    /// Replies for the command that did not verify under <see cref="GuestClientOptions.SigningKeys"/> and
    /// were dropped (forged, or the agent signs with other keys); not counted in <see cref="RepliesSeen"/>.
    /// </summary>
    public int UnverifiedReplies { get; }

    /// <summary>Why the last of them was dropped.</summary>
    public string? LastUnverifiedReason { get; }

    private static string Format(
        Guid id, string op, string commandQueue, string replyQueue, TimeSpan waited, bool accepted, int seen,
        Reply? final, IReadOnlyList<long> missing, int unverified, string? lastUnverified)
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
                : unverified > 0
                    ? "no verified reply was seen"
                    : "no 'accepted' reply (no reply at all) was seen. Is an agent consuming that queue";
        var end = accepted || seen > 0 || unverified > 0 ? "." : "?";
        // Without this, replies dropped for their signature would look like no agent at all.
        var dropped = unverified > 0
            ? $" {unverified} reply(ies) for it did not verify under this client's signing keys and were dropped " +
              $"(last: {Untrusted.Printable(lastUnverified)}): does the agent hold the same keys?"
            : "";
        return $"{head}: no final reply after waiting {secs}; {state}{end}{dropped}";
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

/// <summary>
/// No verified reply came for the command, but an unverified one did: a <c>rejected</c> reply whose
/// code (<see cref="RejectCodes.BadSignature"/>, <see cref="RejectCodes.UnknownKey"/> or
/// <see cref="RejectCodes.Unsigned"/>) says the agent refused the command's signature. An agent
/// answers so, unsigned, because it cannot tell who sent the command; this client cannot trust the
/// answer either, so it is a diagnosis, not a result: the key this client signs with
/// (<see cref="KeyId"/>) most likely does not match the agent's tenant binding. Raised as soon as
/// that reply arrives, instead of a <see cref="GuestTimeoutException"/> at the end of the wait.
/// </summary>
public sealed class GuestSigningMismatchException : GuestClientException
{
    public GuestSigningMismatchException(Guid commandId, string op, string keyId, Reply unverifiedReply, SignatureCheck check)
        : base(Format(commandId, op, keyId, unverifiedReply, check), commandId, op)
    {
        KeyId = keyId;
        UnverifiedReply = unverifiedReply;
        SignatureStatus = check.Status;
        Code = unverifiedReply.Error?.Code ?? "";
        ClaimedMessage = unverifiedReply.Error?.Message ?? "";
    }

    /// <summary>The id of the key this client signed the command with.</summary>
    public string KeyId { get; }

    /// <summary>The reply as it came; anyone who can post to the reply queue could have written it.</summary>
    public Reply UnverifiedReply { get; }

    /// <summary>Why the reply itself did not verify (normally <see cref="Protocol.Signing.SignatureStatus.Unsigned"/>).</summary>
    public SignatureStatus SignatureStatus { get; }

    /// <summary>The reject code the reply claims.</summary>
    public string Code { get; }

    /// <summary>The agent's explanation, as the reply claims it.</summary>
    public string ClaimedMessage { get; }

    /// <summary>Reject codes that mean "the agent did not accept this command's signature".</summary>
    internal static bool IsSigningCode(string? code) =>
        code is RejectCodes.BadSignature or RejectCodes.UnknownKey or RejectCodes.Unsigned;

    private static string Format(Guid id, string op, string keyId, Reply reply, SignatureCheck check)
    {
        var code = Untrusted.Printable(reply.Error?.Code, 64);
        var kid = Untrusted.Printable(keyId, 64);
        var how = check.Status == SignatureStatus.Unsigned ? "an UNSIGNED" : $"an unverifiable ({check.Status})";
        var likely = reply.Error?.Code switch
        {
            RejectCodes.UnknownKey => $"the binding has no key with id '{kid}'",
            RejectCodes.Unsigned => "the command reached the agent without its signature",
            _ => $"the binding's secret for key '{kid}' differs from this client's",
        };
        return $"{op} command {id}: {how} rejection claiming \"{code}: {Untrusted.Printable(reply.Error?.Message)}\" came for this " +
               $"command id (from agent '{Untrusted.Printable(reply.Agent, 64)}'). It cannot be trusted, so this is a diagnosis, not " +
               $"the agent's answer: the signing key this client uses (key id '{kid}') probably does not match the agent's binding; {likely}.";
    }
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
