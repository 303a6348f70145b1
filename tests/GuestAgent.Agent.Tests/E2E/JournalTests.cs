using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using Microsoft.Data.Sqlite;

namespace GuestAgent.Agent.Tests.E2E;

public sealed class JournalTests
{
    private static long Rows(string db, string table)
    {
        using var c = new SqliteConnection($"Data Source={db};Mode=ReadOnly");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT COUNT(*) FROM {table}";
        return (long)cmd.ExecuteScalar()!;
    }

    /// <summary>A call that appends "run" to the mark file (which shows whether it ever ran twice), run to its final.</summary>
    private static async Task<Command> MarkOnceAsync(E2EContext e2e)
    {
        var first = e2e.Controller.Exec(new ExecArgs { Shell = $"echo run >> {e2e.Dir}/mark" });
        await e2e.Controller.SendAsync(first);
        await e2e.Controller.FinalAsync(first.Id, E2EContext.Wait);
        return first;
    }

    [Fact]
    public async Task Journal_stays_small_through_snapshots_and_dedup_survives_a_restart()
    {
        using var e2e = new E2EContext(extraConfig: "snapshot-every = 20");
        var first = await MarkOnceAsync(e2e);
        // 40 more commands, about 160 events: without snapshots the journal would keep them all.
        var pings = new List<Command>();
        for (var i = 0; i < 40; i++)
        {
            pings.Add(await e2e.Controller.SendAsync(e2e.Controller.Call(new PingArgs())));
        }
        foreach (var p in pings)
        {
            await e2e.Controller.FinalAsync(p.Id, E2EContext.Wait);
        }
        await Task.Delay(1000);

        var db = Path.Combine(e2e.Agent.StateDir, "state", "journal.db");
        var events = Rows(db, "journal");
        Assert.True(events < 60, $"journal holds {events} events after 41 commands with snapshot-every = 20");
        // Snapshots have a file of their own: written beside the journal's, they held its writes up.
        Assert.True(Rows(Path.ChangeExtension(db, ".snapshots.db"), "snapshot") <= 2);

        e2e.Agent.Kill();
        e2e.Agent.Start();
        await e2e.Agent.WaitForLogAsync("ledger recovered", E2EContext.Wait, times: 2);
        // The first command again, long after it ran and many snapshots later: still a duplicate.
        await e2e.Controller.PostRawAsync(JsonNode.Parse(first.ToJson()));
        await e2e.Agent.WaitForLogAsync($"{first.Id} CommandLedger: duplicate delivery of exec dropped", E2EContext.Wait);

        Assert.Equal(["run"], e2e.MarkLines("mark"));
    }

    [Fact]
    public async Task Snapshots_an_earlier_version_kept_in_the_journal_file_are_moved_and_recovered()
    {
        using var e2e = new E2EContext(extraConfig: "snapshot-every = 10");
        var first = await MarkOnceAsync(e2e);
        for (var i = 0; i < 10; i++)
        {
            var ping = await e2e.Controller.SendAsync(e2e.Controller.Call(new PingArgs()));
            await e2e.Controller.FinalAsync(ping.Id, E2EContext.Wait);
        }
        await Task.Delay(1000);
        Assert.True(e2e.Agent.Stop(TimeSpan.FromSeconds(30)), "the agent did not stop");

        // The layout of an earlier version: the snapshot table and its rows in journal.db, no
        // snapshots file. The events the snapshot stands for are deleted: only it knows the first command.
        var db = Path.Combine(e2e.Agent.StateDir, "state", "journal.db");
        var snapshots = Path.ChangeExtension(db, ".snapshots.db");
        Assert.True(Rows(snapshots, "snapshot") >= 1, "no snapshot was written");
        using (var journal = new SqliteConnection($"Data Source={db};Pooling=False"))
        {
            journal.Open();
            using var cmd = journal.CreateCommand();
            // The table as Akka.Persistence.Sql makes it (its column types matter when it is read).
            cmd.CommandText = $"ATTACH DATABASE '{snapshots}' AS s; SELECT sql FROM s.sqlite_master WHERE name = 'snapshot'";
            var ddl = (string)cmd.ExecuteScalar()!;
            cmd.CommandText = ddl;
            cmd.ExecuteNonQuery();
            cmd.CommandText = "INSERT INTO main.snapshot SELECT * FROM s.snapshot; DETACH DATABASE s;";
            cmd.ExecuteNonQuery();
        }
        foreach (var f in new[] { snapshots, snapshots + "-wal", snapshots + "-shm" })
        {
            File.Delete(f);
        }
        Assert.True(Rows(db, "journal") < 20, "events before the snapshot were not deleted: the test would prove nothing");

        e2e.Agent.Start();
        await e2e.Agent.WaitForLogAsync("ledger recovered", E2EContext.Wait, times: 2);
        Assert.True(File.Exists(snapshots));
        // The first command is still known: its status is its result, and a redelivery is a duplicate.
        var status = await e2e.Controller.SendAsync(e2e.Controller.Call(new StatusArgs(first.Id)));
        var state = (await e2e.Controller.FinalAsync(status.Id, E2EContext.Wait)).ResultAs<StatusResult>()!;
        Assert.Equal(CommandState.Replied, state.State);
        Assert.Equal(ReplyStatus.Succeeded, state.FinalStatus);
        await e2e.Controller.PostRawAsync(JsonNode.Parse(first.ToJson()));
        await e2e.Agent.WaitForLogAsync($"{first.Id} CommandLedger: duplicate delivery of exec dropped", E2EContext.Wait);
        Assert.Equal(["run"], e2e.MarkLines("mark"));
    }
}
