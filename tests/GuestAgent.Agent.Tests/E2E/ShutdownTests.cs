using System.Diagnostics;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.E2E;

public sealed class ShutdownTests
{
    [Fact]
    public async Task Sigterm_lets_a_running_call_finish_and_post_its_reply_before_the_agent_exits()
    {
        using var e2e = new E2EContext(extraConfig: "shutdown-grace = 15s");
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"sleep 2; echo done > {e2e.Dir}/mark" }));
        await e2e.Agent.WaitForLogAsync($"{cmd.Id} CommandLedger: started attempt 1", E2EContext.Wait);

        var stopwatch = Stopwatch.StartNew();
        Assert.True(e2e.Agent.Stop(TimeSpan.FromSeconds(30)), "the agent did not exit after SIGTERM");
        var final = await e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(["done"], e2e.MarkLines("mark"));
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15));
        Assert.Contains("all operations finished", e2e.Agent.Log);
    }

    [Fact]
    public async Task Exec_still_running_after_the_grace_goes_on_without_the_agent_and_is_reattached_at_the_next_start()
    {
        using var e2e = new E2EContext(extraConfig: "shutdown-grace = 1s");
        var cast = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"echo attempt=$GUESTAGENT_ATTEMPT >> {e2e.Dir}/mark; sleep 4; echo done >> {e2e.Dir}/mark",
        }, CommandMode.Cast, InterruptPolicy.Rerun));
        await E2EContext.WaitForAsync(() => e2e.MarkLines("mark").Length == 1, "the first attempt started");

        Assert.True(e2e.Agent.Stop(TimeSpan.FromSeconds(30)), "the agent did not exit after SIGTERM");
        Assert.Contains("grace over: 1 operation(s) still running", e2e.Agent.Log);
        await E2EContext.WaitForAsync(() => e2e.MarkLines("mark").Length == 2, "the run went on without the agent");
        e2e.Agent.Start();
        var final = await e2e.Controller.FinalAsync(cast.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(1, final.ResultAs<ExecResult>()!.Attempt);
        Assert.True(final.ResultAs<ExecResult>()!.Reattached);
        Assert.Equal(["attempt=1", "done"], e2e.MarkLines("mark"));
    }
}
