using System.Diagnostics;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>The same agent on PostgreSQL, chosen by configuration alone.</summary>
public sealed class PostgresJournalTests : IDisposable
{
    private readonly string _pgDir = Path.Combine(Path.GetTempPath(), "ga-pg-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly Dictionary<string, string> _pg;

    public PostgresJournalTests()
    {
        _pg = Run(RepoPaths.Tool("postgres", "start.sh"), "--dir", _pgDir)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
    }

    public void Dispose()
    {
        Run(RepoPaths.Tool("postgres", "stop.sh"), _pgDir);
        try
        {
            Directory.Delete(_pgDir, true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static string Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 ? stdout : throw new InvalidOperationException($"{file} failed: {stderr}");
    }

    [Fact]
    public async Task Cast_survives_agent_kill_with_the_journal_on_postgresql()
    {
        var journal = $"journal {{ provider = postgresql, connection-string = \"{_pg["PG_CONNECTION"]}\" }}";
        using var e2e = new E2EContext(extraConfig: journal);
        var cast = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"echo attempt=$GUESTAGENT_ATTEMPT >> {e2e.Dir}/mark; sleep 5; echo done >> {e2e.Dir}/mark",
        }, CommandMode.Cast, InterruptPolicy.Rerun));
        await E2EContext.WaitForAsync(() => e2e.MarkLines("mark").Length == 1, "the first attempt started");

        e2e.Agent.Kill();
        e2e.Agent.Start();
        var final = await e2e.Controller.FinalAsync(cast.Id, TimeSpan.FromSeconds(60));

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        // The run outlived the agent; the restarted one found it again through the journal in PostgreSQL.
        Assert.Equal(1, final.ResultAs<ExecResult>()!.Attempt);
        Assert.True(final.ResultAs<ExecResult>()!.Reattached);
        Assert.Equal(["attempt=1", "done"], e2e.MarkLines("mark"));
        Assert.Contains("journal postgresql", e2e.Agent.Log);
        Assert.False(File.Exists(Path.Combine(e2e.Agent.StateDir, "state", "journal.db")));
        // Accepted, Started, Completed and, shortly after the final reply went out, Replied.
        int Rows() => int.Parse(Run("psql", "-h", "127.0.0.1", "-p", _pg["PG_PORT"], "-U", "postgres", "-d", "guestagent", "-tAc",
            $"select count(*) from journal where persistence_id = 'ledger-{e2e.Tenant.Name}'").Trim());
        await E2EContext.WaitForAsync(() => Rows() >= 4, "the ledger's events in PostgreSQL");
    }
}
