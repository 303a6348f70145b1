using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Ledger;

public static class CommandLedgerProtocol
{
    /// <summary>From the poller: a valid command claimed from Zaqar under <paramref name="MessageId"/>.</summary>
    public sealed record Offer(Command Command, string CommandJson, string MessageId);

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
    }

    /// <summary>From the outbox: the command's final reply is in Zaqar.</summary>
    public sealed record FinalReplyDelivered(Guid CommandId);

    /// <summary>To an operation actor: stop the run (a cancel command).</summary>
    public sealed record CancelOperation(Guid ByCommand);

    /// <summary>Test and diagnostics: the ledger's counts.</summary>
    public sealed record GetCounts;

    public sealed record Counts(int Live, int Seen, int Running, int Waiting);
}
