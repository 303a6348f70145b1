using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

public sealed class CrashRecoveryTests
{
    [Fact]
    public async Task Redelivered_message_runs_once()
    {
        using var e2e = new E2EContext();
        var cmd = e2e.Controller.Exec(new ExecArgs { Shell = $"echo run >> {e2e.Dir}/mark" });

        // The same command twice, as Zaqar does when a claim expires before the delete.
        await e2e.Controller.PostRawAsync(JsonNode.Parse(cmd.ToJson()));
        await e2e.Controller.PostRawAsync(JsonNode.Parse(cmd.ToJson()));
        var final = await e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait);
        await e2e.Agent.WaitForLogAsync($"{cmd.Id} CommandLedger: duplicate delivery of exec dropped", E2EContext.Wait);

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(["run"], e2e.MarkLines("mark"));
        Assert.Equal(0, (await e2e.Controller.Zaqar.GetQueueStatsAsync(e2e.Controller.CommandQueue)).Total);
    }

    [Fact]
    public async Task Casts_and_calls_outlive_an_agent_kill_and_are_reattached_with_their_exact_exit_code_and_output()
    {
        using var e2e = new E2EContext();
        ExecArgs Work(string name, int exit) => new()
        {
            Shell = $"echo attempt=$GUESTAGENT_ATTEMPT >> {e2e.Dir}/{name}; echo before; sleep 6; echo after; echo oops >&2; " +
                $"echo done >> {e2e.Dir}/{name}; exit {exit}",
        };
        var rerun = await e2e.Controller.SendAsync(e2e.Controller.Exec(Work("rerun", 0), CommandMode.Cast, InterruptPolicy.Rerun));
        var fail = await e2e.Controller.SendAsync(e2e.Controller.Exec(Work("fail", 3), CommandMode.Cast, InterruptPolicy.Fail));
        var call = await e2e.Controller.SendAsync(e2e.Controller.Exec(Work("call", 0), CommandMode.Call));
        foreach (var name in new[] { "rerun", "fail", "call" })
        {
            await E2EContext.WaitForAsync(() => e2e.MarkLines(name).Length == 1, $"{name} started");
        }

        e2e.Agent.Kill();
        e2e.Agent.Start();

        var rerunFinal = await e2e.Controller.FinalAsync(rerun.Id, E2EContext.Wait);
        var failFinal = await e2e.Controller.FinalAsync(fail.Id, E2EContext.Wait);
        var callFinal = await e2e.Controller.FinalAsync(call.Id, E2EContext.Wait);

        foreach (var (final, name) in new[] { (rerunFinal, "rerun"), (failFinal, "fail"), (callFinal, "call") })
        {
            var result = final.ResultAs<ExecResult>()!;
            Assert.Equal(1, result.Attempt);
            Assert.True(result.Reattached, $"{name} was not reported reattached");
            Assert.Equal("before\nafter\n", result.Stdout.Data);
            Assert.Equal("oops\n", result.Stderr.Data);
            Assert.InRange(result.DurationMs, 5500, 20000);
            Assert.Equal(["attempt=1", "done"], e2e.MarkLines(name)); // ran once, to its end
        }
        Assert.Equal(ReplyStatus.Succeeded, rerunFinal.Status);
        Assert.Equal(ReplyStatus.Succeeded, callFinal.Status);
        Assert.Equal(ReplyStatus.Failed, failFinal.Status);
        Assert.Equal("nonzero_exit", failFinal.Error?.Code);
        Assert.Equal(3, failFinal.ResultAs<ExecResult>()!.ExitCode);
        Assert.Contains("reattached to attempt 1", e2e.Agent.Log);
    }

    [Fact]
    public async Task Tenant_slot_cap_holds_right_after_a_restart_with_reruns_and_new_claims_together()
    {
        using var e2e = new E2EContext(maxOperations: 2);
        var runs = Path.Combine(e2e.Dir, "runs");
        ExecArgs Work(int n) => new()
        {
            Shell = $"echo \"{n}/$GUESTAGENT_ATTEMPT start $(date +%s%N)\" >> {runs}; sleep 2; echo \"{n}/$GUESTAGENT_ATTEMPT end $(date +%s%N)\" >> {runs}",
        };
        var casts = new List<Command>();
        for (var i = 0; i < 6; i++)
        {
            casts.Add(await e2e.Controller.SendAsync(e2e.Controller.Exec(Work(i), CommandMode.Cast, InterruptPolicy.Rerun)));
        }
        await E2EContext.WaitForAsync(() => e2e.MarkLines("runs").Count(l => l.Contains(" start ")) == 2, "two casts running");

        // Two runs to redo, four commands waiting in the queue, and a fresh process that must count the first before claiming the rest.
        e2e.Agent.Kill();
        var restartedNs = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
        e2e.Agent.Start();
        foreach (var cast in casts)
        {
            Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(cast.Id, TimeSpan.FromSeconds(60))).Status);
        }

        // Every run, each with its own start and end times: the two the killed agent started outlive
        // it and are reattached (not rerun), and hold their slots until they end.
        var marks = e2e.MarkLines("runs").Select(l => l.Split(' ')).ToList();
        var ends = marks.Where(m => m[1] == "end").ToDictionary(m => m[0], m => long.Parse(m[2]));
        var intervals = marks.Where(m => m[1] == "start" && ends.ContainsKey(m[0]))
            .Select(m => (Start: long.Parse(m[2]), End: ends[m[0]])).ToList();
        Assert.Equal(6, intervals.Count);
        Assert.All(marks, m => Assert.StartsWith($"{m[0].Split('/')[0]}/1", m[0])); // nothing was rerun
        Assert.Equal(2, marks.Count(m => m[1] == "start" && long.Parse(m[2]) < restartedNs));
        var most = intervals.Max(a => intervals.Count(b => b.Start <= a.Start && a.Start < b.End));
        Assert.True(most <= 2, $"{most} runs at once with max-operations = 2: {string.Join("; ", e2e.MarkLines("runs"))}");
    }

    [Fact]
    public async Task Commands_claimed_by_a_killed_run_run_at_the_next_start_without_waiting_for_the_claim_to_expire()
    {
        using var e2e = new E2EContext();
        e2e.Agent.Kill();
        // What a run killed between a claim and the recording of its commands leaves behind: the
        // messages hidden under its claim (here for 10 minutes) and the claim in its open-claims list.
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"echo ran >> {e2e.Dir}/mark" }));
        var claim = await e2e.Controller.Zaqar.ClaimAsync(e2e.Controller.CommandQueue, 10, ttlSeconds: 600, graceSeconds: 60);
        Assert.Single(claim.Messages);
        var list = GuestAgent.Agent.Transports.Zaqar.OpenClaims.PathFor(Path.Combine(e2e.Agent.StateDir, "state"), e2e.Tenant.Name);
        Directory.CreateDirectory(Path.GetDirectoryName(list)!);
        File.WriteAllText(list, $"{claim.Id} {DateTimeOffset.UtcNow.AddSeconds(600).ToUnixTimeSeconds()}\n");

        e2e.Agent.Start();

        var final = await e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(["ran"], e2e.MarkLines("mark"));
        Assert.Contains("released 1 of 1 claim(s) an earlier run left open", e2e.Agent.Log);
        await E2EContext.WaitForAsync(() => !File.Exists(list), "the open-claims list emptied");
    }

    [Fact]
    public async Task Zaqar_outage_is_ridden_out_and_nothing_is_lost()
    {
        using var bed = ZaqarBed.StartPrivate();
        using var e2e = new E2EContext(bed: bed);
        var running = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = "sleep 2; echo finished" }));
        await e2e.Agent.WaitForLogAsync($"{running.Id} CommandLedger: started attempt 1", E2EContext.Wait);

        bed.Stop("zaqar");
        // The command ends while Zaqar is down: its reply waits in the outbox; the poller backs off.
        await e2e.Agent.WaitForLogAsync($"{running.Id} CommandLedger: attempt 1 ended", E2EContext.Wait);
        await e2e.Agent.WaitForLogAsync("claiming", E2EContext.Wait);
        await Task.Delay(2000);
        bed.RestartZaqar();

        var final = await e2e.Controller.FinalAsync(running.Id, TimeSpan.FromSeconds(60));
        var after = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Argv = ["true"] }));

        Assert.Equal("finished\n", final.ResultAs<ExecResult>()!.Stdout.Data);
        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(after.Id, TimeSpan.FromSeconds(60))).Status);
        Assert.Contains("posting", e2e.Agent.Log);
    }
}

