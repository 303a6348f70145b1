using System.Text.Json.Serialization;

namespace GuestAgent.Agent.Ledger.Events;

// Persisted in the journal: these names and shapes are a storage format. Change one only by
// adding a new versioned type and keeping the old one readable.

/// <summary>Marker for everything the ledger persists about a command.</summary>
public interface ILedgerEvent
{
    Guid CommandId { get; }
}

/// <summary>An event that ends a command's run with its final outcome.</summary>
public interface IOutcomeEvent : ILedgerEvent
{
    OutcomeV1 Outcome { get; }
}

/// <summary>A spooled output stream: what the final reply's chunks are cut from.</summary>
public sealed record SpooledStreamV1(string Stream, string Path, long Bytes, int InlineBytes, string Sha256, int Chunks);

/// <summary>How a command ended: the final reply's status, result (JSON text) and error.</summary>
public sealed record OutcomeV1(string Status, string? ResultJson, string? ErrorCode, string? ErrorMessage, List<SpooledStreamV1> Spools);

/// <summary>The command was recorded; from here on the agent owns it and the Zaqar message can go.</summary>
public sealed record CommandAcceptedV1(Guid CommandId, string CommandJson, string? MessageId, DateTimeOffset At) : ILedgerEvent;

/// <summary>
/// A file.put chunk command was recorded without its chunk's bytes (<c>args.data_b64</c> cut from
/// <see cref="CommandJson"/>): they go to the transfer's temp file, not through the journal. Read
/// back, it cannot run again, so one found unfinished after a restart ends interrupted and the
/// controller sends the chunk again.
/// </summary>
public sealed record ChunkCommandAcceptedV1(Guid CommandId, string CommandJson, string? MessageId, DateTimeOffset At) : ILedgerEvent;

/// <summary>Refused before running (bad input, expired, op not allowed ...).</summary>
public sealed record CommandRejectedV1(Guid CommandId, string? ReplyTo, string Code, string Message, DateTimeOffset At) : ILedgerEvent;

/// <summary>A run began (attempt 1, or a rerun after an interruption).</summary>
public sealed record CommandStartedV1(Guid CommandId, int Attempt, DateTimeOffset At) : ILedgerEvent;

/// <summary>The run ended on its own (exit code known): succeeded or failed.</summary>
public sealed record CommandCompletedV1(Guid CommandId, OutcomeV1 Outcome, DateTimeOffset At) : IOutcomeEvent;

/// <summary>Stopped by a cancel command.</summary>
public sealed record CommandCancelledV1(Guid CommandId, OutcomeV1 Outcome, DateTimeOffset At) : IOutcomeEvent;

/// <summary>
/// A cancel command asked for a running command to be stopped (recorded before the run is told, so
/// that a crash before the run ends does not rerun a command whose cancel was acknowledged).
/// </summary>
public sealed record CommandCancelRequestedV1(Guid CommandId, Guid By, DateTimeOffset At) : ILedgerEvent;

/// <summary>Killed at its timeout.</summary>
public sealed record CommandTimedOutV1(Guid CommandId, OutcomeV1 Outcome, DateTimeOffset At) : IOutcomeEvent;

/// <summary>The agent stopped while it ran and it will not be rerun (on_interrupt = fail, or attempts used up).</summary>
public sealed record CommandInterruptedV1(Guid CommandId, OutcomeV1 Outcome, DateTimeOffset At) : IOutcomeEvent;

/// <summary>The final reply is in Zaqar.</summary>
public sealed record CommandRepliedV1(Guid CommandId, DateTimeOffset At) : ILedgerEvent;

/// <summary>
/// One command in a snapshot (<see cref="CancelRequestedBy"/> is null and <see cref="DataOmitted"/>
/// false in snapshots older than them). <see cref="DataOmitted"/>: a file.put chunk recorded without
/// its bytes, as <see cref="ChunkCommandAcceptedV1"/>; written only when true, so the entries of
/// other commands keep the shape they had.
/// </summary>
public sealed record CommandEntryV1(
    Guid CommandId, string CommandJson, string Phase, int Attempt, OutcomeV1? Outcome, DateTimeOffset AcceptedAt,
    Guid? CancelRequestedBy = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool DataOmitted = false);

/// <summary>
/// The ledger's whole state: commands not yet finished and replied, and the ids seen inside the
/// dedup window (with their final status), so the window survives snapshots, and the file.put
/// transfers under way or completed inside the window (null in snapshots older than file.put).
/// </summary>
public sealed record LedgerSnapshotV1(List<CommandEntryV1> Commands, Dictionary<Guid, SeenV1> Seen, List<TransferV1>? Transfers = null);

public sealed record SeenV1(DateTimeOffset At, string FinalStatus, int Attempt = 0);
