using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;

namespace GuestAgent.Agent.Ledger;

/// <summary>Where a command is in its life.</summary>
public enum CommandPhase
{
    Accepted,
    Started,
    Finished,
}

/// <summary>A command the ledger still has work for (run it, or get its final reply out).</summary>
public sealed class CommandEntry(Command command, string commandJson, DateTimeOffset acceptedAt, bool dataOmitted = false)
{
    public Command Command { get; } = command;

    /// <summary>As journaled (for a file.put chunk, without its bytes).</summary>
    public string CommandJson { get; } = commandJson;

    /// <summary>
    /// A file.put chunk journaled without its bytes: read back from the journal, its command holds
    /// placeholder bytes and must not run (the live one, accepted from the queue, has them).
    /// </summary>
    public bool DataOmitted { get; } = dataOmitted;
    public DateTimeOffset AcceptedAt { get; } = acceptedAt;
    public CommandPhase Phase { get; set; } = CommandPhase.Accepted;
    public int Attempt { get; set; }
    public OutcomeV1? Outcome { get; set; }

    /// <summary>The cancel command that asked for this run to stop, if one did.</summary>
    public Guid? CancelRequestedBy { get; set; }

    public CommandEntryV1 ToSnapshot() => new(Command.Id, CommandJson, Phase.ToString(), Attempt, Outcome, AcceptedAt, CancelRequestedBy, DataOmitted);
}

/// <summary>
/// The ledger's state, changed only by applying persisted events (so recovery and live
/// operation go through the same code).
/// </summary>
public sealed class LedgerState(IOpCatalog? ops = null)
{
    /// <summary>The ops accepted commands are read back with: the agent's block registry (the standard ops in tests).</summary>
    private readonly IOpCatalog _ops = ops ?? OpCatalog.Standard;

    public Dictionary<Guid, CommandEntry> Commands { get; } = [];
    public Dictionary<Guid, SeenV1> Seen { get; } = [];
    public FileTransfers Transfers { get; } = new();

    public bool Knows(Guid id) => Commands.ContainsKey(id) || Seen.ContainsKey(id);

    public void Apply(ILedgerEvent e) => Apply(e, accepted: null);

    /// <param name="accepted">
    /// The command an accepted event records, as the ledger parsed it from the queue (live); null
    /// reads it back from the event's JSON (recovery).
    /// </param>
    public void Apply(ILedgerEvent e, Command? accepted)
    {
        switch (e)
        {
            case ITransferEvent t:
                Transfers.Apply(t);
                break;
            case CommandAcceptedV1 a:
                Accept(a.CommandId, a.CommandJson, a.At, accepted, dataOmitted: false);
                break;
            case ChunkCommandAcceptedV1 c:
                Accept(c.CommandId, c.CommandJson, c.At, accepted, dataOmitted: true);
                break;
            case CommandRejectedV1 r:
                Seen[r.CommandId] = new SeenV1(r.At, "rejected");
                break;
            case CommandStartedV1 s when Commands.TryGetValue(s.CommandId, out var started):
                started.Phase = CommandPhase.Started;
                started.Attempt = s.Attempt;
                break;
            case CommandCancelRequestedV1 c when Commands.TryGetValue(c.CommandId, out var cancelled):
                cancelled.CancelRequestedBy = c.By;
                break;
            case IOutcomeEvent finished when Commands.TryGetValue(finished.CommandId, out var entry):
                entry.Phase = CommandPhase.Finished;
                entry.Outcome = finished.Outcome;
                break;
            case CommandRepliedV1 r when Commands.Remove(r.CommandId, out var done):
                Seen[r.CommandId] = new SeenV1(r.At, done.Outcome?.Status ?? "succeeded", done.Attempt);
                break;
        }
    }

    private void Accept(Guid id, string json, DateTimeOffset at, Command? accepted, bool dataOmitted)
    {
        if (accepted is null)
        {
            var text = dataOmitted ? ChunkJournal.WithPlaceholderData(json) : json;
            // It parsed when accepted; parsing again at the acceptance time only fails if the
            // protocol library stopped accepting what it once did, which must not lose the entry.
            accepted = CommandParser.Parse(System.Text.Encoding.UTF8.GetBytes(text), at, null, signing: null, _ops).Command;
        }
        if (accepted is not null)
        {
            Commands[id] = new CommandEntry(accepted, json, at, dataOmitted);
        }
        else
        {
            Seen[id] = new SeenV1(at, "rejected");
        }
    }

    /// <summary>Forgets ids older than the dedup window.</summary>
    public int Prune(DateTimeOffset now, TimeSpan window)
    {
        var old = Seen.Where(kv => now - kv.Value.At > window).Select(kv => kv.Key).ToList();
        foreach (var id in old)
        {
            Seen.Remove(id);
        }
        Transfers.Prune(now, window);
        return old.Count;
    }

    public LedgerSnapshotV1 ToSnapshot() =>
        new(Commands.Values.Select(c => c.ToSnapshot()).ToList(), new Dictionary<Guid, SeenV1>(Seen), Transfers.ToSnapshot());

    public void Restore(LedgerSnapshotV1 snapshot)
    {
        Commands.Clear();
        Seen.Clear();
        Transfers.Restore(snapshot.Transfers);
        foreach (var (id, seen) in snapshot.Seen)
        {
            Seen[id] = seen;
        }
        foreach (var c in snapshot.Commands)
        {
            Apply(c.DataOmitted
                ? new ChunkCommandAcceptedV1(c.CommandId, c.CommandJson, null, c.AcceptedAt)
                : new CommandAcceptedV1(c.CommandId, c.CommandJson, null, c.AcceptedAt));
            if (Commands.TryGetValue(c.CommandId, out var entry))
            {
                entry.Phase = Enum.Parse<CommandPhase>(c.Phase);
                entry.Attempt = c.Attempt;
                entry.Outcome = c.Outcome;
                entry.CancelRequestedBy = c.CancelRequestedBy;
            }
        }
    }
}
