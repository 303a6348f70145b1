using System.Text.Json.Nodes;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Tenancy;
using GuestAgent.Agent.Transports;
using GuestAgent.Agent.Transports.Zaqar;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using GuestAgent.Testing;
using GuestAgent.Zaqar;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Tests.Transports.Zaqar;

/// <summary>
/// While a file put arrives, the poller follows an empty claim after <c>poll.transfer-interval</c>
/// instead of its idle wait: the controller posts the next chunks as the last are answered. Only
/// for a second after a chunk with more to come, so a put whose controller went away stops costing
/// requests. The poller here polls every 4 s otherwise, which makes the difference plain; it
/// counts its claims in the agent's metrics (ping's <c>queue_polls</c>). A probe stands for the ledger.
/// </summary>
public sealed class TransferPollingSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private static readonly TimeSpan SlowPoll = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan TransferPoll = TimeSpan.FromMilliseconds(20);

    private readonly string _stateDir = Directory.CreateTempSubdirectory("ga-xfer-").FullName;
    private readonly AgentLifetime _lifetime = new(4);

    public new void Dispose()
    {
        base.Dispose();
        Directory.Delete(_stateDir, recursive: true);
    }

    private static async Task PostChunkAsync(ZaqarClient zaqar, string queue, int index, int count)
    {
        var now = DateTimeOffset.UtcNow;
        var chunk = new FilePutArgs
        {
            TransferId = Guid.NewGuid(),
            Path = "/srv/spec/file.bin",
            Size = count * 4L,
            Sha256 = new string('0', 64),
            ChunkBytes = 4,
            Index = index,
            Count = count,
            DataB64 = Convert.ToBase64String("abcd"u8),
        };
        await zaqar.PostAsync(queue, [new OutgoingMessage(JsonNode.Parse(Command.Call(chunk, "replies", now, now.AddMinutes(10)).ToJson()))]);
    }

    private (Akka.TestKit.TestProbe Ledger, string Queue, ZaqarClient Zaqar) StartPoller()
    {
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue("cmd");
        var zaqar = ZaqarBed.Shared.Client(project);
        var ledger = CreateTestProbe();
        var poll = new PollSettings(SlowPoll, SlowPoll, 0, TimeSpan.FromSeconds(1), ClaimTtlSeconds: 60, ClaimGraceSeconds: 60,
            TransferInterval: TransferPoll);
        Sys.ActorOf(QueuePoller.Props(ReceiverSpecSettings.ZaqarBinding("p", queue), poll, ProtocolLimits.Default, OpCatalog.Standard, zaqar,
            ledger.Ref, _lifetime, new OperationSlots(4, open: true), new OpenClaims(OpenClaims.PathFor(_stateDir, "t1"), TimeProvider.System),
            new PoisonWatch(), TimeProvider.System));
        return (ledger, queue, zaqar);
    }

    private long Polls => _lifetime.Metrics.Of("t1").QueuePolls;

    /// <summary>Takes the chunk's offer and answers it as a ledger that recorded it would.</summary>
    private static void Record(Akka.TestKit.TestProbe ledger)
    {
        var offer = ledger.ExpectMsg<Offer>(TimeSpan.FromSeconds(20));
        ledger.LastSender.Tell(new Offered(offer.MessageId, OfferOutcome.Accepted));
    }

    /// <summary>A poller that claimed and recorded a put's first chunk of <paramref name="count"/> 300 ms ago.</summary>
    private async Task<(Akka.TestKit.TestProbe Ledger, string Queue, ZaqarClient Zaqar)> AfterFirstChunkAsync(int count)
    {
        var (ledger, queue, zaqar) = StartPoller();
        await PostChunkAsync(zaqar, queue, index: 0, count: count);
        Record(ledger);
        await Task.Delay(300);
        return (ledger, queue, zaqar);
    }

    [Fact]
    public async Task While_a_put_arrives_its_next_chunk_is_claimed_without_the_idle_wait()
    {
        var (ledger, queue, zaqar) = await AfterFirstChunkAsync(count: 3);

        await PostChunkAsync(zaqar, queue, index: 1, count: 3);

        // Idle polling would take it at the next 4 s poll; a claim's round trip on a loaded machine is well under 2 s.
        var offer = ledger.ExpectMsg<Offer>(TimeSpan.FromSeconds(2));
        Assert.Equal(1, ((FilePutArgs)offer.Command.Args).Index);
    }

    [Fact]
    public async Task After_the_last_chunk_of_a_put_polling_is_slow_again()
    {
        var (ledger, queue, zaqar) = await AfterFirstChunkAsync(count: 1);

        await PostChunkAsync(zaqar, queue, index: 0, count: 1);

        ledger.ExpectNoMsg(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task A_put_whose_chunks_stop_coming_stops_the_quick_claims_after_a_second()
    {
        var (ledger, queue, zaqar) = StartPoller();
        await PostChunkAsync(zaqar, queue, index: 0, count: 100);
        Record(ledger);

        var start = Polls;
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var quick = Polls - start;
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var after = Polls - start - quick;

        // Every 20 ms (and a claim's round trip, long on a loaded machine) for a second; then every 4 s.
        Assert.True(quick >= 5, $"{quick} claims in the 1.5 s after the chunk");
        Assert.True(after <= 2, $"{after} claims in the 2.5 s after those");
    }
}
