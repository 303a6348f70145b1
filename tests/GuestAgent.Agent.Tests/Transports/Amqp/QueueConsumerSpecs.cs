using System.Text;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Tenancy;
using GuestAgent.Agent.Transports;
using GuestAgent.Agent.Transports.Amqp;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using GuestAgent.Testing;
using RabbitMQ.Client;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Tests.Transports.Amqp;

/// <summary>
/// The AMQP consumer against a real queue on the shared bed, with a probe as its ledger: what it
/// does between a delivery and the ledger's answer, which the end-to-end tests cannot hold still.
/// A delivery is acked only once the ledger answered (a duplicate too, then dropped), one left
/// unanswered goes back to the queue, and no more are in hand than there are free slots.
/// </summary>
public sealed class QueueConsumerSpecs : Akka.TestKit.Xunit2.TestKit, IClassFixture<QueueConsumerSpecs.Guest>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    /// <summary>Long enough for a delivery the consumer should not get to arrive if it were wrongly asked for.</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    private readonly RabbitBed _bed = RabbitBed.Shared;
    private readonly RabbitGuest _guest;

    public QueueConsumerSpecs(Guest guest)
    {
        _guest = guest.Provisioned;
        // One guest for the class (provisioning takes a second or two); each spec starts from an empty queue.
        using var connection = _bed.ConnectAdminAsync(_guest.VirtualHost).GetAwaiter().GetResult();
        using var channel = connection.CreateChannelAsync().GetAwaiter().GetResult();
        channel.QueuePurgeAsync(_guest.CommandQueue).GetAwaiter().GetResult();
    }

    /// <summary>The guest the class's specs consume from, one after the other.</summary>
    public sealed class Guest
    {
        public RabbitGuest Provisioned { get; } = RabbitBed.Shared.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
    }

    private IActorRef StartConsumer(IActorRef ledger, OperationSlots tenant, AgentLifetime lifetime)
    {
        var settings = new AmqpSettings("127.0.0.1", _bed.AmqpPort, false, _guest.VirtualHost, _guest.UserName, _guest.Password,
            _guest.CommandQueue, _guest.ReplyExchange, _guest.ReplyExchange) { Heartbeat = TimeSpan.FromSeconds(5), MaxReconnectDelay = TimeSpan.FromSeconds(2) };
        var binding = ReceiverSpecSettings.Binding($"amqp://127.0.0.1:{_bed.AmqpPort}", _guest.VirtualHost, settings, "commands",
            tenant.Capacity, AmqpTransport.TransportName);
        return Sys.ActorOf(QueueConsumer.Props(binding, ReceiverSpecSettings.Poll(), ProtocolLimits.Default, OpCatalog.Standard, ledger, lifetime, tenant, new PoisonWatch(),
            () => Connections.Factory(settings, "spec"), TimeProvider.System));
    }

    /// <summary>Publishes pings (unsigned: the binding takes them) to the guest's command exchange, confirmed; their ids in order.</summary>
    private async Task<List<Guid>> PublishPingsAsync(int count)
    {
        await using var connection = await _bed.ConnectAdminAsync(_guest.VirtualHost);
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
        {
            var now = DateTimeOffset.UtcNow;
            var ping = Command.Call(new PingArgs(), "replies", now, now.AddMinutes(10));
            await channel.BasicPublishAsync(_guest.CommandExchange, _guest.CommandQueue, mandatory: true,
                new BasicProperties { Persistent = true }, Encoding.UTF8.GetBytes(ping.ToJson()));
            ids.Add(ping.Id);
        }
        return ids;
    }

    /// <summary>The queue's ready messages and consumers, as the broker counts them.</summary>
    private async Task<(uint Ready, uint Consumers)> QueueAsync()
    {
        await using var connection = await _bed.ConnectAdminAsync(_guest.VirtualHost);
        await using var channel = await connection.CreateChannelAsync();
        var q = await channel.QueueDeclarePassiveAsync(_guest.CommandQueue);
        return (q.MessageCount, q.ConsumerCount);
    }

    /// <summary>Stops the consumer and waits until the broker has dropped its consumer, which requeues whatever it held unacked.</summary>
    private async Task<uint> StopAndCountReadyAsync(IActorRef consumer)
    {
        Watch(consumer);
        // A PoisonPill, not Sys.Stop: it comes after the messages told before it (Stop would overtake them).
        consumer.Tell(PoisonPill.Instance);
        ExpectTerminated(consumer, Wait);
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var (ready, consumers) = await QueueAsync();
            if (consumers == 0)
            {
                return ready;
            }
            Assert.True(DateTime.UtcNow < deadline, "the broker still lists the stopped consumer");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_delivery_is_acked_only_once_the_ledger_answered_and_one_left_unanswered_goes_back_to_the_queue()
    {
        var ledger = CreateTestProbe();
        var consumer = StartConsumer(ledger.Ref, new OperationSlots(4), new AgentLifetime(8));
        var ids = await PublishPingsAsync(2);

        var first = ledger.ExpectMsg<Offer>(Wait);
        var second = ledger.ExpectMsg<Offer>(Wait);
        Assert.Equal(ids, [first.Command.Id, second.Command.Id]);
        // Both in the consumer's hand, neither acked: the broker has none ready.
        Assert.Equal((0u, 1u), await QueueAsync());
        consumer.Tell(new Offered(first.MessageId, OfferOutcome.Accepted), ledger);

        Assert.Equal(1u, await StopAndCountReadyAsync(consumer));
        await using var connection = await _bed.ConnectAdminAsync(_guest.VirtualHost);
        await using var channel = await connection.CreateChannelAsync();
        var left = await channel.BasicGetAsync(_guest.CommandQueue, autoAck: true);
        Assert.Contains(ids[1].ToString(), Encoding.UTF8.GetString(left!.Body.Span));
    }

    [Fact]
    public async Task A_duplicate_is_acked_and_dropped()
    {
        var ledger = CreateTestProbe();
        var consumer = StartConsumer(ledger.Ref, new OperationSlots(4), new AgentLifetime(8));
        await PublishPingsAsync(1);

        var offer = ledger.ExpectMsg<Offer>(Wait);
        consumer.Tell(new Offered(offer.MessageId, OfferOutcome.Duplicate), ledger);

        ledger.ExpectNoMsg(Quiet);
        Assert.Equal(0u, await StopAndCountReadyAsync(consumer));
    }

    [Fact]
    public async Task No_more_deliveries_are_in_hand_than_free_slots_and_with_none_free_the_broker_keeps_them()
    {
        var ledger = CreateTestProbe();
        var tenant = new OperationSlots(2);
        var consumer = StartConsumer(ledger.Ref, tenant, new AgentLifetime(8));
        await PublishPingsAsync(5);

        // Two slots free: two deliveries, and no third while both wait for the ledger.
        var a = ledger.ExpectMsg<Offer>(Wait);
        var b = ledger.ExpectMsg<Offer>(Wait);
        ledger.ExpectNoMsg(Quiet);
        Assert.Equal((3u, 1u), await QueueAsync());

        // The ledger accepts a, which takes a slot: one free, and b still in hand, so nothing new comes.
        Assert.True(tenant.TryAcquire());
        consumer.Tell(new Offered(a.MessageId, OfferOutcome.Accepted), ledger);
        ledger.ExpectNoMsg(Quiet);

        // b takes the last slot: the consumer stops consuming, the rest stay in the broker.
        Assert.True(tenant.TryAcquire());
        consumer.Tell(new Offered(b.MessageId, OfferOutcome.Accepted), ledger);
        await AwaitAssertAsync(async () => Assert.Equal((3u, 0u), await QueueAsync()), Wait);
        ledger.ExpectNoMsg(Quiet);

        // A slot given back: exactly one more delivery.
        tenant.Release();
        ledger.ExpectMsg<Offer>(Wait);
        ledger.ExpectNoMsg(Quiet);
        Assert.Equal((2u, 1u), await QueueAsync());
    }
}
