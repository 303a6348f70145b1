using GuestAgent.Protocol;
using GuestAgent.Testing;
using GuestAgent.Zaqar;
using Microsoft.Data.Sqlite;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>Commands and messages that break the agent every time still come to an end.</summary>
public sealed class PoisonTests
{
    [Fact]
    public async Task Command_that_kills_the_agent_and_its_supervisor_on_every_run_ends_interrupted_at_the_attempt_cap_and_the_agent_carries_on()
    {
        using var e2e = new E2EContext(extraConfig: "max-attempts = 3");
        // The command's shell is the child of its supervisor ($PPID), which is the agent's child: the
        // command kills both, as a fatal bug or a machine-level fault would. (Had it killed the agent
        // alone, its run would go on and be reattached: not run again.)
        var poison = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"echo $GUESTAGENT_ATTEMPT >> {e2e.Dir}/mark; kill -9 $(cut -d' ' -f4 /proc/$PPID/stat) $PPID; sleep 5",
        }, CommandMode.Cast, InterruptPolicy.Rerun));

        // Started again after each death, as systemd's Restart=always does.
        for (var run = 1; run <= 3; run++)
        {
            await E2EContext.WaitForAsync(() => !e2e.Agent.IsRunning, $"the agent died in attempt {run}");
            e2e.Agent.Start();
        }
        var final = await e2e.Controller.FinalAsync(poison.Id, E2EContext.Wait);
        var ping = await e2e.Controller.SendAsync(e2e.Controller.Call(new PingArgs()));

        Assert.Equal(ReplyStatus.Interrupted, final.Status);
        Assert.Contains("the last of 3 allowed", final.Error!.Message);
        Assert.Equal(["1", "2", "3"], e2e.MarkLines("mark"));
        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(ping.Id, E2EContext.Wait)).Status);
        Assert.True(e2e.Agent.IsRunning);
    }

    // Longer mode: it waits out SQLite's 30 s busy timeout and half a 60 s claim (PoisonWatchSpecs
    // and the test above cover the poller's side by default).
    [LongFact]
    public async Task Message_the_agent_cannot_accept_goes_to_the_dead_letter_queue_after_max_claim_count_and_the_agent_carries_on()
    {
        // The operator's queue settings: a message claimed once without being deleted is moved to
        // the dead-letter queue by the next claim instead of being handed out again.
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue("cmd");
        var deadLetters = queue + "-dead";
        var zaqar = ZaqarBed.Shared.Client(project);
        await zaqar.CreateQueueAsync(deadLetters);
        await zaqar.CreateQueueAsync(queue, new QueueOptions { MaxClaimCount = 1, DeadLetterQueue = deadLetters });
        // Claim TTL 60 s: the poller gives up waiting for the ledger after half of it.
        using var e2e = new E2EContext(extraConfig: "poll { claim-ttl-seconds = 60 }", tenant: t => t with { Project = project, CommandQueue = queue });
        var ready = await e2e.Controller.SendAsync(e2e.Controller.Call(new PingArgs()));
        await e2e.Controller.FinalAsync(ready.Id, E2EContext.Wait);

        // Another process holds the journal's write lock: the agent claims the command but can never
        // record it, as when it dies between the claim and the journal write.
        var journal = Path.Combine(e2e.Agent.StateDir, "state", "journal.db");
        Guid poisonId;
        await using (var blocker = new SqliteConnection($"Data Source={journal};Pooling=False"))
        {
            blocker.Open();
            await using (var begin = blocker.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE;";
                begin.ExecuteNonQuery();
            }
            poisonId = (await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"echo ran >> {e2e.Dir}/mark" }))).Id;
            await e2e.Agent.WaitForLogAsync("did not answer", TimeSpan.FromSeconds(90));
            // And the journal write has failed (SQLite's 30 s busy timeout): released any earlier, the
            // lock would let the write land late and the command run, which is not this test's case.
            await e2e.Agent.WaitForLogAsync("Failed to persist event", TimeSpan.FromSeconds(90));
            // The agent's claim would expire after 60 s (Zaqar's least): ended here at once, as its expiry would.
            var claimed = await zaqar.ListAsync(queue, new ListOptions { IncludeClaimed = true, Echo = true });
            await zaqar.ReleaseClaimAsync(queue, Assert.Single(claimed.Messages).ClaimId!);
            await using var rollback = blocker.CreateCommand();
            rollback.CommandText = "ROLLBACK;";
            rollback.ExecuteNonQuery();
        }
        // While its journal refused writes the agent claimed nothing more (a claim it cannot record
        // would only use up the claim counts of healthy commands). Once the ledger has recovered,
        // its next claim finds the message claimed once already: Zaqar moves it to the dead letters.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while ((await zaqar.GetQueueStatsAsync(deadLetters)).Total == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the message never reached the dead-letter queue");
            await Task.Delay(1000);
        }

        var dead = await zaqar.ListAsync(deadLetters, new ListOptions { IncludeClaimed = true, Echo = true });
        var after = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = "echo after" }));
        var afterFinal = await e2e.Controller.FinalAsync(after.Id, TimeSpan.FromSeconds(90));

        Assert.Equal(poisonId.ToString(), Assert.Single(dead.Messages).Body.GetProperty("id").GetString());
        Assert.Equal(0, (await zaqar.GetQueueStatsAsync(queue)).Total);
        Assert.Equal(ReplyStatus.Succeeded, afterFinal.Status);
        Assert.Empty(e2e.MarkLines("mark"));
    }
}
