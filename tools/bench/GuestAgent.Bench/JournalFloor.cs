using System.Diagnostics;
using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Hosting;
using Microsoft.Data.Sqlite;

namespace GuestAgent.Bench;

/// <summary>
/// What one journal write costs the ledger, with no agent: a row inserted and committed through
/// Microsoft.Data.Sqlite alone (WAL, fsync per commit, as the journal's file is), then an event
/// persisted through Akka.Persistence.Sql configured as the agent configures it
/// (<see cref="JournalConfig"/>), from the persist call to its callback, one after the other.
/// Every accepted command waits for one such write before it starts, and another before its final
/// reply goes. BENCH_JOURNAL_HOCON adds configuration over the agent's (to try a setting).
/// </summary>
public static class JournalFloor
{
    public static async Task RunAsync(int writes)
    {
        var dir = Directory.CreateTempSubdirectory("ga-journal-floor-").FullName;
        try
        {
            RawSqlite(Path.Combine(dir, "raw.db"), writes);
            await PersistedAsync(Path.Combine(dir, "journal.db"), writes);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void RawSqlite(string file, int writes)
    {
        using var connection = new SqliteConnection($"Data Source={file}");
        connection.Open();
        Execute(connection, "PRAGMA journal_mode=WAL;");
        Execute(connection, "CREATE TABLE journal (ordering INTEGER PRIMARY KEY AUTOINCREMENT, persistence_id TEXT NOT NULL, " +
                            "sequence_number INTEGER NOT NULL, message BLOB NOT NULL, UNIQUE (persistence_id, sequence_number));");
        var payload = new byte[400];
        var ms = new List<double>();
        for (var i = 0; i < writes + 20; i++)
        {
            var sw = Stopwatch.StartNew();
            using (var tx = connection.BeginTransaction())
            {
                using var cmd = connection.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = "INSERT INTO journal (persistence_id, sequence_number, message) VALUES ($p, $s, $m)";
                cmd.Parameters.AddWithValue("$p", "ledger-bench");
                cmd.Parameters.AddWithValue("$s", i);
                cmd.Parameters.AddWithValue("$m", payload);
                cmd.ExecuteNonQuery();
                tx.Commit();
            }
            if (i >= 20)
            {
                ms.Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        Report("a row committed, Microsoft.Data.Sqlite alone", ms);
    }

    private static async Task PersistedAsync(string file, int writes)
    {
        var journal = new JournalSettings("sqlite", $"Data Source={file}");
        JournalConfig.Prepare(journal);
        var config = ConfigurationFactory.ParseString(Environment.GetEnvironmentVariable("BENCH_JOURNAL_HOCON") ?? "")
            .WithFallback(ConfigurationFactory.ParseString(JournalConfig.Hocon(journal)))
            .WithFallback(ConfigurationFactory.ParseString(DueTimeScheduler.Hocon))
            .WithFallback(ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
        using var system = ActorSystem.Create("journal-floor", config);
        var writer = system.ActorOf(Props.Create(() => new Writer()), "writer");
        var ms = new List<double>();
        for (var i = 0; i < writes + 20; i++)
        {
            var sw = Stopwatch.StartNew();
            await writer.Ask<Done>($"event {i} {new string('x', 300)}", TimeSpan.FromSeconds(30));
            if (i >= 20)
            {
                ms.Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        Report("an event persisted, Akka.Persistence.Sql as the agent sets it", ms);
        await system.Terminate();
    }

    /// <summary>Persists each string it is sent (PersistAsync, as the ledger does) and answers once it is written.</summary>
    private sealed class Writer : ReceivePersistentActor
    {
        public override string PersistenceId => "ledger-bench";

        public Writer()
        {
            Command<string>(text =>
            {
                var sender = Sender;
                PersistAsync(text, _ => sender.Tell(Done.Instance));
            });
            Recover<string>(_ => { });
        }
    }

    private static void Report(string label, List<double> ms)
    {
        ms.Sort();
        Console.WriteLine($"{label,-62} {CallLatency.Stats(ms)} ms");
        Results.Emit("latency", "journal-floor", $"{label} p50", "ms", Results.Percentile(ms, 0.50));
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
