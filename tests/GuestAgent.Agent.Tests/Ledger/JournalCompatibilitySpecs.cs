using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Hosting;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.Ledger;

/// <summary>
/// Journals written by agent 0.1.0 before stable manifests (Newtonsoft JSON naming each row's CLR
/// type; fixtures made by Fixtures/README.md) recover under the current code into the same ledger
/// state that release recovered them into (its dump, kept beside each fixture), and go on with
/// rows in the new format.
/// </summary>
public sealed class JournalCompatibilitySpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ga-journal-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Recovers the ledger's persistence id into a <see cref="LedgerState"/>, as CommandLedger does, and persists what it is sent.</summary>
    private sealed class RecoveryProbe : ReceivePersistentActor
    {
        private readonly LedgerState _state = new();
        private IActorRef _snapshotAsker = ActorRefs.Nobody;

        public RecoveryProbe(IActorRef report)
        {
            Recover<SnapshotOffer>(o => _state.Restore((LedgerSnapshotV1)o.Snapshot));
            Recover<ILedgerEvent>(_state.Apply);
            Recover<RecoveryCompleted>(_ => report.Tell(Dump(_state)));
            Command<ILedgerEvent>(e =>
            {
                var sender = Sender;
                Persist(e, persisted =>
                {
                    _state.Apply(persisted);
                    sender.Tell(Dump(_state));
                });
            });
            Command<string>(s => s == "snapshot", _ =>
            {
                _snapshotAsker = Sender;
                SaveSnapshot(_state.ToSnapshot());
            });
            Command<SaveSnapshotSuccess>(_ => _snapshotAsker.Tell("snapshot saved"));
            Command<SaveSnapshotFailure>(f => _snapshotAsker.Tell(f.Cause.ToString()));
        }

        public override string PersistenceId => "ledger-t1";
    }

    /// <summary>The whole state, in a fixed order: what two runs must agree on.</summary>
    internal static string Dump(LedgerState state)
    {
        var snapshot = state.ToSnapshot();
        var ordered = snapshot with
        {
            Commands = snapshot.Commands.OrderBy(c => c.CommandId).ToList(),
            Transfers = snapshot.Transfers?.OrderBy(t => t.Opened.TransferId).ToList(),
        };
        var json = JsonSerializer.SerializeToNode(ordered)!.AsObject();
        var seen = new JsonObject();
        foreach (var (id, value) in snapshot.Seen.OrderBy(kv => kv.Key))
        {
            seen[id.ToString()] = JsonSerializer.SerializeToNode(value);
        }
        json["Seen"] = seen;
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static string Fixture(string name) =>
        Path.Combine(RepoPaths.Root, "tests", "GuestAgent.Agent.Tests", "Ledger", "Fixtures", name);

    private async Task<(ActorSystem System, string Dump)> RecoverAsync(string journal)
    {
        var settings = new JournalSettings("sqlite", $"Data Source={journal};Pooling=False");
        JournalConfig.Prepare(settings);
        var system = ActorSystem.Create("journal-spec", ConfigurationFactory.ParseString(JournalConfig.Hocon(settings)));
        var inbox = Inbox.Create(system);
        system.ActorOf(Props.Create(() => new RecoveryProbe(inbox.Receiver)), "probe");
        var dump = (string)await inbox.ReceiveAsync(TimeSpan.FromSeconds(30));
        return (system, dump);
    }

    [Theory]
    [InlineData("journal-0.1.0-events.db")]
    [InlineData("journal-0.1.0-snapshot.db")]
    public async Task A_journal_written_by_0_1_0_recovers_with_every_command_in_the_same_state(string fixture)
    {
        var journal = Path.Combine(_dir, "journal.db");
        File.Copy(Fixture(fixture), journal);

        var (system, dump) = await RecoverAsync(journal);
        await system.Terminate();

        Assert.Equal(File.ReadAllText(Fixture(fixture + ".state.json")).ReplaceLineEndings(), dump.ReplaceLineEndings());
    }

    [Fact]
    public async Task Rows_written_now_follow_the_old_ones_and_both_recover_and_snapshot_again()
    {
        var journal = Path.Combine(_dir, "journal.db");
        File.Copy(Fixture("journal-0.1.0-events.db"), journal);
        var (system, _) = await RecoverAsync(journal);
        var inbox = Inbox.Create(system);
        var probe = await system.ActorSelection("/user/probe").ResolveOne(TimeSpan.FromSeconds(5));
        var replied = new CommandRepliedV1(Guid.Parse("00000000-0000-4000-8000-000000000014"), DateTimeOffset.Parse("2026-12-04T15:00:00Z"));
        probe.Tell(new CommandCompletedV1(replied.CommandId,
            new OutcomeV1("succeeded", "{\"exit_code\":0}", null, null, [new SpooledStreamV1("stdout", "/x", 3, 3, "ab", 0)]),
            replied.At), inbox.Receiver);
        probe.Tell(replied, inbox.Receiver);
        await inbox.ReceiveAsync(TimeSpan.FromSeconds(10));
        var live = (string)await inbox.ReceiveAsync(TimeSpan.FromSeconds(10));
        await system.Terminate();

        var (again, recovered) = await RecoverAsync(journal);
        var againInbox = Inbox.Create(again);
        (await again.ActorSelection("/user/probe").ResolveOne(TimeSpan.FromSeconds(5))).Tell("snapshot", againInbox.Receiver);
        Assert.Equal("snapshot saved", await againInbox.ReceiveAsync(TimeSpan.FromSeconds(10)));
        await again.Terminate();
        var (last, fromSnapshot) = await RecoverAsync(journal);
        await last.Terminate();

        Assert.Equal(live, recovered);
        Assert.Equal(live, fromSnapshot);
        var state = JsonNode.Parse(live)!;
        Assert.DoesNotContain(state["Commands"]!.AsArray(), c => (string)c!["CommandId"]! == replied.CommandId.ToString());
        Assert.Equal("succeeded", (string)state["Seen"]![replied.CommandId.ToString()]!["FinalStatus"]!);
        // The new rows and the new snapshot name their format, not a CLR type.
        Assert.Equal(["command-completed.v1", "command-replied.v1"], Rows(journal, "select manifest from journal where identifier = 7410 order by ordering"));
        // Snapshots now have a file of their own (JournalConfig.SnapshotConnectionString).
        Assert.Equal(["ledger-snapshot.v1"], Rows(Path.ChangeExtension(journal, ".snapshots.db"), "select manifest from snapshot where serializer_id = 7410"));
    }

    private static List<string> Rows(string journal, string sql)
    {
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={journal};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(reader.GetString(0));
        }
        return rows;
    }
}
