using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.TestKit;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Blocks;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Operations.Files;
using GuestAgent.Agent.Outbox;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Tests.Ledger;

/// <summary>
/// The ledger alone on an in-memory journal: a probe stands in for the outbox and the test for
/// the poller, and a block whose runs end only when the test says so pins the orderings an
/// end-to-end test cannot: recovery with every phase in the journal, an offer redelivered after
/// the ack was lost, final replies sent again after a restart until confirmed, slots under cancel
/// and timeout. A "restart" stops the ledger and starts a new one on the same journal, as the
/// agent's backoff supervisor does.
/// </summary>
public sealed class CommandLedgerSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    // Akka.Persistence.TestKit's journal: in memory, and a test can make its writes fail.
    private const string Journal = """
        akka.persistence.journal.plugin = "akka.persistence.journal.test"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        akka.loglevel = WARNING
        """;

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly string _dir = Directory.CreateTempSubdirectory("ga-ledger-").FullName;
    private readonly GateBlock _gate = new();
    private readonly Akka.TestKit.TestProbe _outbox;
    private readonly OperationSlots _global;
    private readonly OperationSlots _tenant = new(8);
    private readonly LedgerContext _ctx;
    private IActorRef? _ledger;

    public CommandLedgerSpecs() : base(ConfigurationFactory.ParseString(Journal)
        .WithFallback(ConfigurationFactory.FromResource<TestJournal>("Akka.Persistence.TestKit.config.conf")))
    {
        _outbox = CreateTestProbe();
        _global = new OperationSlots(2);
        var registry = BlockRegistry.Of([_gate, new FilesBlock(GuestPlatform.OfThisMachine()!)]);
        var settings = AgentSettings.Load(null, $$"""
            guest-agent {
              state-dir = "{{_dir}}"
              tenants.t1 { endpoint = "http://127.0.0.1:1", project = "p", command-queue = "cmd", reply-queue = "rep", signing.allow-unsigned = true }
            }
            """) with { Blocks = registry };
        var binding = settings.Tenants[0] with
        {
            AllowedOps = registry.OpsOf(["gate", "files"]),
            Policies = new Dictionary<string, object?> { ["gate"] = null, ["files"] = new FilesPolicy([_dir], FilesPolicy.DefaultMaxFileBytes, []) },
        };
        _ctx = new LedgerContext(settings, binding, _global, _tenant, new ReplyFactory("spec-agent", TimeProvider.System),
            GuestPlatform.OfThisMachine()!, DateTimeOffset.UtcNow, TimeProvider.System);
    }

    public new void Dispose()
    {
        base.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private IActorRef StartLedger()
    {
        _ledger = Sys.ActorOf(CommandLedger.Props(_ctx, _outbox.Ref));
        return _ledger;
    }

    /// <summary>Stops the ledger as a crash of its actor would (its runs are stopped with it; nothing more is persisted).</summary>
    private void StopLedger()
    {
        Watch(_ledger!);
        Sys.Stop(_ledger!);
        ExpectTerminated(_ledger!, Wait);
    }

    private Offer GateOffer(string key, InterruptPolicy onInterrupt, bool effect = true, int? timeoutMs = null, Guid? id = null, bool survives = false,
        bool lost = false)
    {
        var args = new JsonObject { ["key"] = key, ["effect"] = effect, ["survives"] = survives, ["lost"] = lost };
        if (timeoutMs is { } t)
        {
            args["timeout_ms"] = t;
        }
        return OfferOf("gate", args, onInterrupt, id);
    }

    private Offer OfferOf(string op, JsonObject args, InterruptPolicy onInterrupt = InterruptPolicy.Fail, Guid? id = null)
    {
        var body = new JsonObject
        {
            ["v"] = 1,
            ["id"] = (id ?? Guid.NewGuid()).ToString(),
            ["op"] = op,
            ["mode"] = "cast",
            ["on_interrupt"] = onInterrupt == InterruptPolicy.Rerun ? "rerun" : "fail",
            ["issued_at"] = ProtocolJson.FormatTimestamp(DateTimeOffset.UtcNow),
            ["args"] = args,
        }.ToJsonString();
        var parsed = CommandParser.Parse(System.Text.Encoding.UTF8.GetBytes(body), DateTimeOffset.UtcNow, null, signing: null, _ctx.Settings.Blocks);
        Assert.True(parsed.IsAccepted, parsed.Rejection?.Message);
        return new Offer(parsed.Command, body, "msg-" + Guid.NewGuid().ToString("N")[..8]);
    }

    private void Offer(Offer offer, OfferOutcome expected)
    {
        _ledger!.Tell(offer, TestActor);
        Assert.Equal(new Offered(offer.MessageId, expected), ExpectMsg<Offered>(Wait));
    }

    /// <summary>Final deliveries seen while waiting for another: runs end in any order.</summary>
    private readonly Dictionary<Guid, Queue<OutboxProtocol.DeliverFinished>> _finals = [];

    /// <summary>The next final delivery of <paramref name="id"/>, whatever else the outbox is told first.</summary>
    private OutboxProtocol.DeliverFinished FinalOf(Guid id)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!(_finals.TryGetValue(id, out var seen) && seen.Count > 0))
        {
            var left = deadline - DateTime.UtcNow;
            var message = left > TimeSpan.Zero ? _outbox.ReceiveOne(left) : null;
            if (message is null)
            {
                throw new TimeoutException($"no final reply of {id} within {Wait}");
            }
            if (message is OutboxProtocol.DeliverFinished d)
            {
                (_finals.TryGetValue(d.CommandId, out var q) ? q : _finals[d.CommandId] = new()).Enqueue(d);
            }
        }
        return _finals[id].Dequeue();
    }

    /// <summary>Offers a gate command, lets its first run go on for <paramref name="runFor"/>, ends it, and waits for its final reply.</summary>
    private async Task RunToFinalAsync(Offer offer, string key, TimeSpan runFor)
    {
        Offer(offer, OfferOutcome.Accepted);
        await _gate.StartedAsync(key, 1);
        await Task.Delay(runFor);
        _gate.Release(key);
        FinalOf(offer.Command.Id);
    }

    private Counts Counts()
    {
        _ledger!.Tell(new GetCounts(), TestActor);
        return ExpectMsg<Counts>(Wait);
    }

    [Fact]
    public async Task Recovery_answers_every_phase_as_the_journal_left_it()
    {
        StartLedger();
        var rerun = GateOffer("rerun", InterruptPolicy.Rerun);
        var fail = GateOffer("fail", InterruptPolicy.Fail);
        var waiting = GateOffer("waiting", InterruptPolicy.Fail);
        var readOnly = GateOffer("read-only", InterruptPolicy.Fail, effect: false);
        var finished = OfferOf("ping", new JsonObject());
        foreach (var offer in new[] { rerun, fail })
        {
            Offer(offer, OfferOutcome.Accepted);
        }
        await _gate.StartedAsync("rerun", 1);
        await _gate.StartedAsync("fail", 1);
        Offer(waiting, OfferOutcome.Accepted);
        Offer(finished, OfferOutcome.Accepted);
        Assert.Equal("succeeded", FinalOf(finished.Command.Id).Outcome.Status);
        Assert.Equal(new Counts(Live: 4, Seen: 0, Running: 2, Waiting: 1), Counts());

        StopLedger();
        _outbox.ReceiveWhile(TimeSpan.FromMilliseconds(200), m => m);
        _finals.Clear();
        StartLedger();

        // Started, on_interrupt fail: interrupted. Finished but unconfirmed: its final again.
        var interrupted = FinalOf(fail.Command.Id).Outcome;
        Assert.Equal(("interrupted", "interrupted"), (interrupted.Status, interrupted.ErrorCode));
        Assert.Contains("on_interrupt is fail", interrupted.ErrorMessage);
        // Started, on_interrupt rerun: attempt 2. Accepted, never started: its first attempt now.
        await _gate.StartedAsync("rerun", 2);
        _gate.Release("rerun");
        Assert.Equal("succeeded", FinalOf(rerun.Command.Id).Outcome.Status);
        await _gate.StartedAsync("waiting", 1);
        _gate.Release("waiting");
        Assert.Equal("succeeded", FinalOf(waiting.Command.Id).Outcome.Status);
        Assert.Equal(1, _gate.Runs("fail"));

        // A block that says its interrupted attempt had no effect is run again even with on_interrupt fail.
        Offer(readOnly, OfferOutcome.Accepted);
        await _gate.StartedAsync("read-only", 1);
        StopLedger();
        StartLedger();
        await _gate.StartedAsync("read-only", 2);
        _gate.Release("read-only");
        Assert.Equal("succeeded", FinalOf(readOnly.Command.Id).Outcome.Status);
    }

    [Fact]
    public async Task Each_command_counts_once_by_op_and_final_status_with_its_latency_and_a_restart_counts_nothing_again()
    {
        StartLedger();
        var run = GateOffer("counted", InterruptPolicy.Fail);
        await RunToFinalAsync(run, "counted", TimeSpan.FromMilliseconds(100));
        _ledger!.Tell(new OfferRejected(new CommandRejection(RejectCodes.MalformedJson, "not JSON", null, null, null), "msg-bad"), TestActor);
        ExpectMsg<Offered>(Wait);

        // The final reply was never confirmed: the next ledger sends it again, without counting the command again.
        StopLedger();
        StartLedger();
        FinalOf(run.Command.Id);
        var ping = OfferOf("ping", new JsonObject());
        Offer(ping, OfferOutcome.Accepted);
        var metrics = JsonSerializer.Deserialize<PingResult>(FinalOf(ping.Command.Id).Outcome.ResultJson!, ProtocolJson.Options)!.Metrics!;

        Assert.Equal([("gate", "succeeded", 1L), ("unknown", "rejected", 1L)], metrics.Commands.Select(c => (c.Op, c.Status, c.Count)));
        Assert.InRange(metrics.Commands[0].LatencyMs!.Max, 100, 10_000);
        Assert.Null(metrics.Commands[1].LatencyMs);
    }

    [Fact]
    public async Task An_offer_redelivered_after_its_ack_was_lost_is_a_duplicate_and_never_runs_twice()
    {
        StartLedger();
        var offer = GateOffer("once", InterruptPolicy.Rerun);
        await RunToFinalAsync(offer, "once", TimeSpan.Zero);

        // The poller died before deleting the message: it comes back, to this ledger and to the next one.
        Offer(offer with { MessageId = "redelivered-1" }, OfferOutcome.Duplicate);
        StopLedger();
        StartLedger();
        Offer(offer with { MessageId = "redelivered-2" }, OfferOutcome.Duplicate);

        Assert.Equal(1, _gate.Runs("once"));
    }

    [Fact]
    public async Task A_final_reply_is_sent_again_after_a_restart_until_the_outbox_confirms_it()
    {
        StartLedger();
        var confirmed = GateOffer("confirmed", InterruptPolicy.Fail);
        var unconfirmed = GateOffer("unconfirmed", InterruptPolicy.Fail);
        Offer(confirmed, OfferOutcome.Accepted);
        Offer(unconfirmed, OfferOutcome.Accepted);
        await _gate.StartedAsync("confirmed", 1);
        await _gate.StartedAsync("unconfirmed", 1);
        _gate.Release("confirmed");
        _gate.Release("unconfirmed");
        FinalOf(confirmed.Command.Id);
        FinalOf(unconfirmed.Command.Id);
        _ledger!.Tell(new FinalReplyDelivered(confirmed.Command.Id));
        await AwaitAssertAsync(() => Assert.Equal(1, Counts().Live), Wait);

        StopLedger();
        StartLedger();

        var again = _outbox.ReceiveWhile(TimeSpan.FromSeconds(1), m => m).OfType<OutboxProtocol.DeliverFinished>().ToList();
        Assert.Equal([unconfirmed.Command.Id], again.Select(d => d.CommandId));
        Assert.Equal("succeeded", again[0].Outcome.Status);
        Assert.Equal((1, 1), (_gate.Runs("confirmed"), _gate.Runs("unconfirmed")));
    }

    [Fact]
    public async Task Slots_come_back_when_a_run_is_cancelled_or_times_out_and_the_next_command_starts()
    {
        StartLedger();
        var first = GateOffer("first", InterruptPolicy.Fail);
        var second = GateOffer("second", InterruptPolicy.Fail, timeoutMs: 300);
        var third = GateOffer("third", InterruptPolicy.Fail);
        Offer(first, OfferOutcome.Accepted);
        Offer(second, OfferOutcome.Accepted);
        Offer(third, OfferOutcome.Accepted);
        await _gate.StartedAsync("first", 1);
        await _gate.StartedAsync("second", 1);
        Assert.Equal((2, 3), (_global.Used, _tenant.Used));
        Assert.Equal(1, Counts().Waiting);

        // The second times out (the core's deadline): its slot goes to the third.
        var timedOut = FinalOf(second.Command.Id).Outcome;
        Assert.Equal(("timed_out", "timed_out"), (timedOut.Status, timedOut.ErrorCode));
        await _gate.StartedAsync("third", 1);
        // A cancel command stops the first.
        var cancel = OfferOf("cancel", new JsonObject { ["command_id"] = first.Command.Id.ToString() });
        Offer(cancel, OfferOutcome.Accepted);
        var cancelled = FinalOf(first.Command.Id).Outcome;
        Assert.Equal("cancelled", cancelled.Status);
        Assert.Contains("cancel command", cancelled.ErrorMessage);
        _gate.Release("third");
        FinalOf(third.Command.Id);

        await AwaitAssertAsync(() => Assert.Equal((0, 0), (_global.Used, _tenant.Used)), Wait);
        Assert.Equal(new Counts(Live: 4, Seen: 0, Running: 0, Waiting: 0), Counts());
    }

    /// <summary>
    /// A block whose runs wait for the test: <c>args.key</c> names the run, <c>args.effect</c> what an
    /// interrupted one means, <c>args.timeout_ms</c> the core's deadline. Runs honour cancellation.
    /// </summary>
    [Fact]
    public async Task Tenant_slots_read_none_free_from_a_restart_until_recovery_has_counted_the_recovered_commands()
    {
        StartLedger();
        Offer(GateOffer("a", InterruptPolicy.Rerun), OfferOutcome.Accepted);
        Offer(GateOffer("b", InterruptPolicy.Rerun), OfferOutcome.Accepted);
        Offer(GateOffer("c", InterruptPolicy.Fail), OfferOutcome.Accepted);
        // Two global slots: a and b run, c waits; all three hold a tenant slot.
        await _gate.StartedAsync("a", 1);
        await _gate.StartedAsync("b", 1);
        Assert.Equal(8 - 3, _tenant.Free);

        StopLedger();

        // Between ledgers a receiver would size its claim from slots the recovered commands are owed.
        Assert.False(_tenant.IsOpen);
        Assert.Equal(0, _tenant.Free);

        StartLedger();
        Counts();
        await _gate.StartedAsync("a", 2);
        await _gate.StartedAsync("b", 2);
        Assert.True(_tenant.IsOpen);
        Assert.Equal(8 - 3, _tenant.Free);
        Assert.Equal(0, _global.Free);
    }

    [Fact]
    public async Task A_global_slot_taken_for_a_run_whose_start_could_not_be_written_comes_back_when_the_ledger_stops()
    {
        var journal = TestJournal.FromRef(Persistence.Instance.Apply(Sys).JournalFor(null));
        StartLedger();
        Watch(_ledger!);
        await journal.OnWrite.FailOnType<CommandStartedV1>();

        // Accepted and Started go to the journal together; the Started write fails, which stops the
        // ledger with the slot taken (the receiver may or may not hear Accepted first).
        _ledger!.Tell(GateOffer("a", InterruptPolicy.Rerun), TestActor);
        FishForMessage(m => m is Terminated, Wait);

        Assert.Equal(2, _global.Free);
        await journal.OnWrite.Pass();
        StartLedger();
        await _gate.StartedAsync("a", 1);
        Assert.Equal(1, _global.Free);
    }

    [Fact]
    public async Task A_ledger_stopped_by_a_journal_fault_detaches_its_runs_and_the_next_one_reattaches_them_under_their_slots()
    {
        var journal = TestJournal.FromRef(Persistence.Instance.Apply(Sys).JournalFor(null));
        StartLedger();
        Watch(_ledger!);
        var survivor = GateOffer("survivor", InterruptPolicy.Fail, survives: true);
        Offer(survivor, OfferOutcome.Accepted);
        await _gate.StartedAsync("survivor", 1);
        Assert.Equal(1, _global.Free);

        // Any write failing stops the ledger, the running attempt's actor with it.
        await journal.OnWrite.FailOnType<CommandAcceptedV1>();
        _ledger!.Tell(GateOffer("victim", InterruptPolicy.Fail), TestActor);
        ExpectTerminated(_ledger!, Wait);
        await journal.OnWrite.Pass();
        _outbox.ReceiveWhile(TimeSpan.FromMilliseconds(200), m => m);
        StartLedger();

        // Followed again under the same attempt, holding its slots: not interrupted, not run twice.
        await _gate.ReattachedAsync("survivor", 1);
        AwaitCondition(() => _global.Free == 1 && _tenant.Used == 1, Wait);
        _gate.Release("survivor");
        var final = FinalOf(survivor.Command.Id).Outcome;
        Assert.Equal("succeeded", final.Status);
        Assert.Contains("\"attempt\":1", final.ResultJson);
        Assert.Equal(1, _gate.Runs("survivor"));
        AwaitCondition(() => _global.Free == 2 && _tenant.Used == 0, Wait);
    }

    [Fact]
    public async Task A_cancel_right_behind_its_command_stops_the_run_whose_start_was_still_being_written()
    {
        StartLedger();
        var run = GateOffer("behind", InterruptPolicy.Fail);
        var cancel = OfferOf("cancel", new JsonObject { ["command_id"] = run.Command.Id.ToString() });

        // Both in the mailbox before the journal answers: the cancel is decided while the run's
        // Started is being written, and must still reach the run once it is launched.
        _ledger!.Tell(run, TestActor);
        _ledger.Tell(cancel, TestActor);
        Assert.Equal(new Offered(run.MessageId, OfferOutcome.Accepted), ExpectMsg<Offered>(Wait));
        Assert.Equal(new Offered(cancel.MessageId, OfferOutcome.Accepted), ExpectMsg<Offered>(Wait));

        var cancelled = FinalOf(run.Command.Id).Outcome;
        Assert.Equal("cancelled", cancelled.Status);
        var answer = FinalOf(cancel.Command.Id).Outcome;
        Assert.Equal("succeeded", answer.Status);
        Assert.Contains("\"state\":\"started\"", answer.ResultJson);
        AwaitCondition(() => _global.Free == 2 && _tenant.Used == 0, Wait);
    }

    [Fact]
    public async Task A_redelivery_that_arrives_while_its_command_is_being_written_is_not_dropped_when_that_write_fails()
    {
        var journal = TestJournal.FromRef(Persistence.Instance.Apply(Sys).JournalFor(null));
        StartLedger();
        Watch(_ledger!);
        await journal.OnWrite.FailOnType<CommandAcceptedV1>();
        var offer = GateOffer("redelivered", InterruptPolicy.Fail);

        // The copy is known the moment the first is decided, but only a written command makes a
        // duplicate: told so early, the receiver would drop the copy, and with the write failing
        // the command would be lost.
        _ledger!.Tell(offer, TestActor);
        _ledger.Tell(offer with { MessageId = "copy" }, TestActor);
        var seen = ReceiveWhile(Wait, m => m is Terminated ? null : m, msgs: 3).OfType<Offered>().ToList();
        ExpectTerminated(_ledger!, Wait);
        Assert.DoesNotContain(seen, o => o.Outcome == OfferOutcome.Duplicate);

        await journal.OnWrite.Pass();
        StartLedger();
        Offer(offer with { MessageId = "copy" }, OfferOutcome.Accepted);
        await _gate.StartedAsync("redelivered", 1);
        _gate.Release("redelivered");
        Assert.Equal("succeeded", FinalOf(offer.Command.Id).Outcome.Status);
        Assert.Equal(1, _gate.Runs("redelivered"));
    }

    [Fact]
    public async Task A_delivered_final_reply_is_recorded_with_the_next_write_or_alone_soon_after_and_not_sent_again()
    {
        // Alone: nothing else is written, so the marker goes by itself after the delay.
        StartLedger();
        var alone = GateOffer("alone", InterruptPolicy.Fail);
        Offer(alone, OfferOutcome.Accepted);
        await _gate.StartedAsync("alone", 1);
        _gate.Release("alone");
        FinalOf(alone.Command.Id);
        _ledger!.Tell(new FinalReplyDelivered(alone.Command.Id));
        await Task.Delay(_ctx.RepliedWriteDelay * 10);
        StopLedger();
        StartLedger();
        Assert.Empty(_outbox.ReceiveWhile(TimeSpan.FromSeconds(1), m => m).OfType<OutboxProtocol.DeliverFinished>());

        // Along: with a delay that never comes, the next command's write takes the marker with it.
        StopLedger();
        _ledger = Sys.ActorOf(CommandLedger.Props(_ctx with { RepliedWriteDelay = TimeSpan.FromHours(1) }, _outbox.Ref));
        var first = GateOffer("first", InterruptPolicy.Fail);
        Offer(first, OfferOutcome.Accepted);
        await _gate.StartedAsync("first", 1);
        _gate.Release("first");
        FinalOf(first.Command.Id);
        _ledger.Tell(new FinalReplyDelivered(first.Command.Id));
        Offer(OfferOf("ping", new JsonObject()), OfferOutcome.Accepted);
        StopLedger();
        StartLedger();
        var again = _outbox.ReceiveWhile(TimeSpan.FromSeconds(1), m => m).OfType<OutboxProtocol.DeliverFinished>().Select(d => d.CommandId).ToList();
        Assert.DoesNotContain(first.Command.Id, again);
        Assert.Equal((1, 1), (_gate.Runs("alone"), _gate.Runs("first")));
    }

    [Fact]
    public async Task Snapshots_taken_under_a_stream_of_commands_hold_only_written_events_and_a_restart_loses_none()
    {
        // A snapshot every 3 events, with commands arriving while events are being written.
        var ctx = _ctx with { Settings = _ctx.Settings with { SnapshotEvery = 3 } };
        _ledger = Sys.ActorOf(CommandLedger.Props(ctx, _outbox.Ref));
        var pings = Enumerable.Range(0, 40).Select(_ => OfferOf("ping", new JsonObject())).ToList();
        foreach (var ping in pings)
        {
            _ledger.Tell(ping, TestActor);
        }
        var answered = ReceiveN(pings.Count, Wait).OfType<Offered>().ToList();
        Assert.All(answered, o => Assert.Equal(OfferOutcome.Accepted, o.Outcome));
        foreach (var ping in pings)
        {
            Assert.Equal("succeeded", FinalOf(ping.Command.Id).Outcome.Status);
            _ledger.Tell(new FinalReplyDelivered(ping.Command.Id));
        }
        await AwaitAssertAsync(() => Assert.Equal(0, Counts().Live), Wait);

        StopLedger();
        _ledger = Sys.ActorOf(CommandLedger.Props(ctx, _outbox.Ref));
        Assert.Equal(new Counts(Live: 0, Seen: 40, Running: 0, Waiting: 0), Counts());
        Offer(pings[17] with { MessageId = "again" }, OfferOutcome.Duplicate);
    }

    /// <summary>A one-chunk file.put of <paramref name="content"/> to <paramref name="path"/>, as a new command each time.</summary>
    private Offer ChunkOffer(string path, byte[] content, Guid transferId) => OfferOf("file.put", new JsonObject
    {
        ["transfer_id"] = transferId.ToString(),
        ["path"] = path,
        ["size"] = content.Length,
        ["sha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)),
        ["chunk_bytes"] = content.Length,
        ["index"] = 0,
        ["count"] = 1,
        ["data_b64"] = Convert.ToBase64String(content),
    }, InterruptPolicy.Rerun);

    [Fact]
    public async Task A_file_chunk_left_unfinished_by_a_restart_ends_interrupted_whatever_its_on_interrupt_and_is_taken_when_sent_again()
    {
        StartLedger();
        // Both global slots busy: the chunk is accepted and waits for one.
        Offer(GateOffer("busy-a", InterruptPolicy.Fail), OfferOutcome.Accepted);
        Offer(GateOffer("busy-b", InterruptPolicy.Fail), OfferOutcome.Accepted);
        await _gate.StartedAsync("busy-a", 1);
        await _gate.StartedAsync("busy-b", 1);
        var content = "hello, chunk"u8.ToArray();
        var target = Path.Combine(_dir, "put.bin");
        var transfer = Guid.NewGuid();
        var chunk = ChunkOffer(target, content, transfer);
        Offer(chunk, OfferOutcome.Accepted);

        // Its bytes were not journaled: the next ledger cannot run it, and says so rather than rerun it.
        StopLedger();
        _outbox.ReceiveWhile(TimeSpan.FromMilliseconds(200), m => m);
        _finals.Clear();
        StartLedger();
        var interrupted = FinalOf(chunk.Command.Id).Outcome;
        Assert.Equal(("interrupted", "interrupted"), (interrupted.Status, interrupted.ErrorCode));
        Assert.Contains("send it again", interrupted.ErrorMessage);
        Assert.False(File.Exists(target));

        // The controller sends it again as a new command: written, verified, installed.
        var again = ChunkOffer(target, content, transfer);
        Offer(again, OfferOutcome.Accepted);
        var done = FinalOf(again.Command.Id).Outcome;
        Assert.Equal("succeeded", done.Status);
        Assert.Contains("\"complete\":true", done.ResultJson);
        Assert.Equal(content, await File.ReadAllBytesAsync(target));
    }

    [Fact]
    public async Task A_reattached_run_that_is_lost_follows_on_interrupt_under_the_slots_it_held()
    {
        StartLedger();
        var rerun = GateOffer("lost-rerun", InterruptPolicy.Rerun, survives: true, lost: true);
        var fail = GateOffer("lost-fail", InterruptPolicy.Fail, survives: true, lost: true);
        Offer(rerun, OfferOutcome.Accepted);
        Offer(fail, OfferOutcome.Accepted);
        await _gate.StartedAsync("lost-rerun", 1);
        await _gate.StartedAsync("lost-fail", 1);
        StopLedger();
        _outbox.ReceiveWhile(TimeSpan.FromMilliseconds(200), m => m);
        StartLedger();
        await _gate.ReattachedAsync("lost-rerun", 1);
        await _gate.ReattachedAsync("lost-fail", 1);

        // Both vanish: the rerun one runs again as attempt 2, the fail one ends interrupted.
        _gate.Release("lost-fail");
        var interrupted = FinalOf(fail.Command.Id).Outcome;
        Assert.Equal(("interrupted", "interrupted"), (interrupted.Status, interrupted.ErrorCode));
        Assert.Contains("vanished without a trace and on_interrupt is fail", interrupted.ErrorMessage);
        _gate.Release("lost-rerun");
        await _gate.StartedAsync("lost-rerun", 2);
        Assert.Equal("succeeded", FinalOf(rerun.Command.Id).Outcome.Status);
        AwaitCondition(() => _global.Free == 2 && _tenant.Used == 0, Wait);
    }

    private sealed class GateBlock : OperationBlock
    {
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _release = new();
        private readonly ConcurrentDictionary<(string, int), TaskCompletionSource> _started = new();
        private readonly ConcurrentDictionary<string, int> _runs = new();

        public override string Name => "gate";

        public override IReadOnlyList<BlockOp> Ops { get; } = [new("gate", (args, _) => new GateArgs(args.Clone()))];

        public override TimeSpan? TimeLimit(BlockCommand command) =>
            ((GateArgs)command.Args).Raw.TryGetProperty("timeout_ms", out var t) ? TimeSpan.FromMilliseconds(t.GetInt32()) : TimeSpan.FromMinutes(1);

        /// <summary>A gate with <c>survives</c> goes on when its ledger stops (it was detached, not cancelled), like an exec run under its supervisor.</summary>
        public override InterruptMeaning Interrupted(BlockCommand command) =>
            Survives(command) && _detached.ContainsKey(Key(command)) ? InterruptMeaning.Reattachable
            : ((GateArgs)command.Args).Raw.GetProperty("effect").GetBoolean() ? InterruptMeaning.MayHaveTakenEffect : InterruptMeaning.NoEffect;

        public override async Task<BlockOutcome> RunAsync(BlockRun run, CancellationToken cancel)
        {
            var key = Key(run);
            _runs.AddOrUpdate(key, 1, (_, n) => n + 1);
            _started.GetOrAdd((key, run.Attempt), _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            return await WaitAsync(run, cancel);
        }

        public override async Task<BlockOutcome> ReattachAsync(BlockRun run, CancellationToken cancel)
        {
            _reattached.GetOrAdd((Key(run), run.Attempt), _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            var outcome = await WaitAsync(run, cancel);
            return ((GateArgs)run.Args).Raw.TryGetProperty("lost", out var lost) && lost.GetBoolean()
                ? BlockOutcome.Lost("the gate vanished without a trace")
                : outcome;
        }

        private async Task<BlockOutcome> WaitAsync(BlockRun run, CancellationToken cancel)
        {
            var key = Key(run);
            var release = _release.GetOrAdd(key, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
            try
            {
                await release.Task.WaitAsync(cancel);
            }
            catch (OperationCanceledException) when (run.Detaching.IsCancellationRequested && Survives(run))
            {
                _detached[key] = true;
                throw;
            }
            return BlockOutcome.Succeeded(new { key, attempt = run.Attempt });
        }

        private readonly ConcurrentDictionary<string, bool> _detached = new();
        private readonly ConcurrentDictionary<(string, int), TaskCompletionSource> _reattached = new();

        public Task ReattachedAsync(string key, int attempt) =>
            _reattached.GetOrAdd((key, attempt), _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(Wait);

        private static bool Survives(BlockCommand command) =>
            ((GateArgs)command.Args).Raw.TryGetProperty("survives", out var s) && s.GetBoolean();

        public Task StartedAsync(string key, int attempt) =>
            _started.GetOrAdd((key, attempt), _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(Wait);

        public void Release(string key) => _release.GetOrAdd(key, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

        public int Runs(string key) => _runs.GetValueOrDefault(key);

        private static string Key(BlockCommand command) => ((GateArgs)command.Args).Raw.GetProperty("key").GetString()!;
    }

    private sealed record GateArgs(JsonElement Raw) : OpArgs
    {
        public override string Op => "gate";
    }
}
