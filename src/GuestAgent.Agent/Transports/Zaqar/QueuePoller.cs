using System.Text;
using Akka.Actor;
using GuestAgent.Agent.Blocks;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Tenancy;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using GuestAgent.Zaqar;
using Serilog;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Transports.Zaqar;

public static class QueuePollerProtocol
{
    /// <summary>Claim now, unless a later wait or claim has replaced the wait this ends.</summary>
    internal sealed record Poll(int Wait);

    internal sealed record Claimed(Claim Claim);

    internal sealed record ClaimFailed(Exception Cause);

    internal sealed record OffersTimedOut(int Round);

    /// <summary>The claims an earlier run left open were released (or tried: they expire anyway).</summary>
    internal sealed record EarlierClaimsReleased(int Released, int Listed);

    /// <summary>The waiting messages a scan read, every slot being busy (unclaimed, oldest first).</summary>
    internal sealed record Scanned(IReadOnlyList<QueueMessage> Messages);

    internal sealed record ScanFailed(Exception Cause);

    /// <summary>From <see cref="Push.CommandQueuePush"/>: subscribed; drain the queue, then poll only as a safety net.</summary>
    public sealed record PushUp;

    /// <summary>From <see cref="Push.CommandQueuePush"/>: no push for now; poll as without it.</summary>
    public sealed record PushDown(string Reason);

    /// <summary>From <see cref="Push.CommandQueuePush"/>: a message was announced; claim now.</summary>
    public sealed record Pushed
    {
        public static readonly Pushed Instance = new();
    }

    /// <summary>A slot was given back while every slot was busy: claim now rather than at the next look.</summary>
    internal sealed record SlotFreed
    {
        public static readonly SlotFreed Instance = new();
    }

    /// <summary>Send the deletes gathered so far (the ledger's answers to one journal batch arrive together).</summary>
    internal sealed record SendDeletes
    {
        public static readonly SendDeletes Instance = new();
    }

    /// <summary>Zaqar did not delete a batch in one request: each message is deleted on its own.</summary>
    internal sealed record BatchDeleteFailed(IReadOnlyList<PendingDelete> Batch, Exception Cause);

    /// <summary>A message the ledger is done with, and what its staying in Zaqar would mean.</summary>
    internal sealed record PendingDelete(string MessageId, string ClaimId, string IfNotDeleted);
}

/// <summary>
/// Claims one binding's command queue. It claims at most as many messages as there are free
/// operation slots (tenant and global), claims again at once after a non-empty claim, backs off
/// (doubling, with jitter) to the idle maximum when the queue is empty and further on Zaqar
/// faults. Each message is validated and handed to the ledger; it is deleted from Zaqar only
/// when the ledger says its fate is recorded. Bad messages never stop the poller.
/// With every slot busy it claims nothing, but every <c>poll.full-scan-interval</c> it reads the
/// first waiting messages without claiming them (a claim would count towards the queue's
/// <c>_max_claim_count</c> and dead-letter commands that merely wait) and hands the ledger the
/// queries among them (status, cancel, ping), which need no slot: a runaway command that holds
/// every slot can still be cancelled.
/// The waits between claims use the runtime's timers, not the actor system's scheduler: they sit
/// on the call path (a command posted during a wait waits for its end), so they need to be
/// precise, while the scheduler ticks coarsely to keep an idle agent off the CPU (AgentHost).
/// With push (a binding's <c>push</c> block), a child <see cref="Push.CommandQueuePush"/> keeps a
/// WebSocket subscription to the queue: each announced message is claimed at once (again a few
/// milliseconds later, twice at most, when the claim comes back empty: Zaqar announces a message before it stores
/// it), and between announcements the poller claims only every <c>push.safety-poll</c>. Whenever
/// push is down it polls as without it.
/// </summary>
public sealed class QueuePoller : ReceiveActor, IWithTimers
{
    /// <summary>How long scans pause after Zaqar refuses one (renewed credentials may allow it later).</summary>
    private static readonly TimeSpan ScanRefusedPause = TimeSpan.FromMinutes(10);

