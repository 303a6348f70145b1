using System.Text.Json;
using Akka.Actor;
using Akka.Persistence;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Credentials;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Metrics;
using GuestAgent.Agent.Blocks;
using GuestAgent.Agent.Operations.Files;
using GuestAgent.Agent.Outbox;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Transport;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using Serilog;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Ledger;

/// <summary>What a ledger needs from its surroundings.</summary>
/// <param name="Platform">The guest's OS, for the operations' processes, files and accounts.</param>
public sealed record LedgerContext(
    AgentSettings Settings,
    TenantBinding Binding,
    OperationSlots GlobalSlots,
    OperationSlots TenantSlots,
    ReplyFactory Replies,
    GuestPlatform Platform,
    DateTimeOffset StartedAt,
    TimeProvider Time)
{
    /// <summary>
    /// The only reply queue the guest can post to, when its transport credentials reach no other
    /// (pre-signed URLs); null when it can post anywhere.
    /// </summary>
    public string? OnlyReplyQueue { get; init; }

    /// <summary>The guest's renewable transport credentials (the credentials op), when it has such.</summary>
    public ICredentialsRenewal? Credentials { get; init; }

    /// <summary>Where commands' final statuses and latencies are counted (the agent's; tests: their own).</summary>
    public AgentMetrics Metrics { get; init; } = new();

    /// <summary>How long a replied marker waits for another journal write to go with before it is written alone.</summary>
    public TimeSpan RepliedWriteDelay { get; init; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>
/// The source of truth for one tenant binding's commands. Every transition is persisted before
/// it is acted on: the transport's receiver acknowledges a message only after Accepted is written, a run
/// starts only after Started is written, and a finished command stays here until its final reply
/// is posted. On recovery, commands that were running follow their on_interrupt.
/// </summary>
public sealed partial class CommandLedger : ReceivePersistentActor
{
    private readonly LedgerContext _ctx;
    private readonly LedgerState _state;
    private readonly Queue<Guid> _waiting = new();
    private readonly Dictionary<Guid, IActorRef> _running = [];

    /// <summary>Commands holding a global slot while their Started event is written (not running yet).</summary>
    private readonly HashSet<Guid> _launching = [];
    private readonly IActorRef _outbox;
    private readonly ILogger _log;
    private int _eventsSinceSnapshot;

    public CommandLedger(LedgerContext ctx, IActorRef outbox)
    {
        _ctx = ctx;
        _state = new LedgerState(ctx.Settings.Blocks);
        _outbox = outbox;
        _log = Serilog.Log.ForContext("Tenant", ctx.Binding.Name).ForContext("SourceContext", "CommandLedger");
        PersistenceId = $"ledger-{ctx.Binding.Name}";

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is LedgerSnapshotV1 snapshot)
            {
                _state.Restore(snapshot);
            }
        });
        Recover<ILedgerEvent>(e => _state.Apply(e));
        Recover<RecoveryCompleted>(_ => OnRecovered());

        Command<Offer>(HandleOffer);
        Command<OfferRejected>(HandleRejected);
        Command<OperationFinished>(HandleFinished);
        Command<FinalReplyDelivered>(d =>
        {
            // Lost in a crash, a replied marker only means the final reply is posted once more at the
            // next start, which controllers drop as a duplicate. So it needs no transaction of its
            // own: it goes with the next write (the next command's Accepted, typically), or alone
            // after RepliedWriteDelay when nothing else is written.
            if (_repliedUnwritten.Add(d.CommandId) && !Timers.IsTimerActive(nameof(WriteReplied)))
            {
                Timers.StartSingleTimer(nameof(WriteReplied), WriteReplied.Instance, _ctx.RepliedWriteDelay);
            }
        });
        Command<WriteReplied>(_ => PersistReplied());
        Command<Terminated>(t =>
        {
            var lost = _running.FirstOrDefault(kv => kv.Value.Equals(t.ActorRef));
            if (lost.Value is not null)
            {
                // The operation actor crashed or stopped without reporting (a bug, not a process failure).
                var attempt = _state.Commands.GetValueOrDefault(lost.Key)?.Attempt ?? 1;
                Self.Tell(new OperationFinished(lost.Key, attempt, new OutcomeV1("failed", null, "internal_error",
                    $"attempt {attempt} crashed in the agent before it had a result (see the agent log); it is not run again", []), FinishKind.Completed));
            }
        });
        ReceiveTransfers();
        Command<GetCounts>(_ =>
        {
            // Counted once what was decided so far is written: a restart right after finds the same.
            var sender = Sender;
            PersistReplied();
            AfterWrites(() => sender.Tell(new Counts(_state.Commands.Count, _state.Seen.Count, _running.Count, _waiting.Count)));
        });
        Command<SaveSnapshotSuccess>(s =>
        {
            // The snapshot holds everything: older events and snapshots only cost recovery time.
            DeleteMessages(s.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "ledger snapshot failed; will try again later"));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning(f.Cause, "deleting old ledger events failed"));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "deleting old ledger snapshots failed"));
    }

    public override string PersistenceId { get; }

    /// <summary>
    /// An operation that throws is stopped, never restarted: a restart would run its command again
    /// under the same attempt number, behind the ledger's back, and forever if it throws every time.
    /// Its death ends the command failed (Terminated above); the ledger and its other runs go on.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    protected override void PreStart()
    {
        // This ledger is the tenant slots' only holder: after a restart, recovery takes them anew.
        _ctx.TenantSlots.Reset();
        base.PreStart();
    }

    protected override void PostStop()
    {
        // Running operations stop with the ledger (their processes are killed): give back their global slots.
        // So do the ones whose Started write was under way: a failed write stops the ledger before its
        // handler runs, and their slots would otherwise be lost to the agent until it restarts.
        foreach (var _ in _running.Keys.Concat(_launching))
        {
            _ctx.GlobalSlots.Release();
        }
        _running.Clear();
        _launching.Clear();
        // Until a new ledger has recovered, nothing may be claimed on these slots.
        _ctx.TenantSlots.Reset();
        base.PostStop();
    }

    public static Props Props(LedgerContext ctx, IActorRef outbox) => Akka.Actor.Props.Create(() => new CommandLedger(ctx, outbox));

    private DateTimeOffset Now => _ctx.Time.GetUtcNow();

    private ILogger Logger(Guid commandId) => _log.ForContext("CommandId", commandId);

    /// <summary>" (code: message)" for an outcome with an error, " (result ...)" for another that did not succeed, else "".</summary>
    private static string EndReason(OutcomeV1 o) =>
        o.ErrorCode is not null ? $" ({o.ErrorCode}: {o.ErrorMessage})"
        : o.Status != "succeeded" && o.ResultJson is { } result ? $" (result {(result.Length > 300 ? result[..300] + "..." : result)})"
        : "";

    private string ReplyQueue(Command c) => c.ReplyTo ?? _ctx.Binding.ReplyQueue;

    /// <summary>
    /// Where a rejection can be posted: the queue it names, except that a guest whose transport
    /// credentials reach one reply queue only (pre-signed URLs) can post only there.
    /// </summary>
    private string Answerable(string? replyTo) =>
        replyTo is null || (_ctx.OnlyReplyQueue is { } only && replyTo != only) ? _ctx.OnlyReplyQueue ?? _ctx.Binding.ReplyQueue : replyTo;

    private void HandleOffer(Offer offer)
    {
        var sender = Sender;
        var cmd = offer.Command;
        if (_state.Knows(cmd.Id))
        {
            // Only once what made it known is written: the message may be dropped then.
            AfterWrites(() =>
            {
                Logger(cmd.Id).Information("duplicate delivery of {Op} dropped (message {MessageId})", cmd.Op, offer.MessageId);
                sender.Tell(new Offered(offer.MessageId, OfferOutcome.Duplicate));
            });
            return;
        }
        (string Code, string Message, string ReplyTo)? refusal;
        try
        {
            refusal = Refusal(cmd);
        }
        catch (Exception e)
        {
            // A defect in a policy must cost this command, not the ledger: a restart would drop the
            // offer, the message would come back, and the same exception would stop the tenant again.
            _log.Error(e, "judging command {CommandId} ({Op}) failed", cmd.Id, cmd.Op);
            refusal = (RejectCodes.InternalError,
                $"the agent failed while judging this command ({e.GetType().Name}: {e.Message}); nothing ran", Answerable(cmd.ReplyTo));
        }
        if (refusal is { } r)
        {
            Reject(cmd.Id, cmd.Op, r.ReplyTo, r.Code, r.Message, offer.MessageId, sender, cmd.Signature?.KeyId);
            return;
        }
        _ctx.TenantSlots.ForceAcquire();
        // An operation that can start at once has its Started written in the same journal batch as
        // its Accepted: one write before the run starts, not two in a row.
        // Queries (ping, status, cancel) answer at once and take no global slot.
        var startNow = !Ops.IsQuery(cmd.Op) && _waiting.Count == 0 && _ctx.GlobalSlots.TryAcquire();
        // A chunk's bytes go to its transfer's temp file, not through the journal as well.
        ILedgerEvent accepted = cmd.Args is FilePutArgs && ChunkJournal.WithoutData(offer.CommandUtf8) is { } withoutData
            ? new ChunkCommandAcceptedV1(cmd.Id, withoutData, offer.MessageId, Now)
            : new CommandAcceptedV1(cmd.Id, offer.CommandJson, offer.MessageId, Now);
        PersistEvent(accepted, accepted: cmd, then: _ =>
        {
            Logger(cmd.Id).Information("accepted {Op} ({Mode}) from message {MessageId}", cmd.Op, cmd.Mode, offer.MessageId);
            sender.Tell(new Offered(offer.MessageId, OfferOutcome.Accepted));
            Send(cmd, [_ctx.Replies.Accepted(cmd.Id)], hasFinal: false);
        });
        if (startNow)
        {
            _launching.Add(cmd.Id);
            PersistEvent(new CommandStartedV1(cmd.Id, 1, Now), _ =>
            {
                _launching.Remove(cmd.Id);
                Launch(_state.Commands[cmd.Id], 1);
            });
        }
        else
        {
            // A query's answer joins the same journal batch as its Accepted.
            Dispatch(_state.Commands[cmd.Id]);
        }
    }

    /// <summary>Why the binding refuses <paramref name="cmd"/> (code, message, where to answer), or null when it may run.</summary>
    private (string Code, string Message, string ReplyTo)? Refusal(Command cmd)
    {
        if (!_ctx.Binding.AllowedOps.Contains(cmd.Op))
        {
            return (RejectCodes.Forbidden, $"op '{cmd.Op}' is not allowed for tenant {_ctx.Binding.Name}", Answerable(cmd.ReplyTo));
        }
        if (PolicyRefusal(cmd) is { } refusal)
        {
            return (RejectCodes.Forbidden, refusal, Answerable(cmd.ReplyTo));
        }
        if (_ctx.OnlyReplyQueue is { } only && cmd.ReplyTo is { } replyTo && replyTo != only)
        {
            return (RejectCodes.Forbidden,
                $"this guest can post replies to queue {only} only (its pre-signed URL covers no other); " +
                $"reply_to {replyTo} cannot be answered", only);
        }
        return null;
    }

    /// <summary>What the policy of the command's block says against <paramref name="cmd"/>, before it is accepted.</summary>
    private string? PolicyRefusal(Command cmd) =>
        _ctx.Settings.Blocks.BlockOf(cmd.Op) is { } block ? block.Refusal(AsBlockCommand(block, cmd, attempt: 0)) : null;

    private BlockCommand AsBlockCommand(OperationBlock block, Command cmd, int attempt) =>
        new(cmd.Id, cmd.Op, cmd.Args, attempt, _ctx.Binding.Name, _ctx.Binding.Policies.GetValueOrDefault(block.Name));

    private void HandleRejected(OfferRejected r)
    {
        var sender = Sender;
        var rej = r.Rejection;
        if (rej.CommandId is not { } id)
        {
            // Nothing to record it under and nowhere to answer: log it; the poller deletes it.
            _log.Warning("message {MessageId} rejected ({Code}): {Reason}; no command id, nothing runs", r.MessageId, rej.Code, rej.Message);
            CountRejected(UnknownOp);
            sender.Tell(new Offered(r.MessageId, OfferOutcome.Rejected));
            return;
        }
        if (_state.Knows(id))
        {
            AfterWrites(() => sender.Tell(new Offered(r.MessageId, OfferOutcome.Duplicate)));
            return;
        }
        if (!rej.IsAuthenticated && !_ctx.Binding.SigningPolicy.AllowUnsigned)
        {
            // Anyone who can post to the queue could have sent it: recording the id would let them
            // burn the id of a genuine command in flight (it would then be dropped as a duplicate).
            // The issuer still hears why, in an unsigned reply that carries no authority (a client
            // with keys drops it, and logs it); posting it gives an attacker nothing they cannot
            // do with their own access to the tenant's queues.
            Logger(id).Warning("rejected unauthenticated message {MessageId} ({Code}): {Reason}; not recorded", r.MessageId, rej.Code, rej.Message);
            CountRejected(UnknownOp);
            sender.Tell(new Offered(r.MessageId, OfferOutcome.Rejected));
            if (rej.ReplyTo is not null)
            {
                Send(id, Answerable(rej.ReplyTo), [_ctx.Replies.Rejected(id, rej.Code, rej.Message)], hasFinal: false, keyId: null);
            }
            return;
        }
        Reject(id, UnknownOp, rej.ReplyTo is null ? null : Answerable(rej.ReplyTo), rej.Code, rej.Message, r.MessageId, sender, rej.KeyId);
    }

    private void Reject(Guid id, string op, string? replyTo, string code, string message, string messageId, IActorRef sender, string? keyId)
    {
        PersistEvent(new CommandRejectedV1(id, replyTo, code, message, Now), _ =>
        {
            CountRejected(op);
            Logger(id).Warning("rejected ({Code}): {Reason}", code, message);
            sender.Tell(new Offered(messageId, OfferOutcome.Rejected));
            if (replyTo is not null)
            {
                Send(id, replyTo, [_ctx.Replies.Rejected(id, code, message)], hasFinal: false, keyId);
            }
        });
    }

    /// <summary>Queries answer at once; operations wait for a slot.</summary>
    private void Dispatch(CommandEntry entry)
    {
        switch (entry.Command.Args)
        {
            case PingArgs:
                FinishNow(entry, "succeeded", Json(new PingResult(AgentInfo.Version, (long)(Now - _ctx.StartedAt).TotalSeconds,
                    _ctx.Binding.AllowedOps.Order().ToList(), _ctx.Platform.Os.Description, _ctx.Platform.Os.HostName, _ctx.Settings.Name,
                    _ctx.Credentials?.ExpiresAt, _ctx.Metrics.Of(_ctx.Binding.Name))));
                break;
            case StatusArgs s:
                FinishNow(entry, "succeeded", Json(StatusOf(s.CommandId)));
                break;
            case CancelArgs c:
                Cancel(entry, c.CommandId);
                break;
            default:
                _waiting.Enqueue(entry.Command.Id);
                StartWaiting();
                break;
        }
    }

    private StatusResult StatusOf(Guid id)
    {
        if (_state.Commands.TryGetValue(id, out var e))
        {
            var state = e.Phase switch
            {
                CommandPhase.Accepted => CommandState.Accepted,
                CommandPhase.Started => CommandState.Started,
                _ => CommandState.Completed,
            };
            return new StatusResult(id, state, e.Attempt, e.Outcome is null ? null : ReplyFactory.ParseStatus(e.Outcome.Status));
        }
        if (_state.Seen.TryGetValue(id, out var seen))
        {
            var status = ReplyFactory.ParseStatus(seen.FinalStatus);
            return new StatusResult(id, status == ReplyStatus.Rejected ? CommandState.Rejected : CommandState.Replied, seen.Attempt, status);
        }
        return new StatusResult(id, CommandState.Unknown, 0);
    }

    private void Cancel(CommandEntry entry, Guid target)
    {
        var before = StatusOf(target);
        if (_running.ContainsKey(target) || _launching.Contains(target))
        {
            // Recorded first: if the agent dies before the run ends, recovery ends it cancelled
            // rather than rerunning what the controller was told is being cancelled. A run whose
            // Started is still being written is launched by then (its callback comes first).
            PersistEvent(new CommandCancelRequestedV1(target, entry.Command.Id, Now), _ =>
            {
                if (_running.TryGetValue(target, out var op))
                {
                    op.Tell(new CancelOperation(entry.Command.Id));
                }
            });
            FinishNow(entry, "succeeded", Json(before));
        }
        else if (_state.Commands.TryGetValue(target, out var waiting) && waiting.Phase == CommandPhase.Accepted)
        {
            // Not started yet: it never runs.
            var outcome = new OutcomeV1("cancelled", null, "cancelled", $"cancelled by {entry.Command.Id} before it started", []);
            PersistEvent(new CommandCancelledV1(target, outcome, Now), _ =>
            {
                _ctx.TenantSlots.Release();
                SendFinal(waiting);
            });
            FinishNow(entry, "succeeded", Json(StatusOf(target)));
        }
        else if (before.State == CommandState.Unknown)
        {
            FinishNow(entry, "failed", Json(before), "unknown_command", $"no command {target} is known to this agent");
        }
        else
        {
            FinishNow(entry, "succeeded", Json(before));
        }
    }

    private void FinishNow(CommandEntry entry, string status, string? resultJson, string? code = null, string? message = null)
    {
        var outcome = new OutcomeV1(status, resultJson, code, message, []);
        PersistEvent(new CommandCompletedV1(entry.Command.Id, outcome, Now), _ =>
        {
            _ctx.TenantSlots.Release();
            Logger(entry.Command.Id).Information("{Op} {Status}", entry.Command.Op, status);
            SendFinal(entry);
        });
    }

    private void StartWaiting()
    {
        while (_waiting.Count > 0 && _ctx.GlobalSlots.TryAcquire())
        {
            var id = _waiting.Dequeue();
            if (!_state.Commands.TryGetValue(id, out var entry) || entry.Phase == CommandPhase.Finished)
            {
                _ctx.GlobalSlots.Release();
                continue;
            }
            if (entry.Command.ExpiresAt is { } expires && expires < Now)
            {
                _ctx.GlobalSlots.Release();
                var outcome = new OutcomeV1("rejected", null, RejectCodes.Expired, $"expired at {expires:O} before a slot was free", []);
                PersistEvent(new CommandCompletedV1(id, outcome, Now), _ =>
                {
                    _ctx.TenantSlots.Release();
                    SendFinal(entry);
                });
                continue;
            }
            var attempt = entry.Attempt + 1;
            _launching.Add(id);
            PersistEvent(new CommandStartedV1(id, attempt, Now), _ =>
            {
                _launching.Remove(id);
                Launch(entry, attempt);
            });
        }
    }

    /// <summary>The block's view of attempt <paramref name="attempt"/> of the command.</summary>
    private BlockRun RunOf(OperationBlock block, Command cmd, int attempt) =>
        new(cmd.Id, cmd.Op, cmd.Args, attempt, _ctx.Binding.Name, _ctx.Binding.Policies.GetValueOrDefault(block.Name))
        {
            Output = new SpoolOutput(_ctx.Platform.Files, SpoolDirectory, cmd.Id, attempt),
            InlineCapBytes = _ctx.Settings.InlineOutputBytes,
            ChunkBytes = _ctx.Settings.ChunkBytes,
            Time = _ctx.Time,
            Services = new RunServices(new TransferDesk(Self)),
        };

    /// <param name="reattach">Follow the attempt an earlier agent started, which outlived it, instead of starting one.</param>
    private IActorRef Launch(CommandEntry entry, int attempt, bool reattach = false)
    {
        // A reattached run whose cancel was acknowledged before the agent stopped is ended at once.
        var id = entry.Command.Id;
        Directory.CreateDirectory(SpoolDirectory);
        var cmd = entry.Command;
        Props props;
        if (_ctx.Settings.Blocks.BlockOf(cmd.Op) is { } block)
        {
            var run = RunOf(block, cmd, attempt) with { CancelRequested = reattach && entry.CancelRequestedBy is not null };
            props = BlockOperation.Props(block, run, block.TimeLimit(run), reattach);
        }
        else if (cmd.Args is CredentialsArgs credentials)
        {
            props = CredentialsOperation.Props(id, attempt, credentials, _ctx.Binding, _ctx.Credentials);
        }
        else
        {
            throw new InvalidOperationException($"op '{cmd.Op}' has nothing to run it");
        }
        var op = Context.ActorOf(props, $"op-{id:N}");
        Context.Watch(op);
        _running[id] = op;
        Logger(id).Information(reattach ? "reattached to attempt {Attempt}, which outlived the agent" : "started attempt {Attempt}", attempt);
        return op;
    }

    private void HandleFinished(OperationFinished f)
    {
        if (!_running.Remove(f.CommandId, out var op))
        {
            return;
        }
        Context.Unwatch(op);
        _ctx.GlobalSlots.Release();
        ReleaseInstall(f.CommandId);
        if (f.Kind == FinishKind.Lost && _state.Commands.TryGetValue(f.CommandId, out var lost))
        {
            Logger(f.CommandId).Warning("attempt {Attempt} was lost: {Reason}", f.Attempt, f.Outcome.ErrorMessage);
            FollowOnInterrupt(lost, InterruptMeaning.MayHaveTakenEffect, holdsTenantSlot: true, f.Outcome.ErrorMessage ?? $"attempt {f.Attempt} was lost");
            StartWaiting();
            return;
        }
        ILedgerEvent e = f.Kind switch
        {
            FinishKind.Cancelled => new CommandCancelledV1(f.CommandId, f.Outcome, Now),
            FinishKind.TimedOut => new CommandTimedOutV1(f.CommandId, f.Outcome, Now),
            _ => new CommandCompletedV1(f.CommandId, f.Outcome, Now),
        };
        PersistEvent(e, _ =>
        {
            _ctx.TenantSlots.Release();
            // The reason too, so that a failure can be understood from the log alone.
            Logger(f.CommandId).Information("attempt {Attempt} ended: {Status}{Reason}", f.Attempt, f.Outcome.Status, EndReason(f.Outcome));
            if (_state.Commands.TryGetValue(f.CommandId, out var entry))
            {
                SendFinal(entry);
            }
        });
        StartWaiting();
    }

    /// <summary>
    /// The outbox reads the chunk replies from the spool itself, a few at a time: output of any size
    /// is never built in memory, and the ledger does no file IO for it.
    /// </summary>
    private void SendFinal(CommandEntry entry) =>
        _outbox.Tell(new OutboxProtocol.DeliverFinished(entry.Command.Id, ReplyQueue(entry.Command), entry.Outcome!,
            _ctx.Settings.ChunkBytes, entry.Command.Signature?.KeyId), Self);

    private string SpoolDirectory => Path.Combine(_ctx.Settings.StateDir, "spool", _ctx.Binding.Name);

    /// <summary>
    /// Once the final reply is posted, the command's spooled output (every attempt) has served its
    /// purpose. Deleted on the thread pool: unlinking gigabytes can take a while, and nothing waits for it.
    /// </summary>
    private void DeleteSpool(Guid id)
    {
        var directory = SpoolDirectory;
        var log = Logger(id);
        _ = Task.Run(() =>
        {
            try
            {
                if (!Directory.Exists(directory))
                {
                    return;
                }
                foreach (var file in Directory.EnumerateFiles(directory, $"{id:N}-*"))
                {
                    try
                    {
                        File.Delete(file);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        log.Warning("could not delete spool file {File}: {Error}", file, e.Message);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.Warning("could not list the spool directory {Directory}: {Error}", directory, e.Message);
            }
        });
    }

    /// <summary>Replies of a signed command are signed with its key (the command's own, or <paramref name="keyId"/>).</summary>
    private void Send(Guid id, string queue, IReadOnlyList<Reply> replies, bool hasFinal, string? keyId) =>
        _outbox.Tell(new OutboxProtocol.Deliver(id, queue, replies, hasFinal, keyId), Self);

    private void Send(Command command, IReadOnlyList<Reply> replies, bool hasFinal) =>
        Send(command.Id, ReplyQueue(command), replies, hasFinal, command.Signature?.KeyId);

    private void OnRecovered()
    {
        var now = Now;
        _state.Prune(now, _ctx.Settings.DedupWindow);
        foreach (var entry in _state.Commands.Values.OrderBy(e => e.AcceptedAt).ToList())
        {
            var id = entry.Command.Id;
            // The accepted reply may have been in the outbox when the agent stopped: post it again (same seq).
            Send(entry.Command, [_ctx.Replies.Accepted(id)], hasFinal: false);
            if (entry.DataOmitted && entry.Phase != CommandPhase.Finished)
            {
                EndChunkWithoutData(entry);
                continue;
            }
            switch (entry.Phase)
            {
                case CommandPhase.Accepted:
                    _ctx.TenantSlots.ForceAcquire();
                    Dispatch(entry);
                    break;
                case CommandPhase.Started:
                    var meaning = CleanUpInterrupted(entry);
                    if (meaning == InterruptMeaning.Reattachable)
                    {
                        // The run outlived the agent: follow it to its true end, under the slots it held.
                        _ctx.TenantSlots.ForceAcquire();
                        _ctx.GlobalSlots.ForceAcquire();
                        var op = Launch(entry, entry.Attempt, reattach: true);
                        if (entry.CancelRequestedBy is { } canceller)
                        {
                            op.Tell(new CancelOperation(canceller));
                        }
                        break;
                    }
                    if (entry.CancelRequestedBy is { } by)
                    {
                        var cancelled = new OutcomeV1("cancelled", null, "cancelled",
                            $"cancelled by {by}; the agent stopped before attempt {entry.Attempt} ended", []);
                        PersistEvent(new CommandCancelledV1(id, cancelled, now), _ =>
                        {
                            Logger(id).Warning("cancelled: the cancel by {By} was recorded before the agent stopped", by);
                            SendFinal(entry);
                        });
                        break;
                    }
                    FollowOnInterrupt(entry, meaning, holdsTenantSlot: false, $"the agent stopped during attempt {entry.Attempt}");
                    break;
                case CommandPhase.Finished:
                    // Completed but the final reply may not have been posted: post it again (same seq).
                    SendFinal(entry);
                    break;
            }
        }
        _log.Information("ledger recovered: {Live} live commands, {Seen} remembered ids, {Transfers} file transfers",
            _state.Commands.Count, _state.Seen.Count, _state.Transfers.Count);
        StartTransferSweeps();
        StartWaiting();
        // Every recovered command holds its slot now: the receiver may size claims from what is left.
        _ctx.TenantSlots.Open();
    }

    /// <summary>
    /// A file.put chunk left unfinished by the agent's (or ledger's) stop: its bytes were never
    /// journaled, so it cannot run again whatever its on_interrupt. It ends interrupted, which makes
    /// the controller send it again; a chunk it had stored is then answered as held.
    /// </summary>
    private void EndChunkWithoutData(CommandEntry entry) =>
        EndInterrupted(entry,
            $"the agent stopped before this chunk was {(entry.Phase == CommandPhase.Started ? "answered" : "written")}; " +
            "a chunk's bytes are not kept across restarts: send it again",
            holdsTenantSlot: false);

    /// <summary>
    /// An attempt ended without anyone knowing how (the agent stopped, or a reattached run vanished):
    /// run it again when its on_interrupt (or the block, for an attempt without effect) allows and
    /// attempts are left, else end it <c>interrupted</c>.
    /// </summary>
    /// <param name="what">What happened to the attempt, for the log and the reply.</param>
    private void FollowOnInterrupt(CommandEntry entry, InterruptMeaning meaning, bool holdsTenantSlot, string what)
    {
        var id = entry.Command.Id;
        if ((entry.Command.OnInterrupt == InterruptPolicy.Rerun || meaning == InterruptMeaning.NoEffect)
            && entry.Attempt < _ctx.Settings.MaxAttempts)
        {
            Logger(id).Warning("{What}; running it again", what);
            if (!holdsTenantSlot)
            {
                _ctx.TenantSlots.ForceAcquire();
            }
            _waiting.Enqueue(id);
            return;
        }
        var why = entry.Command.OnInterrupt == InterruptPolicy.Fail
            ? $"{what} and on_interrupt is fail"
            : $"{what}, the last of {_ctx.Settings.MaxAttempts} allowed";
        EndInterrupted(entry, why, holdsTenantSlot);
    }

    /// <summary>Ends <paramref name="entry"/> interrupted for <paramref name="why"/>, giving back its tenant slot if it holds one.</summary>
    private void EndInterrupted(CommandEntry entry, string why, bool holdsTenantSlot)
    {
        var id = entry.Command.Id;
        var outcome = new OutcomeV1("interrupted", null, "interrupted", why, []);
        PersistEvent(new CommandInterruptedV1(id, outcome, Now), _ =>
        {
            if (holdsTenantSlot)
            {
                _ctx.TenantSlots.Release();
            }
            Logger(id).Warning("interrupted: {Reason}", why);
            SendFinal(entry);
        });
    }

    /// <summary>
    /// The command's block cleans up what the interrupted attempt left (processes, partial files),
    /// so a rerun never races it, and says whether the attempt may have taken effect.
    /// </summary>
    private InterruptMeaning CleanUpInterrupted(CommandEntry entry)
    {
        if (_ctx.Settings.Blocks.BlockOf(entry.Command.Op) is not { } block)
        {
            return InterruptMeaning.MayHaveTakenEffect;
        }
        try
        {
            return block.Interrupted(RunOf(block, entry.Command, entry.Attempt));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger(entry.Command.Id).Error(e, "block {Block} failed to clean up after interrupted attempt {Attempt}", block.Name, entry.Attempt);
            return InterruptMeaning.MayHaveTakenEffect;
        }
    }

    private readonly HashSet<Guid> _repliedUnwritten = [];

    private void PersistReplied()
    {
        if (_repliedUnwritten.Count == 0)
        {
            return;
        }
        Timers.Cancel(nameof(WriteReplied));
        var ids = _repliedUnwritten.ToArray();
        _repliedUnwritten.Clear();
        foreach (var id in ids)
        {
            if (_state.Commands.TryGetValue(id, out var entry) && entry.Phase == CommandPhase.Finished)
            {
                PersistEvent(new CommandRepliedV1(id, Now), _ =>
                {
                    Logger(id).Debug("final reply delivered");
                    DeleteSpool(id);
                });
            }
        }
    }

    /// <summary>
    /// Applies <paramref name="e"/> to the state now and writes it to the journal; once it is
    /// written, runs <paramref name="then"/>. The next commands are decided on the state with it
    /// (a duplicate of a command being accepted is known at once) while the write is under way,
    /// and their events join the same journal batch: one commit for all the commands that arrived
    /// meanwhile, not one each in a row. What anyone outside sees (an acknowledged message, a
    /// reply, a started run) happens only in <paramref name="then"/>, in journal order, so nothing
    /// is acted on before it is written. A write that fails stops the ledger (Akka), and the
    /// restarted one recovers the state from the journal.
    /// An answer decided on the state but given outside a write callback waits for every write
    /// under way with <see cref="AfterWrites"/> (a duplicate's drop, a file.put chunk's verdict).
    /// </summary>
    /// <param name="accepted">For an accepted event: the command as parsed from the queue, so that it is not parsed again.</param>
    private void PersistEvent<TEvent>(TEvent e, Action<TEvent> then, Command? accepted = null) where TEvent : ILedgerEvent
    {
        PersistReplied();
        _state.Apply(e, accepted);
        _writesPending++;
        PersistAsync(e, persisted =>
        {
            _writesPending--;
            Measure(persisted);
            then(persisted);
            // Due until taken (the count starts over then); taken once no write is under way.
            if (++_eventsSinceSnapshot >= _ctx.Settings.SnapshotEvery)
            {
                SnapshotWhenWritten();
            }
        });
    }

    private int _writesPending;
    private bool _drainingForSnapshot;

    /// <summary>
    /// A snapshot may only hold written events (its sequence number covers every event persisted so
    /// far, and the journal is trimmed up to it): with writes under way, new commands wait (stashed)
    /// until they are done, which takes one journal batch.
    /// </summary>
    private void SnapshotWhenWritten()
    {
        if (_writesPending > 0)
        {
            if (!_drainingForSnapshot)
            {
                _drainingForSnapshot = true;
                BecomeStacked(() => CommandAny(_ => Stash.Stash()));
            }
            return;
        }
        _eventsSinceSnapshot = 0;
        _state.Prune(Now, _ctx.Settings.DedupWindow);
        SaveSnapshot(_state.ToSnapshot());
        if (_drainingForSnapshot)
        {
            _drainingForSnapshot = false;
            UnbecomeStacked();
            Stash.UnstashAll();
        }
    }

    /// <summary>Runs <paramref name="act"/> once every event persisted so far is written (at once when none is under way).</summary>
    private void AfterWrites(Action act) => DeferAsync(act, a => a());

    /// <summary>
    /// An event the journal refused (it could not be serialized) is already in the state: the
    /// ledger stops, and the restarted one recovers what was written.
    /// </summary>
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "the journal refused ledger event {Event} (sequence number {SequenceNr}); the ledger restarts from what was written",
            @event.GetType().Name, sequenceNr);
        Context.Stop(Self);
    }

    /// <summary>Counts a command that reached its final status (live events only: recovery replays none through here).</summary>
    private void Measure(ILedgerEvent e)
    {
        if (e is IOutcomeEvent o && _state.Commands.TryGetValue(o.CommandId, out var entry))
        {
            _ctx.Metrics.CommandEnded(_ctx.Binding.Name, entry.Command.Op, o.Outcome.Status, Now - entry.AcceptedAt);
        }
    }

    /// <summary>The op counted for a command rejected before its op could be read (or trusted: an unsigned or forged one).</summary>
    internal const string UnknownOp = "unknown";

    private void CountRejected(string op) => _ctx.Metrics.CommandEnded(_ctx.Binding.Name, op, "rejected", latency: null);

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, ProtocolJson.Options);
}
