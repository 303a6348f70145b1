using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E.Windows;

/// <summary>
/// The Windows agent's casts, cancel and crash recovery under Wine (longer mode: each test makes
/// its own prefix and agent). A run cannot outlive the agent on Windows (its job is killed with the
/// agent's last handle), so a killed agent leaves no processes and its runs are interrupted, then
/// failed or rerun as their on_interrupt says; never reattached, never run twice at once.
/// </summary>
public sealed class WineRecoveryTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    [LongFact]
    public async Task Cast_runs_to_the_end_and_reports_success()
    {
        using var wine = new WineAgent();
        var cast = await wine.Controller.SendAsync(wine.Controller.Exec(new ExecArgs
        {
            Shell = $"echo ran>> \"{WineBed.WinPathBackslashed(Path.Combine(wine.Dir, "cast"))}\"",
        }, CommandMode.Cast));

        var accepted = await wine.Controller.WaitForAsync(cast.Id, ReplyStatus.Accepted, Wait);
        var final = await wine.FinalAsync(cast.Id, Wait);

        Assert.Equal(0, accepted.Seq);
        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(["ran"], wine.MarkLines("cast"));
    }

    [LongFact]
    public async Task Cancel_ends_the_run_and_its_tree()
    {
        using var wine = new WineAgent();
        const string marker = "-n 73";
        var target = await wine.Controller.SendAsync(wine.Controller.Exec(new ExecArgs
        {
            Shell = $"echo started>> \"{WineBed.WinPathBackslashed(Path.Combine(wine.Dir, "mark"))}\"& ping {marker} 127.0.0.1 >nul",
        }, CommandMode.Cast));
        await E2EContext.WaitForAsync(() => wine.MarkLines("mark").Length == 1, "the run started");

        var cancel = await wine.Controller.SendAsync(wine.Controller.Call(new CancelArgs(target.Id)));

        Assert.Equal(ReplyStatus.Succeeded, (await wine.FinalAsync(cancel.Id, Wait)).Status);
        var final = await wine.FinalAsync(target.Id, Wait);
        Assert.Equal(ReplyStatus.Cancelled, final.Status);
        Assert.Equal("SIGKILL", final.ResultAs<ExecResult>()!.Signal);
        await E2EContext.WaitForAsync(() => WineAgent.WineProcessesWith(marker).Count == 0, "the cancelled run's ping ended");
    }

    [LongFact]
    public async Task Killed_agent_leaves_no_processes_and_its_runs_are_failed_or_rerun_as_asked_but_a_finished_one_is_not_rerun()
    {
        using var wine = new WineAgent();
        const string marker = "-n 79";
        string Mark(string name) => WineBed.WinPathBackslashed(Path.Combine(wine.Dir, name));
        var done = await wine.Controller.SendAsync(wine.Controller.Exec(new ExecArgs
        {
            Shell = $"echo attempt=%GUESTAGENT_ATTEMPT%>> \"{Mark("done")}\"",
        }, CommandMode.Cast, InterruptPolicy.Rerun));
        Assert.Equal(ReplyStatus.Succeeded, (await wine.FinalAsync(done.Id, Wait)).Status);
        var failing = await wine.Controller.SendAsync(wine.Controller.Exec(new ExecArgs
        {
            Shell = $"echo attempt=%GUESTAGENT_ATTEMPT%>> \"{Mark("fail")}\"& ping {marker} 127.0.0.1 >nul",
        }, CommandMode.Cast, InterruptPolicy.Fail));
        var rerun = await wine.Controller.SendAsync(wine.Controller.Exec(new ExecArgs
        {
            // The second attempt ends at once; the first waits to be interrupted.
            Shell = $"echo attempt=%GUESTAGENT_ATTEMPT%>> \"{Mark("rerun")}\"& if %GUESTAGENT_ATTEMPT%==1 ping {marker} 127.0.0.2 >nul",
        }, CommandMode.Cast, InterruptPolicy.Rerun));
        await E2EContext.WaitForAsync(() => wine.MarkLines("fail").Length == 1 && wine.MarkLines("rerun").Length == 1, "both runs started");
        await E2EContext.WaitForAsync(() => WineAgent.WineProcessesWith(marker).Count >= 2, "both runs' processes are running");

        wine.Agent.Kill();

        // Kill on close: the agent's death ended its runs' jobs.
        await E2EContext.WaitForAsync(() => WineAgent.WineProcessesWith(marker).Count == 0, "the killed agent's runs ended with it");
        wine.Agent.Start();
        var failed = await wine.FinalAsync(failing.Id, Wait);
        var reran = await wine.FinalAsync(rerun.Id, Wait);
        Assert.Equal(ReplyStatus.Interrupted, failed.Status);
        Assert.Equal(ReplyStatus.Succeeded, reran.Status);
        Assert.Equal(2, reran.ResultAs<ExecResult>()!.Attempt);
        await Task.Delay(3000); // time enough for a wrong rerun to leave its mark
        Assert.Equal(["attempt=1"], wine.MarkLines("fail"));
        Assert.Equal(["attempt=1", "attempt=2"], wine.MarkLines("rerun"));
        Assert.Equal(["attempt=1"], wine.MarkLines("done"));
    }

    [LongFact]
    public async Task Windows_service_answers_commands_and_stops_gracefully()
    {
        using var bed = WineBed.Create();
        var dir = Directory.CreateTempSubdirectory("ga-wine-service-").FullName;
        try
        {
            var tenant = E2EContext.NewTenant("t1");
            var config = AgentProcess.WriteConfig(dir, ZaqarBed.Shared.Url, [tenant], "wine-service", extraConfig: "log.file = true",
                stateDir: WineBed.WinPath(Path.Combine(dir, "state")));
            bed.KeepServerAlive();
            var binPath = $"{WineBed.WinPathBackslashed(bed.AgentExe)} --config {WineBed.WinPathBackslashed(config)}";
            var create = bed.Wine("sc", "create", "guest-agent", "binPath=", binPath, "start=", "demand");
            Assert.True(create.ExitCode == 0, create.Output);
            var start = bed.Wine("net", "start", "guest-agent");
            Assert.True(start.ExitCode == 0, start.Output);

            var controller = RawController.For(ZaqarBed.Shared, tenant);
            var call = await controller.SendAsync(controller.Exec(new ExecArgs { Shell = "echo from the service" }));
            var final = await controller.FinalAsync(call.Id, Wait);
            var stop = bed.Wine("net", "stop", "guest-agent");

            Assert.Equal(ReplyStatus.Succeeded, final.Status);
            Assert.Equal("from the service\r\n", final.ResultAs<ExecResult>()!.Stdout.Data);
            Assert.True(stop.ExitCode == 0, stop.Output);
            // The service stop is the graceful stop: the drain runs and finds nothing left running (net stop may return first).
            string Log() => string.Concat(Directory.GetFiles(Path.Combine(dir, "state", "logs")).Select(f =>
            {
                using var reader = new StreamReader(new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
                return reader.ReadToEnd();
            }));
            await E2EContext.WaitForAsync(() => Log().Contains("all operations finished", StringComparison.Ordinal), "the stop's drain in the service's log");
            Assert.Contains("stopping: no new claims", Log());
            bed.Wine("sc", "delete", "guest-agent");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