    private readonly TenantBinding _binding;
    private readonly PollSettings _poll;
    private readonly ZaqarClient _zaqar;
    private readonly IActorRef _ledger;
    private readonly OperationSlots _global;
    private readonly AgentLifetime _lifetime;
    private readonly OpenClaims _openClaims;
    private readonly PoisonWatch _watch;
    private readonly Func<ReadOnlyMemory<byte>, DateTimeOffset, CommandParseResult> _parse;
    private readonly OperationSlots _tenant;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Dictionary<string, string?> _outstanding = [];
    private TimeSpan _idle;
    private DateTimeOffset _lastBusy = DateTimeOffset.MinValue;
    private TimeSpan _fault = TimeSpan.Zero;

    /// <summary>Whether the binding's first successful claim has been logged: the sign that it is ready.</summary>
    private bool _readyLogged;
    private int _round;
    private int _wait;
    private CancellationTokenSource? _waiting;
    private bool _scanning;
    private DateTimeOffset _scanPausedUntil = DateTimeOffset.MinValue;
    private DateTimeOffset _lastScan = DateTimeOffset.MinValue;

    /// <summary>How often the poller looks whether the ledger has recovered (no request to Zaqar).</summary>
    private static readonly TimeSpan RecoveryRecheck = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Delays of the claims that follow an empty claim made on an announcement. Zaqar stores the
    /// message a few milliseconds after it announces it: a short first look takes most of those,
    /// a later one the rest.
    /// </summary>
    private static readonly TimeSpan[] PushedRetryDelays = [TimeSpan.FromMilliseconds(3), TimeSpan.FromMilliseconds(12)];

    private readonly Props? _pushProps;
    private readonly TimeSpan _safetyPoll;
    private IActorRef? _pushChild;
    private bool _pushing;
    private bool _claiming;

    /// <summary>An announcement came while a claim was under way: claim once more after it.</summary>
    private bool _claimAgain;

    /// <summary>Claims left to follow an empty claim made on an announcement.</summary>
    private int _pushedRetry = -1;

    /// <summary>The last claim took as many messages as it asked for: more may be waiting.</summary>
    private bool _lastClaimFull;

    /// <summary>How many messages the claim under way asked for.</summary>
    private int _claimLimit;

    /// <summary>Wakes the poller when its last look found no free slot and one is given back.</summary>
    private SlotWaiter? _slots;

    /// <summary>Until then a file put is arriving: empty claims are followed quickly (<c>poll.transfer-interval</c>).</summary>
    private DateTimeOffset _chunksExpectedUntil = DateTimeOffset.MinValue;

    /// <summary>How long a claimed chunk with more to come keeps polling quick: a put whose controller went away stops costing requests after it.</summary>
    private static readonly TimeSpan ChunksExpectedFor = TimeSpan.FromSeconds(1);

    /// <summary>The claim under way is the safety net's (no announcement led to it).</summary>
    private bool _safetyClaim;

    /// <summary>Claims went out before the ledger's first recovery (<see cref="TenantFree"/>), which has not been seen to end yet.</summary>
    private bool _claimedBeforeRecovery;

