using System.Text.Json.Nodes;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Hosting;
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
/// The poller's first claim while the ledger recovers: sent at once when the journal was created by
/// this start (nothing to recover, so the whole tenant cap is free), held back as before when the
/// journal existed or the ledger has recovered once already (a restart after a journal fault).
/// A probe stands for the ledger: an offer reaching it means the claim was made.
/// </summary>
public sealed class EarlyClaimSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("ga-early-").FullName;

    public new void Dispose()
    {
        base.Dispose();
        Directory.Delete(_stateDir, recursive: true);
    }

    private async Task<(string Queue, ZaqarClient Zaqar)> QueueWithOnePingAsync()
    {
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue("cmd");
        var zaqar = ZaqarBed.Shared.Client(project);
        await PostPingAsync(zaqar, queue);
        return (queue, zaqar);
    }

    private static async Task PostPingAsync(ZaqarClient zaqar, string queue)
    {
        var now = DateTimeOffset.UtcNow;
        await zaqar.PostAsync(queue, [new OutgoingMessage(JsonNode.Parse(Command.Call(new PingArgs(), "replies", now, now.AddMinutes(10)).ToJson()))]);
    }

    private void StartPoller(string queue, ZaqarClient zaqar, IActorRef ledger, OperationSlots tenant, bool journalCreated,
        TimeSpan? maxInterval = null)
    {
        var binding = ReceiverSpecSettings.ZaqarBinding("p", queue);
        var poll = ReceiverSpecSettings.Poll(maxInterval);
        var lifetime = new AgentLifetime(4) { JournalCreated = journalCreated };
        Sys.ActorOf(QueuePoller.Props(binding, poll, ProtocolLimits.Default, OpCatalog.Standard, zaqar, ledger, lifetime, tenant,
            new OpenClaims(OpenClaims.PathFor(_stateDir, "t1"), TimeProvider.System), new PoisonWatch(), TimeProvider.System));
    }

    [Fact]
    public async Task With_a_journal_created_by_this_start_the_first_claim_goes_out_while_the_ledger_recovers()
    {
        var (queue, zaqar) = await QueueWithOnePingAsync();
        var ledger = CreateTestProbe();

        StartPoller(queue, zaqar, ledger.Ref, new OperationSlots(4, open: false), journalCreated: true);

        var offer = ledger.ExpectMsg<Offer>(TimeSpan.FromSeconds(20));
        var poller = ledger.LastSender;
        // Still in Zaqar, claimed: deleted only once the ledger has recorded it.
        ledger.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, (await zaqar.GetQueueStatsAsync(queue)).Total);
        poller.Tell(new Offered(offer.MessageId, OfferOutcome.Accepted));
        await AwaitAssertAsync(async () => Assert.Equal(0, (await zaqar.GetQueueStatsAsync(queue)).Total),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task With_a_journal_that_existed_nothing_is_claimed_until_the_ledger_has_recovered()
    {
        var (queue, zaqar) = await QueueWithOnePingAsync();
        var ledger = CreateTestProbe();
        var tenant = new OperationSlots(4, open: false);

        StartPoller(queue, zaqar, ledger.Ref, tenant, journalCreated: false);

        ledger.ExpectNoMsg(TimeSpan.FromSeconds(1));
        tenant.Open();
        ledger.ExpectMsg<Offer>(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task After_the_first_recovery_a_restarting_ledger_holds_claims_back_again()
    {
        var (queue, zaqar) = await QueueWithOnePingAsync();
        var ledger = CreateTestProbe();
        var tenant = new OperationSlots(4, open: false);
        // The ledger recovered once, then restarted (a journal fault): its recovery may bring commands back.
        tenant.Open();
        tenant.Reset();

        StartPoller(queue, zaqar, ledger.Ref, tenant, journalCreated: true);

        ledger.ExpectNoMsg(TimeSpan.FromSeconds(1));
        tenant.Open();
        ledger.ExpectMsg<Offer>(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task The_end_of_the_first_recovery_brings_a_claim_at_once_however_long_the_empty_claims_before_it_made_the_wait()
    {
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue("cmd");
        var zaqar = ZaqarBed.Shared.Client(project);
        var ledger = CreateTestProbe();
        var tenant = new OperationSlots(4, open: false);
        StartPoller(queue, zaqar, ledger.Ref, tenant, journalCreated: true, maxInterval: TimeSpan.FromSeconds(30));
        // Empty claims every 50, 100, 200 ... 3200 ms: by now the next one is more than 6 s away.
        await Task.Delay(TimeSpan.FromSeconds(6.5));
        await PostPingAsync(zaqar, queue);

        tenant.Open();

        // Well before that next claim, with room for a claim on a Zaqar that other specs keep busy.
        ledger.ExpectMsg<Offer>(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void Prepare_says_whether_it_created_the_journal()
    {
        var journal = new JournalSettings("sqlite", $"Data Source={Path.Combine(_stateDir, "db", "journal.db")};Pooling=False");

        Assert.True(JournalConfig.Prepare(journal));
        Assert.False(JournalConfig.Prepare(journal));
        Assert.False(JournalConfig.Prepare(new JournalSettings("postgresql", "Host=127.0.0.1")));
    }
}
