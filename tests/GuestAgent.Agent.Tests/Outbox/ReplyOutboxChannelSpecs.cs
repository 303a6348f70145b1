using System.Collections.Concurrent;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Metrics;
using GuestAgent.Agent.Outbox;
using GuestAgent.Agent.Transport;
using GuestAgent.Protocol;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Tests.Outbox;

/// <summary>
/// The outbox over a transport it knows only through <see cref="IReplyChannel"/>: a fake channel
/// that fails as told. What it must do whatever the transport: retry a fault until it passes, in
/// order; drop a reply the transport will never take (and let the ledger forget it) without
/// holding up the rest; pack posts by the channel's own size accounting.
/// </summary>
public sealed class ReplyOutboxChannelSpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly ReplyFactory _replies = new("spec-agent", TimeProvider.System);
    private readonly FakeChannel _channel = new();

    private readonly AgentMetrics _metrics = new();

    /// <param name="acceptedLinger">Longer than the agent's 25 ms where a spec relies on it: a loaded machine can take that long to read a final reply's spool.</param>
    private IActorRef StartOutbox(TimeSpan? acceptedLinger = null)
    {
        var binding = new TenantBinding("t1", "http://127.0.0.1:1", "p", new object(), "cmd", "rep", 4, new HashSet<string>(),
            new Dictionary<string, object?>());
        return Sys.ActorOf(ReplyOutbox.Props(binding, _channel, _replies, 600, TimeSpan.FromMilliseconds(200), _metrics, acceptedLinger));
    }

    private static OutcomeV1 Succeeded => new("succeeded", "{}", null, null, []);

    [Fact]
    public void A_fault_is_retried_until_the_transport_takes_the_replies_in_order()
    {
        _channel.Fail(2, permanent: false);
        var outbox = StartOutbox();
        var id = Guid.NewGuid();

        outbox.Tell(new OutboxProtocol.Deliver(id, "rep", [_replies.Accepted(id)], HasFinal: false), TestActor);
        outbox.Tell(new OutboxProtocol.DeliverFinished(id, "rep", Succeeded, 1024), TestActor);

        ExpectMsg<FinalReplyDelivered>(Wait);
        Assert.Equal(3, _channel.Attempts);
        Assert.Equal([0L, 1L], _channel.Posted.Select(p => p.Body["seq"]!.GetValue<long>()));
    }

    [Fact]
    public void Failed_posts_count_as_transport_errors_and_their_replies_as_retried_unless_refused_for_good()
    {
        _channel.Fail(2, permanent: false);
        var outbox = StartOutbox();
        var id = Guid.NewGuid();

        outbox.Tell(new OutboxProtocol.DeliverFinished(id, "rep", Succeeded, 1024), TestActor);
        ExpectMsg<FinalReplyDelivered>(Wait);
        var afterFaults = _metrics.Of("t1");
        _channel.Fail(1, permanent: true);
        outbox.Tell(new OutboxProtocol.DeliverFinished(Guid.NewGuid(), "rep", Succeeded, 1024), TestActor);
        ExpectMsg<FinalReplyDelivered>(Wait);

        Assert.Equal((2L, 2L), (afterFaults.RepliesRetried, afterFaults.TransportErrors));
        Assert.Equal((2L, 3L), (_metrics.Of("t1").RepliesRetried, _metrics.Of("t1").TransportErrors));
        Assert.Equal(0L, _metrics.Of("t2").RepliesRetried);
    }

    [Fact]
    public void A_reply_the_transport_refuses_for_good_is_dropped_and_the_next_command_is_answered()
    {
        _channel.Fail(1, permanent: true);
        var outbox = StartOutbox();
        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());

        outbox.Tell(new OutboxProtocol.DeliverFinished(first, "rep", Succeeded, 1024), TestActor);
        Assert.Equal(first, ExpectMsg<FinalReplyDelivered>(Wait).CommandId);
        outbox.Tell(new OutboxProtocol.DeliverFinished(second, "rep", Succeeded, 1024), TestActor);
        Assert.Equal(second, ExpectMsg<FinalReplyDelivered>(Wait).CommandId);

        Assert.Equal([second.ToString()], _channel.Posted.Select(p => p.Body["id"]!.GetValue<string>()));
    }

    [Fact]
    public void Posts_are_packed_within_the_channels_own_limit()
    {
        _channel.MaxPostBytes = 1200;
        _channel.Latency = TimeSpan.FromMilliseconds(100);
        var outbox = StartOutbox();
        var ids = Enumerable.Range(0, 12).Select(_ => Guid.NewGuid()).ToList();

        foreach (var id in ids)
        {
            outbox.Tell(new OutboxProtocol.DeliverFinished(id, "rep", Succeeded, 1024), TestActor);
        }
        for (var i = 0; i < ids.Count; i++)
        {
            ExpectMsg<FinalReplyDelivered>(Wait);
        }

        Assert.All(_channel.Batches, b => Assert.True(_channel.SizeOf(b) <= 1200, $"a post of {_channel.SizeOf(b)} bytes"));
        Assert.True(_channel.Batches.Count > 1 && _channel.Batches.Any(b => b.Count > 1), "several per post, and more than one post");
        Assert.Equal(ids.Select(i => i.ToString()).Order(), _channel.Posted.Select(p => p.Body["id"]!.GetValue<string>()).Order());
    }

    [Fact]
    public void A_quick_runs_accepted_and_final_replies_go_in_one_post_and_a_slow_runs_accepted_goes_alone_after_the_linger()
    {
        var outbox = StartOutbox(acceptedLinger: TimeSpan.FromSeconds(1));
        var (quick, slow) = (Guid.NewGuid(), Guid.NewGuid());

        outbox.Tell(new OutboxProtocol.Deliver(quick, "rep", [_replies.Accepted(quick)], HasFinal: false), TestActor);
        outbox.Tell(new OutboxProtocol.DeliverFinished(quick, "rep", Succeeded, 1024), TestActor);
        ExpectMsg<FinalReplyDelivered>(Wait);
        outbox.Tell(new OutboxProtocol.Deliver(slow, "rep", [_replies.Accepted(slow)], HasFinal: false), TestActor);
        AwaitCondition(() => _channel.Posted.Count == 3, Wait);

        lock (_channel.Batches)
        {
            Assert.Equal([2, 1], _channel.Batches.Select(b => b.Count));
        }
        Assert.Equal([(quick.ToString(), 0L), (quick.ToString(), 1L), (slow.ToString(), 0L)],
            _channel.Posted.Select(p => (p.Body["id"]!.GetValue<string>(), p.Body["seq"]!.GetValue<long>())));
    }

    /// <summary>A transport that counts a post as its replies' JSON text plus a comma each, and fails the next posts when told.</summary>
    private sealed class FakeChannel : IReplyChannel
    {
        private int _failures;
        private bool _permanent;

        public int MaxPostBytes { get; set; } = 256 * 1024;

        public int Attempts;

        public ConcurrentQueue<OutboundReply> Posted { get; } = new();

        public List<IReadOnlyList<OutboundReply>> Batches { get; } = [];

        public void Fail(int times, bool permanent) => (_failures, _permanent) = (times, permanent);

        public int SizeOf(IReadOnlyList<OutboundReply> batch) => 2 + batch.Sum(r => r.Body.ToJsonString().Length + 1);

        /// <summary>How long a post takes: replies that arrive meanwhile wait, and are packed into the next post.</summary>
        public TimeSpan Latency { get; set; } = TimeSpan.Zero;

        public async Task PostAsync(string queue, IReadOnlyList<OutboundReply> batch, CancellationToken ct = default)
        {
            Interlocked.Increment(ref Attempts);
            await Task.Delay(Latency, ct);
            if (_failures > 0)
            {
                _failures--;
                throw new ReplyPostException("the fake transport fails on purpose", _permanent);
            }
            lock (Batches)
            {
                Batches.Add(batch.ToList());
            }
            foreach (var reply in batch)
            {
                Posted.Enqueue(reply);
            }
        }
    }
}
