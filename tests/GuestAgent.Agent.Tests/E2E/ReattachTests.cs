using System.Diagnostics;
using GuestAgent.Testing;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// Exec runs outlive the agent under their supervisors: a restarted agent reports their true end
/// (or follows them to it) instead of guessing; only a run whose supervisor died too follows on_interrupt.
/// </summary>
public sealed class ReattachTests
{
    private static bool Alive(int pid) =>
        File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].TrimStart().StartsWith('Z');

    private static async Task<bool> GoneAsync(int pid, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (Alive(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(50);
        }
        return true;
    }

    /// <summary>The pid the run's supervisor recorded, in the agent's spool.</summary>
    private static int SupervisorPid(E2EContext e2e, Guid id, int attempt = 1) =>
        int.Parse(File.ReadAllText(Path.Combine(e2e.Agent.StateDir, "state", "spool", e2e.Tenant.Name, $"{id:N}-{attempt}.pid")).Trim());

    [Fact]
    public async Task Kill_right_around_a_childs_own_exit_reports_it_succeeded_never_interrupted_or_rerun()
    {
        using var e2e = new E2EContext();
        // The agent is killed at different moments around the child's end (before, during, after
        // the supervisor records it): each time the run ends succeeded, once.
        foreach (var delayMs in new[] { 150, 250, 300, 350, 450 })
        {
            var mark = $"mark-{delayMs}";
            var cast = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
            {
                Shell = $"echo attempt=$GUESTAGENT_ATTEMPT >> {e2e.Dir}/{mark}; sleep 0.3",
            }, CommandMode.Cast, InterruptPolicy.Fail));
            await E2EContext.WaitForAsync(() => e2e.MarkLines(mark).Length == 1, $"{mark} started");
            await Task.Delay(delayMs);
            e2e.Agent.Kill();
            e2e.Agent.Start();

            var final = await e2e.Controller.FinalAsync(cast.Id, E2EContext.Wait);
            Assert.True(final.Status == ReplyStatus.Succeeded, $"killed {delayMs} ms in: {final.Status} {final.Error?.Message}");
            Assert.Equal(1, final.ResultAs<ExecResult>()!.Attempt);
            Assert.Equal(0, final.ResultAs<ExecResult>()!.ExitCode);
            Assert.Equal(["attempt=1"], e2e.MarkLines(mark));
        }
    }

    [Fact]
    public async Task Timeout_of_a_reattached_run_counts_from_its_original_start_and_ends_its_whole_tree()
    {
        using var e2e = new E2EContext();
        var pidFile = Path.Combine(e2e.Dir, "grandchild");
        var sent = Stopwatch.StartNew();
        var cast = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"sleep 300 & echo $! > {pidFile}; echo started; wait",
            TimeoutSeconds = 6,
            KillGraceSeconds = 1,
        }, CommandMode.Cast, InterruptPolicy.Rerun));
        await E2EContext.WaitForAsync(() => File.Exists(pidFile) && File.ReadAllText(pidFile).EndsWith('\n'), "the run started");
        var grandchild = int.Parse(File.ReadAllText(pidFile).Trim());

        e2e.Agent.Kill();
        e2e.Agent.Start();
        var final = await e2e.Controller.FinalAsync(cast.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.TimedOut, final.Status);
        var result = final.ResultAs<ExecResult>()!;
        Assert.Equal(1, result.Attempt);
        Assert.True(result.Reattached);
        Assert.Equal("started\n", result.Stdout.Data);
        Assert.Equal("SIGTERM", result.Signal);
        Assert.InRange(sent.Elapsed, TimeSpan.FromSeconds(5.5), TimeSpan.FromSeconds(20));
        Assert.True(await GoneAsync(grandchild, TimeSpan.FromSeconds(3)), $"pid {grandchild} outlived the timeout");
    }

    [Fact]
    public async Task Cancel_of_a_reattached_run_ends_its_whole_tree()
    {
        using var e2e = new E2EContext();
        var pidFile = Path.Combine(e2e.Dir, "grandchild");
        var cast = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"sleep 300 & echo $! > {pidFile}; wait",
            KillGraceSeconds = 1,
        }, CommandMode.Cast, InterruptPolicy.Rerun));
        await E2EContext.WaitForAsync(() => File.Exists(pidFile) && File.ReadAllText(pidFile).EndsWith('\n'), "the run started");
        var grandchild = int.Parse(File.ReadAllText(pidFile).Trim());

        e2e.Agent.Kill();
        e2e.Agent.Start();
        await e2e.Agent.WaitForLogAsync("reattached to attempt 1", E2EContext.Wait);
        var cancel = await e2e.Controller.SendAsync(e2e.Controller.Call(new CancelArgs(cast.Id)));

        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(cancel.Id, E2EContext.Wait)).Status);
        var final = await e2e.Controller.FinalAsync(cast.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Cancelled, final.Status);
        Assert.True(final.ResultAs<ExecResult>()!.Reattached);
        Assert.True(await GoneAsync(grandchild, TimeSpan.FromSeconds(3)), $"pid {grandchild} outlived the cancel");
    }

    [Fact]
    public async Task A_run_whose_supervisor_was_killed_too_follows_on_interrupt_and_its_leftovers_are_killed()
    {
        using var e2e = new E2EContext();
        // The first attempt sleeps far longer than a restart takes even on a loaded machine (so it
        // cannot finish on its own before the agent kills it) and leaves its shell's pid; a rerun is quick.
        ExecArgs Work(string name) => new()
        {
            Shell = $"echo $$ > {e2e.Dir}/{name}.pid; echo attempt=$GUESTAGENT_ATTEMPT >> {e2e.Dir}/{name}; " +
                    $"if [ $GUESTAGENT_ATTEMPT = 1 ]; then sleep 60; else sleep 1; fi; echo done >> {e2e.Dir}/{name}",
        };
        var rerun = await e2e.Controller.SendAsync(e2e.Controller.Exec(Work("rerun"), CommandMode.Cast, InterruptPolicy.Rerun));
        var fail = await e2e.Controller.SendAsync(e2e.Controller.Exec(Work("fail"), CommandMode.Cast, InterruptPolicy.Fail));
        var firstAttempt = new Dictionary<string, int>();
        foreach (var name in new[] { "rerun", "fail" })
        {
            await E2EContext.WaitForAsync(() => e2e.MarkLines(name).Length == 1, $"{name} started");
            firstAttempt[name] = int.Parse(File.ReadAllText(Path.Combine(e2e.Dir, name + ".pid")).Trim());
        }

        // The machine-level loss: the agent and the supervisors die, the commands' own processes live on.
        e2e.Agent.Kill();
        foreach (var id in new[] { rerun.Id, fail.Id })
        {
            Process.Start("kill", ["-KILL", SupervisorPid(e2e, id).ToString()])!.WaitForExit();
        }
        e2e.Agent.Start();

        var rerunFinal = await e2e.Controller.FinalAsync(rerun.Id, E2EContext.Wait);
        var failFinal = await e2e.Controller.FinalAsync(fail.Id, E2EContext.Wait);
        foreach (var (name, pid) in firstAttempt)
        {
            Assert.True(await GoneAsync(pid, TimeSpan.FromSeconds(3)), $"{name}'s first attempt (pid {pid}) outlived the restart");
        }

        Assert.Equal(ReplyStatus.Succeeded, rerunFinal.Status);
        Assert.Equal(2, rerunFinal.ResultAs<ExecResult>()!.Attempt);
        Assert.Null(rerunFinal.ResultAs<ExecResult>()!.Reattached);
        Assert.Equal(["attempt=1", "attempt=2", "done"], e2e.MarkLines("rerun"));
        Assert.Equal(ReplyStatus.Interrupted, failFinal.Status);
        Assert.Equal(["attempt=1"], e2e.MarkLines("fail"));
        Assert.Contains("process(es) left from interrupted attempt 1", e2e.Agent.Log);
    }

    [LongFact]
    public async Task Ten_kills_in_two_minutes_end_no_rerun_cast_interrupted_after_completed_attempts_and_rerun_no_finished_one()
    {
        using var e2e = new E2EContext(maxOperations: 6);
        var random = new Random(19);
        var casts = new List<Command>();
        async Task SendAsync(int n)
        {
            var name = $"c{casts.Count}";
            for (var i = 0; i < n; i++, name = $"c{casts.Count}")
            {
                casts.Add(await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
                {
                    Shell = $"echo start $GUESTAGENT_ATTEMPT >> {e2e.Dir}/{name}; sleep {1 + random.NextDouble() * 9:F1}; " +
                        $"echo end $GUESTAGENT_ATTEMPT >> {e2e.Dir}/{name}",
                }, CommandMode.Cast, InterruptPolicy.Rerun)));
            }
        }

        await SendAsync(10);
        for (var kill = 0; kill < 10; kill++)
        {
            await Task.Delay(TimeSpan.FromSeconds(4 + random.NextDouble() * 6));
            e2e.Agent.Kill();
            e2e.Agent.Start();
            await SendAsync(3);
        }

        foreach (var (cast, i) in casts.Select((c, i) => (c, i)))
        {
            var final = await e2e.Controller.FinalAsync(cast.Id, TimeSpan.FromSeconds(90));
            var marks = e2e.MarkLines($"c{i}");
            var ended = marks.Where(m => m.StartsWith("end ")).Select(m => int.Parse(m[4..])).ToList();
            var started = marks.Where(m => m.StartsWith("start ")).Select(m => int.Parse(m[6..])).ToList();
            Assert.True(final.Status == ReplyStatus.Succeeded, $"c{i} ended {final.Status} ({final.Error?.Message}); marks {string.Join(",", marks)}");
            // No attempt started after one that ran to its end, and the reported attempt is the one that ended.
            Assert.True(started.All(a => !ended.Any(e => e < a)), $"c{i} was rerun after a finished attempt: {string.Join(",", marks)}");
            Assert.Contains(final.ResultAs<ExecResult>()!.Attempt, ended);
        }
        Assert.Equal(11, e2e.Agent.Starts);
    }
}
