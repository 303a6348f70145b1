using System.Text;
using Akka.Actor;
using Akka.Pattern;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Transports;
using GuestAgent.Agent.Transports.Zaqar;
using GuestAgent.Agent.Tenancy;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using GuestAgent.Testing;
using GuestAgent.Zaqar;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Tests.Transports.Zaqar;

/// <summary>
/// The poller against a real Zaqar queue, with a probe as its ledger and a judge that fails as a
/// defect would on one body. An exception judging a message ends as that message's rejection; one
/// that escapes (out of memory) restarts the poller, and a message it died holding twice is
/// dead-lettered: deleted unjudged, so the commands behind it are offered.
/// </summary>
public sealed class PoisonWatchSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("ga-poison-").FullName;

    public new void Dispose()
    {
        base.Dispose();
        Directory.Delete(_stateDir, recursive: true);
    }

    private static Command Ping()
    {
        var now = DateTimeOffset.UtcNow;
        return Command.Call(new PingArgs(), "replies", now, now.AddMinutes(10));
    }

    private (ZaqarClient Zaqar, string Queue, IActorRef Poller) StartPoller(IActorRef ledger, Func<ReadOnlyMemory<byte>, DateTimeOffset, CommandParseResult> parse,
        PoisonWatch watch)
    {
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue("cmd");
        var zaqar = ZaqarBed.Shared.Client(project);
        var binding = ReceiverSpecSettings.ZaqarBinding(project, queue);
        var poll = ReceiverSpecSettings.Poll();
        var lifetime = new AgentLifetime(4);
        var poller = Sys.ActorOf(BackoffSupervisor.Props(Backoff.OnFailure(
            QueuePoller.Props(binding, poll, ProtocolLimits.Default, OpCatalog.Standard, zaqar, ledger, lifetime, new OperationSlots(4),
                new OpenClaims(OpenClaims.PathFor(_stateDir, "t1"), TimeProvider.System), watch, TimeProvider.System, parse),
            "poller", TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), 0, -1)));
        return (zaqar, queue, poller);
    }

    private static Func<ReadOnlyMemory<byte>, DateTimeOffset, CommandParseResult> FailingOn(string marker, Func<Exception> failure) =>
        (body, now) => Encoding.UTF8.GetString(body.Span).Contains(marker) ? throw failure() : CommandParser.Parse(body.Span, now);

    [Fact]
    public async Task An_exception_judging_a_message_rejects_that_message_alone_as_internal_error()
    {
        var ledger = CreateTestProbe();
        var (zaqar, queue, _) = StartPoller(ledger.Ref, FailingOn("boom", () => new InvalidOperationException("boom")), new PoisonWatch());
        var good = Ping();
        var ids = await zaqar.PostAsync(queue, [OutgoingMessage.Of(new { boom = 1 }), new OutgoingMessage(System.Text.Json.Nodes.JsonNode.Parse(good.ToJson()))]);

        var rejected = ledger.ExpectMsg<OfferRejected>(TimeSpan.FromSeconds(20));
        var offered = ledger.ExpectMsg<Offer>(TimeSpan.FromSeconds(20));

        Assert.Equal((ids[0], RejectCodes.InternalError), (rejected.MessageId, rejected.Rejection.Code));
        Assert.Contains("boom", rejected.Rejection.Message);
        Assert.Equal((ids[1], good.Id), (offered.MessageId, offered.Command.Id));
    }

    [Fact]
    public async Task A_message_that_restarts_the_poller_twice_is_dead_lettered_and_the_command_behind_it_is_offered()
    {
        var ledger = CreateTestProbe();
        var watch = new PoisonWatch();
        var (zaqar, queue, _) = StartPoller(ledger.Ref, FailingOn("poison", () => new OutOfMemoryException("poison")), watch);
        var good = Ping();
        await zaqar.PostAsync(queue, [OutgoingMessage.Of(new { poison = 1 }), new OutgoingMessage(System.Text.Json.Nodes.JsonNode.Parse(good.ToJson()))]);

        // Claimed with the poison message each time; offered only once the poison is gone.
        var offered = ledger.ExpectMsg<Offer>(TimeSpan.FromSeconds(30));
        ledger.Reply(new Offered(offered.MessageId, OfferOutcome.Accepted));

        Assert.Equal(good.Id, offered.Command.Id);
        await AwaitAssertAsync(async () => Assert.Equal(0, (await zaqar.GetQueueStatsAsync(queue)).Total),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200));
        ledger.ExpectNoMsg(TimeSpan.FromMilliseconds(500));
    }
}