/// <summary>
/// A paused agent (SIGSTOP, as a paused or live-migrated VM) and a journal that stalls resume as if
/// nothing happened: a journal write that takes long is waited for, not failed by Akka's call
/// timeout (which would restart the ledger and stop every run under it).
/// </summary>
public sealed class PauseTests
{
    [Fact]
    public async Task Journal_write_stalled_past_akkas_call_timeout_stops_no_healthy_command()
    {
        using var e2e = new E2EContext(maxOperations: 8);
        var longCast = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"echo started >> {e2e.Dir}/long; sleep 14; echo done >> {e2e.Dir}/long",
        }, CommandMode.Cast, InterruptPolicy.Fail));
        await E2EContext.WaitForAsync(() => e2e.MarkLines("long").Length == 1, "the long cast started");

        // Another process holds the journal's write lock for 12 s (a slow disk, a stalled database):
        // every write the agent makes meanwhile waits, beyond Akka.Persistence's 10 s default call timeout.
        var db = Path.Combine(e2e.Agent.StateDir, "state", "journal.db");
        Assert.True(File.Exists(db), $"no journal at {db}");
        var locker = System.Diagnostics.Process.Start("/usr/bin/python3", ["-c",
            "import sqlite3, sys, time\n" +
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n" +
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(12); c.execute('COMMIT')", db]);
        await Task.Delay(1000);
        var quick = new List<Command>();
        for (var i = 0; i < 5; i++)
        {
            quick.Add(await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"echo {i} >> {e2e.Dir}/quick" },
                CommandMode.Cast, InterruptPolicy.Fail)));
        }
        await locker.WaitForExitAsync();
        Assert.Equal(0, locker.ExitCode);

        var longFinal = await e2e.Controller.FinalAsync(longCast.Id, TimeSpan.FromSeconds(40));
        Assert.True(longFinal.Status == ReplyStatus.Succeeded, $"the long cast ended {longFinal.Status}: {longFinal.Error?.Message}");
        Assert.Equal(["started", "done"], e2e.MarkLines("long"));
        foreach (var cast in quick)
        {
            Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(cast.Id, E2EContext.Wait)).Status);
        }
        Assert.Equal(["0", "1", "2", "3", "4"], e2e.MarkLines("quick").Order());
        // The ledger never restarted: it recovered once, at start.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(e2e.Agent.Log, "ledger recovered"));
    }

    [LongFact]
    public async Task Pause_longer_than_the_journal_call_timeout_stops_no_healthy_command_and_runs_nothing_twice()
    {
        using var e2e = new E2EContext(maxOperations: 8);
        var longCast = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"echo started >> {e2e.Dir}/long; sleep 26; echo done >> {e2e.Dir}/long",
        }, CommandMode.Cast, InterruptPolicy.Fail));
        await E2EContext.WaitForAsync(() => e2e.MarkLines("long").Length == 1, "the long cast started");

        // Quick casts before, during and after the pause: journal writes are in flight when it starts.
        var quick = new List<Command>();
        using var flood = new CancellationTokenSource();
        var sending = Task.Run(async () =>
        {
            for (var i = 0; !flood.IsCancellationRequested; i++)
            {
                quick.Add(await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"echo {i} >> {e2e.Dir}/quick" },
                    CommandMode.Cast, InterruptPolicy.Fail)));
                await Task.Delay(25);
            }
        });
        await Task.Delay(1500);
        var pid = e2e.Agent.Pid!.Value.ToString();
        BedScripts.Run("kill", ["-STOP", pid]);
        await Task.Delay(TimeSpan.FromSeconds(20));
        BedScripts.Run("kill", ["-CONT", pid]);
        await Task.Delay(1500);
        await flood.CancelAsync();
        await sending;

        var longFinal = await e2e.Controller.FinalAsync(longCast.Id, TimeSpan.FromSeconds(60));
        Assert.True(longFinal.Status == ReplyStatus.Succeeded, $"the long cast ended {longFinal.Status}: {longFinal.Error?.Message}");
        Assert.Equal(["started", "done"], e2e.MarkLines("long"));
        foreach (var cast in quick)
        {
            Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(cast.Id, E2EContext.Wait)).Status);
        }
        var ran = e2e.MarkLines("quick");
        Assert.Equal(quick.Count, ran.Length);
        Assert.Equal(ran.Length, ran.Distinct().Count());
        Assert.Equal(1, e2e.Agent.Starts);
    }
}
