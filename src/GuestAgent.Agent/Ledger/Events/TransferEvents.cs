namespace GuestAgent.Agent.Ledger.Events;

// Persisted in the journal, like LedgerEvents.cs: a storage format. file.put's chunked transfers
// are recorded here so that an agent restart keeps the chunks already received.

/// <summary>An event about one file.put transfer; <see cref="ILedgerEvent.CommandId"/> is the chunk command that caused it (empty for the agent's own sweeps).</summary>
public interface ITransferEvent : ILedgerEvent
{
    Guid TransferId { get; }
}

/// <summary>
/// The first chunk of a transfer arrived: the transfer's description, fixed from here on (every
/// later chunk must agree with it), and where its temp file is.
/// </summary>
public sealed record TransferOpenedV1(
    Guid CommandId, Guid TransferId, string Path, string TargetPath, string PartPath, long Size, string Sha256, int ChunkBytes, int Count,
    string? Mode, string? Owner, string? Group, bool Overwrite, DateTimeOffset At) : ITransferEvent;

/// <summary>A chunk's bytes are in the temp file and on disk.</summary>
public sealed record TransferChunkStoredV1(Guid CommandId, Guid TransferId, int Index, DateTimeOffset At) : ITransferEvent;

/// <summary>The file is verified and in place; later chunks of the transfer are answered with this.</summary>
public sealed record TransferCompletedV1(Guid CommandId, Guid TransferId, long Bytes, string Sha256, DateTimeOffset At) : ITransferEvent;

/// <summary>The transfer's chunks were dropped (checksum mismatch, idle too long ...); a later chunk starts it anew.</summary>
public sealed record TransferDiscardedV1(Guid CommandId, Guid TransferId, string Reason, DateTimeOffset At) : ITransferEvent;

/// <summary>One transfer in a snapshot; <see cref="Received"/> lists the held indexes as ranges ("0-41,43,50-99").</summary>
public sealed record TransferV1(
    TransferOpenedV1 Opened, string Received, DateTimeOffset LastProgressAt, long? Bytes = null, string? FinalSha256 = null,
    DateTimeOffset? CompletedAt = null);
