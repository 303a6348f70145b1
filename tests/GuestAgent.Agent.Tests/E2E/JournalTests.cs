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

    [Fact]
    public async Task Journal_stays_small_through_snapshots_and_dedup_survives_a_restart()
    {
        using var e2e = new E2EContext(extraConfig: "snapshot-every = 20");
        var first = e2e.Controller.Exec(new ExecArgs { Shell = $"echo run >> {e2e.Dir}/mark" });
        await e2e.Controller.SendAsync(first);
        await e2e.Controller.FinalAsync(first.Id, E2EContext.Wait);
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
        Assert.True(Rows(db, "snapshot") <= 2);

        e2e.Agent.Kill();
        e2e.Agent.Start();
        await e2e.Agent.WaitForLogAsync("ledger recovered", E2EContext.Wait, times: 2);
        // The first command again, long after it ran and many snapshots later: still a duplicate.
        await e2e.Controller.PostRawAsync(JsonNode.Parse(first.ToJson()));
        await e2e.Agent.WaitForLogAsync($"{first.Id} CommandLedger: duplicate delivery of exec dropped", E2EContext.Wait);

        Assert.Equal(["run"], e2e.MarkLines("mark"));
    }
}
