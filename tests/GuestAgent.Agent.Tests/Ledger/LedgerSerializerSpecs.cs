using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Hosting;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Ledger.Journal;
using GuestAgent.Testing;
using Microsoft.Data.Sqlite;

namespace GuestAgent.Agent.Tests.Ledger;

/// <summary>The journal's storage format: every persisted type has a stable manifest, and Akka uses it.</summary>
public sealed class LedgerSerializerSpecs : IDisposable
{
    private static readonly DateTimeOffset At = DateTimeOffset.Parse("2026-12-04T15:00:00.1234567+00:00");
    private static readonly Guid A = Guid.Parse("00000000-0000-4000-8000-0000000000aa");
    private static readonly OutcomeV1 Outcome = new("failed", "{\"exit_code\":3}", "nonzero_exit", "exit 3",
        [new SpooledStreamV1("stdout", "/var/lib/x", 10, 5, "ff", 1)]);
    private static readonly TransferOpenedV1 Opened = new(A, A, "/p", "/p", "/p.part", 100, "aa", 50, 2, "0640", "root", null, true, At);

    private readonly ActorSystem _system = ActorSystem.Create("serializer-spec",
        ConfigurationFactory.ParseString(JournalConfig.Hocon(new JournalSettings("sqlite", "Data Source=:memory:"))));

    public void Dispose() => _system.Terminate().Wait();

    public static TheoryData<object> Persisted => new()
    {
        new CommandAcceptedV1(A, "{\"v\":1}", "m1", At),
        new ChunkCommandAcceptedV1(A, "{\"v\":1}", "m1", At),
        new CommandRejectedV1(A, "replies", "expired", "too late", At),
        new CommandStartedV1(A, 2, At),
        new CommandCompletedV1(A, Outcome, At),
        new CommandCancelledV1(A, Outcome with { Spools = [] }, At),
        new CommandCancelRequestedV1(A, Guid.NewGuid(), At),
        new CommandTimedOutV1(A, Outcome, At),
        new CommandInterruptedV1(A, Outcome, At),
        new CommandRepliedV1(A, At),
        Opened,
        new TransferChunkStoredV1(A, A, 1, At),
        new TransferCompletedV1(A, A, 100, "aa", At),
        new TransferDiscardedV1(A, A, "idle", At),
        new LedgerSnapshotV1(
            [new CommandEntryV1(A, "{}", "Started", 1, Outcome, At, Guid.NewGuid()), new CommandEntryV1(A, "{}", "Accepted", 0, null, At, DataOmitted: true)],
            new Dictionary<Guid, SeenV1> { [A] = new(At, "succeeded", 1) },
            [new TransferV1(Opened, "0-1", At, 100, "aa", At)]),
    };

    [Theory]
    [MemberData(nameof(Persisted))]
    public void Every_persisted_type_is_written_by_the_ledger_serializer_under_its_manifest_and_read_back_whole(object persisted)
    {
        var serializer = _system.Serialization.FindSerializerFor(persisted);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, persisted);
        var bytes = serializer.ToBinary(persisted);

        var read = _system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);

        Assert.IsType<LedgerSerializer>(serializer);
        Assert.Contains(manifest, LedgerSerializer.Manifests);
        Assert.DoesNotContain("GuestAgent", System.Text.Encoding.UTF8.GetString(bytes));
        Assert.Equal(persisted.GetType(), read.GetType());
        Assert.Equal(JsonSerializer.Serialize(persisted, persisted.GetType()), JsonSerializer.Serialize(read, read.GetType()));
    }

    [Fact]
    public void Every_type_the_ledger_persists_has_a_manifest()
    {
        var persisted = typeof(ILedgerEvent).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && (typeof(ILedgerEvent).IsAssignableFrom(t) || t == typeof(LedgerSnapshotV1)))
            .ToList();
        var covered = ((IEnumerable<object[]>)Persisted).Select(row => row[0].GetType()).ToHashSet();

        Assert.Equal(15, persisted.Count);
        Assert.All(persisted, t => Assert.Contains(t, covered));
    }

    [Fact]
    public void Every_row_of_a_0_1_0_journal_is_read_by_its_legacy_name_not_its_clr_type()
    {
        var journal = Path.Combine(RepoPaths.Root, "tests", "GuestAgent.Agent.Tests", "Ledger", "Fixtures", "journal-0.1.0-events.db");
        using var db = new SqliteConnection($"Data Source={journal};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "select identifier, message from journal order by ordering";
        using var rows = cmd.ExecuteReader();
        var read = new List<object>();
        while (rows.Read())
        {
            Assert.Equal(1, rows.GetInt32(0));
            read.Add(LegacyJournalJsonSerializer.TryReadLedgerRow((byte[])rows.GetValue(1))!);
        }

        // Akka's JSON serializer (id 1, what every such row names) is the legacy reader.
        var json = _system.Serialization.FindSerializerForType(typeof(LedgerSerializerSpecs));
        Assert.Equal((1, typeof(LegacyJournalJsonSerializer)), (json.Identifier, json.GetType()));
        Assert.Equal(60, read.Count);
        Assert.All(read, r => Assert.IsAssignableFrom<ILedgerEvent>(r));
        Assert.Equal(13, read.Select(r => r.GetType()).Distinct().Count());
        var started = read.OfType<CommandStartedV1>().Last();
        Assert.Equal(1, started.Attempt);
    }
}
