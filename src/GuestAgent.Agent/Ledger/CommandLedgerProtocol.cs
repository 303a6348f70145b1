using System.Text;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Ledger;

public static class CommandLedgerProtocol
{
    /// <summary>From the poller: a valid command claimed from Zaqar under <paramref name="MessageId"/>.</summary>
    /// <remarks><paramref name="CommandUtf8"/> is the command's JSON as it came (the message body's own bytes).</remarks>
    public sealed record Offer(Command Command, ReadOnlyMemory<byte> CommandUtf8, string MessageId)
    {
        public Offer(Command command, string commandJson, string messageId) : this(command, Encoding.UTF8.GetBytes(commandJson), messageId)
        {
        }

        /// <summary>The command's JSON as text, as the journal keeps it.</summary>
        public string CommandJson => Encoding.UTF8.GetString(CommandUtf8.Span);
    }

    /// <summary>From the poller: a message that did not parse (or is not allowed here).</summary>
    public sealed record OfferRejected(CommandRejection Rejection, string MessageId);

    /// <summary>To the poller: the message's fate is recorded; it may be deleted from Zaqar now.</summary>
    public sealed record Offered(string MessageId, OfferOutcome Outcome);

    public enum OfferOutcome
    {
        Accepted,
        Duplicate,
        Rejected,
    }

    /// <summary>From an operation actor: its run ended.</summary>
    public sealed record OperationFinished(Guid CommandId, int Attempt, OutcomeV1 Outcome, FinishKind Kind);

    public enum FinishKind
    {
        Completed,
        Cancelled,
        TimedOut,

        /// <summary>A reattached run vanished without a record of its end: the command's on_interrupt decides.</summary>
        Lost,
    }

    /// <summary>From the outbox: the command's final reply is in Zaqar.</summary>
    public sealed record FinalReplyDelivered(Guid CommandId);

    /// <summary>To an operation actor: stop the run (a cancel command).</summary>
    public sealed record CancelOperation(Guid ByCommand);

    /// <summary>
    /// From a file.put operation, before it writes: chunk <c>Args.Index</c> of a transfer is here.
    /// The ledger answers with a <see cref="ChunkVerdict"/> (recording the transfer first if it is new).
    /// </summary>
    public sealed record ChunkArriving(Guid CommandId, FilePutArgs Args, string TargetPath, string PartPath, bool TargetExists);

    /// <summary>From a file.put operation: the chunk is written and on disk. Answered with a <see cref="ChunkVerdict"/>.</summary>
    public sealed record ChunkStored(Guid CommandId, Guid TransferId, int Index);

    /// <summary>From the file.put operation told to <see cref="ChunkAction.Install"/>: the file is in place. Answered with a <see cref="ChunkVerdict"/>.</summary>
    public sealed record TransferInstalled(Guid CommandId, Guid TransferId, long Bytes, string Sha256);

    /// <summary>From the file.put operation told to <see cref="ChunkAction.Install"/>: the file could not be put in place; the transfer is dropped.</summary>
    public sealed record TransferFailed(Guid CommandId, Guid TransferId, string Code, string Message);

    public enum ChunkAction
    {
        /// <summary>Write the chunk, then report <see cref="ChunkStored"/>.</summary>
        Write,

        /// <summary>Nothing to write (held already, or the transfer is complete): answer with the progress.</summary>
        Answer,

        /// <summary>Every chunk is held and this operation is the one to verify and rename the file.</summary>
        Install,

        /// <summary>The chunk cannot be taken: fail the command with the code.</summary>
        Fail,
    }

    public sealed record ChunkVerdict(ChunkAction Action, FilePutResult? Progress, string? ErrorCode = null, string? Message = null);

    /// <summary>Timer: drop transfers idle for longer than the configured timeout.</summary>
    public sealed record SweepTransfers
    {
        public static readonly SweepTransfers Instance = new();
    }

    /// <summary>Timer: write the replied markers no other write took along.</summary>
    public sealed record WriteReplied
    {
        public static readonly WriteReplied Instance = new();
    }

    /// <summary>Test and diagnostics: the ledger's counts.</summary>
    public sealed record GetCounts;

    public sealed record Counts(int Live, int Seen, int Running, int Waiting);
}