    /// <param name="parse">Judges a body; CommandParser with the binding's limits and signing policy unless a test replaces it.</param>
    public QueuePoller(TenantBinding binding, PollSettings poll, ProtocolLimits limits, IOpCatalog ops, ZaqarClient zaqar, IActorRef ledger,
        AgentLifetime lifetime, OperationSlots tenant, OpenClaims openClaims, PoisonWatch watch, TimeProvider time,
        Func<ReadOnlyMemory<byte>, DateTimeOffset, CommandParseResult>? parse = null, Props? push = null, TimeSpan? safetyPoll = null)
    {
        _pushProps = push;
        _safetyPoll = safetyPoll ?? TimeSpan.FromSeconds(60);
        _watch = watch;
        _parse = parse ?? ((body, now) => CommandParser.Parse(body.Span, now, limits, binding.SigningPolicy, ops));
        _lifetime = lifetime;
        _openClaims = openClaims;
        _binding = binding;
        _poll = poll;
        _zaqar = zaqar;
        _ledger = ledger;
        _global = lifetime.GlobalSlots;
        _tenant = tenant;
        _time = time;
        _idle = poll.MinInterval;
        _log = Serilog.Log.ForContext("Tenant", binding.Name).ForContext("SourceContext", "QueuePoller");

        Receive<QueuePollerProtocol.Poll>(p =>
        {
            if (p.Wait == _wait)
            {
                _safetyClaim = _pushing && _pushedRetry < 0;
                ClaimNow();
            }
        });
        Receive<QueuePollerProtocol.Claimed>(c =>
        {
            _claiming = false;
            OnClaimed(c.Claim);
        });
        Receive<QueuePollerProtocol.PushUp>(_ =>
        {
            _pushing = true;
            // Messages posted before the subscription are never announced: drain them now.
            ClaimWhenIdle();
        });
        Receive<QueuePollerProtocol.PushDown>(d =>
        {
            if (_pushing)
            {
                _pushing = false;
                _idle = _poll.MinInterval;
                ClaimWhenIdle();
            }
        });
        Receive<QueuePollerProtocol.SlotFreed>(_ =>
        {
            _slots?.Woken();
            AfterFirstRecovery();
            if (_slots is { Wants: true } && !_claiming && _outstanding.Count == 0 && !_scanning)
            {
                ClaimNow();
            }
        });
        Receive<QueuePollerProtocol.Pushed>(_ =>
        {
            if (_claiming || _outstanding.Count > 0 || _scanning)
            {
                // Whatever the claim under way does not take, the claim after it will.
                _claimAgain = true;
                return;
            }
            _pushedRetry = PushedRetryDelays.Length;
            _safetyClaim = false;
            ClaimNow();
        });
        Receive<QueuePollerProtocol.ClaimFailed>(f =>
        {
            _claiming = false;
            _lifetime.Metrics.TransportError(_binding.Name, ZaqarTransport.TransportName, "claim");
            _fault = _fault == TimeSpan.Zero ? _poll.MinInterval : TimeSpan.FromTicks(Math.Min(_poll.MaxFaultBackoff.Ticks, _fault.Ticks * 2));
            _log.Warning("claiming {Queue} failed ({Error}); next try in {Delay}", _binding.CommandQueue, f.Cause.Message, _fault);
            Schedule(_fault);
        });
        Receive<Offered>(o =>
        {
            if (_outstanding.Remove(o.MessageId, out var claimId))
            {
                // If the delete fails, the claim expires and the message comes back; the ledger then drops it as a duplicate.
                Delete(o.MessageId, claimId, "it will be redelivered and dropped");
                if (_outstanding.Count == 0)
                {
                    Timers.Cancel("offers");
                    if (_pushing && !_lastClaimFull && !_claimAgain)
                    {
                        // The claim left nothing behind, and what came since is announced: a claim now
                        // would come back empty and only hold up this agent's replies on the server.
                        Schedule(Jittered(_safetyPoll));
                        return;
                    }
                    ClaimNow();
                }
            }
        });
        Receive<QueuePollerProtocol.EarlierClaimsReleased>(r =>
        {
            _log.Information("released {Released} of {Listed} claim(s) an earlier run left open: their commands are claimable again",
                r.Released, r.Listed);
            KeepListing(_openClaims.Clear);
            ClaimNow();
        });
        Receive<QueuePollerProtocol.Scanned>(s => OnScanned(s.Messages));
        Receive<QueuePollerProtocol.SendDeletes>(_ => SendDeletes());
        Receive<QueuePollerProtocol.BatchDeleteFailed>(OnBatchDeleteFailed);
        Receive<QueuePollerProtocol.ScanFailed>(f =>
        {
            _scanning = false;
            _lifetime.Metrics.TransportError(_binding.Name, ZaqarTransport.TransportName, "read");
            if (f.Cause is ZaqarException { StatusCode: 401 or 403 or 404 } denied)
            {
                // A pre-signed URL minted without GET on messages (Zaqar says 404): queries wait for a slot like
                // everything else. Not for good: renewed credentials may allow it.
                _scanPausedUntil = _time.GetUtcNow() + ScanRefusedPause;
                _log.Warning("reading {Queue} without claiming was refused (HTTP {Status}); for {Pause}, while every slot is busy, " +
                             "status, cancel and ping wait for a free slot (allow GET on the queue's messages to take them out of turn)",
                    _binding.CommandQueue, denied.StatusCode, ScanRefusedPause);
            }
            else
            {
                _log.Debug("reading {Queue} for queries while every slot is busy failed ({Error})", _binding.CommandQueue, f.Cause.Message);
            }
            Schedule(_poll.MinInterval);
        });
        Receive<QueuePollerProtocol.OffersTimedOut>(t =>
        {
            if (t.Round == _round && _outstanding.Count > 0)
            {
                _log.Warning("the ledger did not answer for {Count} messages; they will be redelivered when the claim expires", _outstanding.Count);
                _outstanding.Clear();
                ClaimNow();
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TenantBinding binding, PollSettings poll, ProtocolLimits limits, IOpCatalog ops, ZaqarClient zaqar, IActorRef ledger,
        AgentLifetime lifetime, OperationSlots tenant, OpenClaims openClaims, PoisonWatch watch, TimeProvider time,
        Func<ReadOnlyMemory<byte>, DateTimeOffset, CommandParseResult>? parse = null, Props? push = null, TimeSpan? safetyPoll = null) =>
        Akka.Actor.Props.Create(() => new QueuePoller(binding, poll, limits, ops, zaqar, ledger, lifetime, tenant, openClaims, watch, time, parse,
            push, safetyPoll));

    protected override void PreStart()
    {
        _slots = new SlotWaiter(Self, QueuePollerProtocol.SlotFreed.Instance, _tenant, _global);
        if (_pushProps is not null)
        {
            _pushChild = Context.ActorOf(_pushProps, "push");
        }
        if (_watch.Restarted() is { } died)
        {
            _log.Error("the poller of {Queue} failed while judging message {MessageId} ({Strikes} time(s)); " +
                       "at {Limit} it is dead-lettered instead of judged again", _binding.CommandQueue, died.MessageId, died.Strikes, _watch.Limit);
        }
        var earlier = _openClaims.LeftByEarlierRun();
        if (earlier.Count == 0)
        {
            Self.Tell(new QueuePollerProtocol.Poll(_wait));
            return;
        }
        // Killed between a claim and the recording of its commands, the last run left messages
        // hidden until their claim expires: release them before the first claim.
        ReleaseAsync(earlier).PipeTo(Self, success: released => new QueuePollerProtocol.EarlierClaimsReleased(released, earlier.Count));
    }

    private async Task<int> ReleaseAsync(IReadOnlyList<string> claims)
    {
        var released = 0;
        foreach (var claim in claims)
        {
            try
            {
                await _zaqar.ReleaseClaimAsync(_binding.CommandQueue, claim).ConfigureAwait(false);
                released++;
            }
            catch (Exception e)
            {
                _log.Warning("releasing claim {Claim} failed ({Error}); its messages come back when it expires", claim, e.Message);
            }
        }
        return released;
    }

    /// <summary>The open-claims list is a shortcut for recovery, not a record: failing to write it stops nothing.</summary>
    private void KeepListing(Action change)
    {
        try
        {
            change();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("could not update the list of open claims ({Error}); after a crash its messages wait for the claim to expire", e.Message);
        }
    }

    protected override void PostStop()
    {
        // Answered messages not deleted now would come back after their claim and be dropped as duplicates.
        SendDeletes();
        _slots?.Dispose();
        EndWait();
    }

    /// <summary>Claims now unless a claim, its offers or a scan are under way (their end leads to the next claim).</summary>
    private void ClaimWhenIdle()
    {
        if (_claiming || _outstanding.Count > 0 || _scanning)
        {
            _claimAgain = true;
            return;
        }
        ClaimNow();
    }

    private void ClaimNow()
    {
        if (_outstanding.Count > 0 || _scanning || _claiming)
        {
            return;
        }
        _claimAgain = false;
        EndWait();
        if (_lifetime.Draining)
        {
            // Shutting down: claim nothing new; what is claimed but not offered comes back to the next start.
            return;
        }
        var early = EarlyClaim;
        _claimedBeforeRecovery |= early;
        var limit = Math.Min(ZaqarLimits.MaxClaimLimit, Math.Min(TenantFree(), _global.Free));
        // With every slot busy, a slot given back claims at once (SlotFreed) instead of at the next look;
        // before the first recovery, so does its end (the slots opening), as the first claim did before.
        _slots!.Wants = limit == 0 || early;
        if (limit == 0 && !_tenant.IsOpen)
        {
            // The ledger is recovering (agent start, or a restart after a journal fault): what it
            // recovers comes before anything new. Looking again costs no request, and the first
            // claim after recovery should not wait for a poll interval (or a push) to come round.
            Schedule(RecoveryRecheck);
            return;
        }
        if (limit == 0)
        {
            // Every slot is busy: look again shortly rather than claim what cannot run; queries need no slot.
            if (ScanDue())
            {
                Scan();
                return;
            }
            Schedule(_poll.MinInterval);
            return;
        }
        _claiming = true;
        _claimLimit = limit;
        _lifetime.Metrics.Polled(_binding.Name);
        _zaqar.ClaimAsync(_binding.CommandQueue, limit, _poll.ClaimTtlSeconds, _poll.ClaimGraceSeconds).PipeTo(Self,
            success: c => new QueuePollerProtocol.Claimed(c),
            failure: ex => new QueuePollerProtocol.ClaimFailed(ex));
    }

    /// <summary>
    /// The binding's free slots. Closed while its ledger recovers, except before the first recovery
    /// of a journal this start created: nothing is recovered then, so the whole cap is free, and
    /// the claim goes out while the journal warms up instead of after it. Its offers wait in the
    /// ledger (stashed until recovery ends) and a message is deleted only once its command is
    /// recorded, as always.
    /// </summary>
    private int TenantFree() => EarlyClaim ? _tenant.Unused : _tenant.Free;

    private bool EarlyClaim => _lifetime.JournalCreated && !_tenant.IsOpen && !_tenant.HasOpened;

    /// <summary>
    /// Once the first recovery is seen to have ended, polling starts over from its shortest interval:
    /// the empty claims made while the ledger recovered said nothing about an idle queue, and a
    /// command posted as the agent became ready is claimed as promptly as before claims went out early.
    /// </summary>
    private void AfterFirstRecovery()
    {
        if (_claimedBeforeRecovery && _tenant.HasOpened)
        {
            _claimedBeforeRecovery = false;
            _idle = _poll.MinInterval;
        }
    }

    private void OnClaimed(Claim claim)
    {
        if (!_readyLogged)
        {
            // Readiness is otherwise invisible: the first claim Zaqar answered says the binding works end to end.
            _readyLogged = true;
            _log.Information("ready: claiming commands from {Queue} at {Endpoint}, replies to {ReplyQueue}, up to {Slots} at once",
                _binding.CommandQueue, _binding.Endpoint, _binding.ReplyQueue, _binding.MaxOperations);
        }
        _fault = TimeSpan.Zero;
        AfterFirstRecovery();
        var safetyClaim = _safetyClaim;
        _safetyClaim = false;
        if (claim.IsEmpty)
        {
            if (_claimAgain)
            {
                _pushedRetry = -1;
                ClaimNow();
                return;
            }
            if (_pushedRetry > 0)
            {
                // Announced before it was stored: look again in a moment.
                Schedule(PushedRetryDelays[^_pushedRetry]);
                _pushedRetry--;
                return;
            }
            _pushedRetry = -1;
            if (_pushing)
            {
                Schedule(Jittered(_safetyPoll));
                return;
            }
            if (_poll.TransferInterval > TimeSpan.Zero && _time.GetUtcNow() < _chunksExpectedUntil)
            {
                // The put's next chunks are posted as its last ones are answered: moments away.
                Schedule(Jittered(_poll.TransferInterval));
                return;
            }
            Schedule(Jittered(_idle));
            if (_time.GetUtcNow() - _lastBusy > _poll.BusyPeriod)
            {
                _idle = TimeSpan.FromTicks(Math.Min(_poll.MaxInterval.Ticks, _idle.Ticks * 2));
            }
            return;
        }
        _pushedRetry = -1;
        _lastClaimFull = claim.Messages.Count >= _claimLimit;
        if (safetyClaim && _pushChild is not null)
        {
            // Push is up, yet commands waited for the safety net: the subscription may be gone.
            _pushChild.Tell(Push.CommandQueuePushProtocol.Check.Instance);
        }
        _idle = _poll.MinInterval;
        _lastBusy = _time.GetUtcNow();
        _round++;
        if (claim.Id is { } claimId)
        {
            KeepListing(() => _openClaims.Opened(claimId, claim.Messages.Count, TimeSpan.FromSeconds(_poll.ClaimTtlSeconds)));
        }
        var now = _time.GetUtcNow();
        foreach (var message in claim.Messages)
        {
            if (_watch.IsPoison(message.Id, out var strikes))
            {
                DeadLetter(message, claim.Id, strikes);
                continue;
            }
            _outstanding[message.Id] = claim.Id;
            // Authenticated here, before the ledger records anything or anything runs.
            var (parsed, raw) = Judge(message, now);
            if (parsed.Command is { } command)
            {
                if (command.Args is FilePutArgs { } chunk && chunk.Index + 1 < chunk.Count)
                {
                    _chunksExpectedUntil = now + ChunksExpectedFor;
                }
                _ledger.Tell(new Offer(command, raw, message.Id));
            }
            else
            {
                _ledger.Tell(new OfferRejected(parsed.Rejection!, message.Id));
            }
        }
        if (_outstanding.Count == 0)
        {
            ClaimNow();
            return;
        }
        AwaitOffers();
    }

    /// <summary>The message's verdict (<see cref="PoisonWatch.Judge"/>): authenticated here, before the ledger records anything.</summary>
    private (CommandParseResult Result, ReadOnlyMemory<byte> Raw) Judge(QueueMessage message, DateTimeOffset now) =>
        _watch.Judge(message.Id, () =>
        {
            var raw = RawBody(message);
            return (_parse(raw, now), raw);
        }, _log, _binding.CommandQueue);

    /// <summary>
    /// Ends a message that made the poller fail <see cref="PoisonWatch.Limit"/> times: logged with the
    /// start of its body, and deleted, without judging it again (judging it is what fails).
    /// </summary>
    private void DeadLetter(QueueMessage message, string? claimId, int strikes)
    {
        var text = message.RawBody;
        const int preview = 512;
        _log.Error("dead-lettered message {MessageId} of {Queue}: the poller failed {Strikes} time(s) while judging it; " +
                   "it is deleted unjudged. Its body ({Length} chars) begins: {Preview}",
            message.Id, _binding.CommandQueue, strikes, text.Length, text.Length > preview ? text[..preview] : text);
        // Still counted by the watch: should the delete fail, the message comes back and is dead-lettered again at once.
        Delete(message.Id, claimId, "it will be redelivered and dead-lettered again");
    }

    /// <summary>
    /// A message is done with: its claim's count of unanswered messages goes down and it is deleted
    /// from Zaqar; a failed delete is logged, saying <paramref name="ifNotDeleted"/>.
    /// </summary>
    private void Delete(string messageId, string? claimId, string ifNotDeleted)
    {
        if (claimId is null)
        {
            DeleteOne(messageId, null, ifNotDeleted);
            return;
        }
        KeepListing(() => _openClaims.Answered(claimId));
        // Gathered: the ledger answers a journal batch's offers together, and one request deletes them all.
        _deletes.Add(new QueuePollerProtocol.PendingDelete(messageId, claimId, ifNotDeleted));
        if (_deletes.Count >= ZaqarLimits.MaxPageSize)
        {
            SendDeletes();
        }
        else if (_deletes.Count == 1)
        {
            Self.Tell(QueuePollerProtocol.SendDeletes.Instance);
        }
    }

    /// <summary>Claimed messages answered and not yet deleted (see <see cref="Delete"/>).</summary>
    private readonly List<QueuePollerProtocol.PendingDelete> _deletes = [];

    /// <summary>Set once Zaqar refused a batch delete (a policy or pre-signed URL without it): one by one from then on.</summary>
    private bool _batchDeleteRefused;

    private void SendDeletes()
    {
        if (_deletes.Count == 0)
        {
            return;
        }
        var batch = _deletes.ToList();
        _deletes.Clear();
        if (batch.Count == 1 || _batchDeleteRefused)
        {
            DeleteEach(batch);
            return;
        }
        var self = Self;
        _zaqar.DeleteManyAsync(_binding.CommandQueue, [.. batch.Select(d => d.MessageId)], [.. batch.Select(d => d.ClaimId).Distinct()])
            .ContinueWith(t =>
            {
                if (t.IsFaulted)
                {
                    self.Tell(new QueuePollerProtocol.BatchDeleteFailed(batch, t.Exception!.GetBaseException()));
                }
            }, TaskScheduler.Default);
    }

    private void OnBatchDeleteFailed(QueuePollerProtocol.BatchDeleteFailed f)
    {
        if (f.Cause is ZaqarException refused && ZaqarClient.RefusesDeleteMany(refused) && !_batchDeleteRefused)
        {
            _batchDeleteRefused = true;
            _log.Information("Zaqar refused deleting several messages of {Queue} in one request (HTTP {Status}); deleting them one by one",
                _binding.CommandQueue, refused.StatusCode);
        }
        DeleteEach(f.Batch);
    }

    private void DeleteEach(IEnumerable<QueuePollerProtocol.PendingDelete> batch)
    {
        foreach (var d in batch)
        {
            DeleteOne(d.MessageId, d.ClaimId, d.IfNotDeleted);
        }
    }

    private void DeleteOne(string messageId, string? claimId, string ifNotDeleted)
    {
        var (metrics, tenant) = (_lifetime.Metrics, _binding.Name);
        _zaqar.DeleteAsync(_binding.CommandQueue, messageId, claimId).ContinueWith(t =>
        {
            if (t.IsFaulted)
            {
                metrics.TransportError(tenant, ZaqarTransport.TransportName, "delete");
                _log.Warning("deleting message {MessageId} failed ({Error}); {Consequence}",
                    messageId, t.Exception?.GetBaseException().Message, ifNotDeleted);
            }
        }, TaskScheduler.Default);
    }

    /// <summary>
    /// The command's UTF-8 JSON: the body's own bytes, as the response brought them (a file chunk's
    /// is a third of a megabyte: no copy and no string of it). A body that is not JSON this client
    /// reads (NaN, Infinity) is judged as those bytes too, so the parser says why.
    /// </summary>
    private static ReadOnlyMemory<byte> RawBody(QueueMessage message)
    {
        var raw = message.Utf8Body;
        var first = raw.Span.TrimStart(" \t\r\n"u8);
        // A command posted as JSON text inside a string (json.dumps(cmd) as the body) is read as that text.
        return message.BodyError is null && !first.IsEmpty && first[0] == (byte)'"'
            ? Encoding.UTF8.GetBytes(message.Body.GetString() ?? "")
            : raw;
    }

    private void AwaitOffers()
    {
        // If the ledger is down (restarting after a journal fault) the messages simply come back.
        Timers.StartSingleTimer("offers", new QueuePollerProtocol.OffersTimedOut(_round), TimeSpan.FromSeconds(_poll.ClaimTtlSeconds / 2.0));
    }

    private bool ScanDue()
    {
        var now = _time.GetUtcNow();
        return _poll.FullScanInterval > TimeSpan.Zero && now >= _scanPausedUntil && now - _lastScan >= _poll.FullScanInterval;
    }

    private void Scan()
    {
        _scanning = true;
        _lastScan = _time.GetUtcNow();
        ReadWaitingAsync().PipeTo(Self,
            success: m => new QueuePollerProtocol.Scanned(m),
            failure: ex => new QueuePollerProtocol.ScanFailed(ex));
    }

    /// <summary>The first <c>full-scan-depth</c> unclaimed messages, oldest first (a peek: nothing is claimed).</summary>
    private async Task<IReadOnlyList<QueueMessage>> ReadWaitingAsync()
    {
        var found = new List<QueueMessage>();
        var pages = new ListOptions { Limit = Math.Min(ZaqarLimits.MaxPageSize, _poll.FullScanDepth), Echo = true };
        await foreach (var message in _zaqar.ListAllAsync(_binding.CommandQueue, pages).ConfigureAwait(false))
        {
            found.Add(message);
            if (found.Count == _poll.FullScanDepth)
            {
                break;
            }
        }
        return found;
    }

    /// <summary>
    /// Hands the ledger the queries among messages read while every slot is busy. The rest stay in
    /// the queue, unclaimed, for their turn; so do messages that do not parse (a claim deals with them).
    /// </summary>
    private void OnScanned(IReadOnlyList<QueueMessage> messages)
    {
        _scanning = false;
        _fault = TimeSpan.Zero;
        if (_lifetime.Draining)
        {
            return;
        }
        var now = _time.GetUtcNow();
        var offered = 0;
        foreach (var message in messages)
        {
            if (_watch.IsPoison(message.Id, out _) || _outstanding.ContainsKey(message.Id))
            {
                continue;
            }
            var (parsed, raw) = Judge(message, now);
            if (parsed.Command is { } query && Ops.IsQuery(query.Op))
            {
                _outstanding[message.Id] = null;
                offered++;
                _ledger.Tell(new Offer(query, raw, message.Id));
            }
        }
        if (offered == 0)
        {
            Schedule(_poll.MinInterval);
            return;
        }
        _log.Information("every slot is busy: took {Count} quer(ies) out of turn from {Queue}", offered, _binding.CommandQueue);
        _round++;
        AwaitOffers();
    }

    private void Schedule(TimeSpan delay)
    {
        EndWait();
        var wait = _wait;
        var self = Self;
        _waiting = new CancellationTokenSource();
        Task.Delay(delay, _time, _waiting.Token).ContinueWith(_ => self.Tell(new QueuePollerProtocol.Poll(wait)),
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Ends the current wait, if any: its Poll, should it already be in the mailbox, is ignored.</summary>
    private void EndWait()
    {
        _wait++;
        if (_waiting is { } waiting)
        {
            _waiting = null;
            waiting.Cancel();
            waiting.Dispose();
        }
    }

    private TimeSpan Jittered(TimeSpan d) =>
        TimeSpan.FromTicks((long)(d.Ticks * (1 - _poll.Jitter + Random.Shared.NextDouble() * 2 * _poll.Jitter)));
}
