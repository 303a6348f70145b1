using Akka.Actor;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Operations.Files;
using GuestAgent.Protocol;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Ledger;

/// <summary>
/// The ledger's part in file.put: it is the one place that decides, per transfer, which chunk is
/// new, which is held already, and which operation verifies and renames the finished file. Chunk
/// operations run concurrently; asking the ledger serialises them and records each stored chunk
/// before its command is answered, so after a restart a transfer continues from what was stored.
/// Its events batch with the others (<see cref="PersistEvent{TEvent}"/>): a verdict is decided on
/// the state with every event decided so far, and told only once they are all written, so an
/// operation never acts on a transfer's state the journal does not hold yet.
/// </summary>
public sealed partial class CommandLedger : IWithTimers
{
    public ITimerScheduler Timers { get; set; } = null!;

    private void ReceiveTransfers()
    {
        Command<ChunkArriving>(HandleChunkArriving);
        Command<ChunkStored>(HandleChunkStored);
        Command<TransferInstalled>(HandleInstalled);
        Command<TransferFailed>(HandleTransferFailed);
        Command<SweepTransfers>(_ => SweepIdleTransfers());
    }

    private void StartTransferSweeps()
    {
        var every = TimeSpan.FromTicks(Math.Clamp(_ctx.Settings.TransferIdle.Ticks / 4, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute));
        Timers.StartPeriodicTimer("sweep-transfers", SweepTransfers.Instance, every);
    }

    private void HandleChunkArriving(ChunkArriving a)
    {
        var sender = Sender;
        var args = a.Args;
        var transfer = _state.Transfers.Find(args.TransferId);
        if (transfer is not null)
        {
            TellWhenWritten(sender, transfer.Opened.TargetPath != a.TargetPath
                ? Refuse(FileErrorCodes.TransferMismatch, $"{args.Path} now resolves to {a.TargetPath}, not {transfer.Opened.TargetPath} as when transfer {args.TransferId} began")
                : Decide(transfer, args, a.CommandId));
            return;
        }
        if (a.TargetExists && !args.Overwrite)
        {
            // Refused on the first chunk, before any data is kept.
            TellWhenWritten(sender, Refuse(FileErrorCodes.Exists, $"{args.Path} exists and overwrite is false"));
            return;
        }
        var opened = new TransferOpenedV1(a.CommandId, args.TransferId, args.Path, a.TargetPath, a.PartPath, args.Size, args.Sha256,
            args.ChunkBytes, args.Count, args.Mode, args.Owner, args.Group, args.Overwrite, Now);
        PersistEvent(opened, _ =>
        {
            Logger(a.CommandId).Information("file.put transfer {TransferId} began: {Path}, {Size} bytes in {Count} chunks",
                args.TransferId, args.Path, args.Size, args.Count);
            sender.Tell(new ChunkVerdict(ChunkAction.Write, _state.Transfers.Find(args.TransferId)?.Progress()));
        });
    }

    /// <summary>
    /// A verdict decided on the state as it is now (events applied but perhaps not written yet) is
    /// told once every event persisted so far is written: what the operation then does (write,
    /// install, answer) never rests on a record a crash could still lose.
    /// </summary>
    private void TellWhenWritten(IActorRef to, ChunkVerdict verdict) => AfterWrites(() => to.Tell(verdict));

    private static ChunkVerdict Refuse(string code, string message) => new(ChunkAction.Fail, null, code, message);

    private static ChunkVerdict Decide(TransferEntry transfer, FilePutArgs args, Guid commandId)
    {
        if (transfer.Disagreement(args) is { } field)
        {
            return Refuse(FileErrorCodes.TransferMismatch,
                $"this chunk's {field} differs from the one transfer {args.TransferId} began with; a transfer's chunks must all describe the same file");
        }
        if (transfer.Complete)
        {
            return new ChunkVerdict(ChunkAction.Answer, transfer.Progress());
        }
        return transfer.Received.Contains(args.Index) ? AfterStore(transfer, commandId) : new ChunkVerdict(ChunkAction.Write, transfer.Progress());
    }

    /// <summary>Once every chunk is held, the first operation to ask installs the file; the others just answer.</summary>
    private static ChunkVerdict AfterStore(TransferEntry transfer, Guid commandId)
    {
        if (transfer.AllHeld && transfer.InstalledBy is null && !transfer.Complete)
        {
            transfer.InstalledBy = commandId;
            return new ChunkVerdict(ChunkAction.Install, transfer.Progress());
        }
        return new ChunkVerdict(ChunkAction.Answer, transfer.Progress());
    }

    private void HandleChunkStored(ChunkStored s)
    {
        var sender = Sender;
        var transfer = _state.Transfers.Find(s.TransferId);
        if (transfer is null)
        {
            TellWhenWritten(sender, Refuse("transfer_discarded", $"transfer {s.TransferId} was dropped while this chunk was written; send the file again"));
            return;
        }
        if (transfer.Complete || transfer.Received.Contains(s.Index))
        {
            TellWhenWritten(sender, AfterStore(transfer, s.CommandId));
            return;
        }
        PersistEvent(new TransferChunkStoredV1(s.CommandId, s.TransferId, s.Index, Now), _ => { });
        // Decided with this chunk held (the one that completes the set installs), told once it is written.
        TellWhenWritten(sender, AfterStore(transfer, s.CommandId));
    }

    private void HandleInstalled(TransferInstalled i)
    {
        var sender = Sender;
        PersistEvent(new TransferCompletedV1(i.CommandId, i.TransferId, i.Bytes, i.Sha256, Now), _ =>
        {
            var transfer = _state.Transfers.Find(i.TransferId);
            Logger(i.CommandId).Information("file.put transfer {TransferId} complete: {Path}, {Bytes} bytes, sha256 {Sha256}",
                i.TransferId, transfer?.Opened.Path, i.Bytes, i.Sha256);
            sender.Tell(new ChunkVerdict(ChunkAction.Answer, transfer?.Progress()));
        });
    }

    private void HandleTransferFailed(TransferFailed f)
    {
        var sender = Sender;
        var transfer = _state.Transfers.Find(f.TransferId);
        if (transfer is not null)
        {
            FileInstaller.TryDelete(transfer.Opened.PartPath);
        }
        PersistEvent(new TransferDiscardedV1(f.CommandId, f.TransferId, $"{f.Code}: {f.Message}", Now), _ =>
        {
            Logger(f.CommandId).Warning("file.put transfer {TransferId} dropped ({Code}): {Reason}", f.TransferId, f.Code, f.Message);
            sender.Tell(new ChunkVerdict(ChunkAction.Answer, null));
        });
    }

    /// <summary>An operation that was to install a file ended without doing so: the next chunk to arrive may try again.</summary>
    private void ReleaseInstall(Guid commandId)
    {
        foreach (var t in _state.Transfers.All.Where(t => t.InstalledBy == commandId))
        {
            t.InstalledBy = null;
        }
    }

    private void SweepIdleTransfers()
    {
        var now = Now;
        var idle = _ctx.Settings.TransferIdle;
        foreach (var t in _state.Transfers.All.Where(t => !t.Complete && t.InstalledBy is null && now - t.LastProgressAt > idle).ToList())
        {
            FileInstaller.TryDelete(t.Opened.PartPath);
            PersistEvent(new TransferDiscardedV1(Guid.Empty, t.Id, $"no chunk for {idle}", now), _ =>
                _log.Warning("file.put transfer {TransferId} for {Path} dropped after {Idle} without a chunk ({Received} of {Count} held)",
                    t.Id, t.Opened.Path, idle, t.Received.Count, t.Opened.Count));
        }
    }
}
