using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>A cancel the agent acknowledged holds across a crash: the command is not run again.</summary>
public sealed class CancelRecoveryTests
{
    [Fact]
    public async Task Acknowledged_cancel_of_a_rerun_command_survives_an_agent_kill_and_the_command_is_not_rerun()
    {
        using var e2e = new E2EContext();
        // The process ignores SIGTERM, so after the cancel it lives on for its kill grace: the agent
        // is killed in that window, after the cancel was acknowledged and before the run ended.
        var target = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"trap '' TERM; echo attempt=$GUESTAGENT_ATTEMPT >> {e2e.Dir}/mark; sleep 20; echo done >> {e2e.Dir}/mark",
            KillGraceSeconds = 30,
        }, CommandMode.Cast, InterruptPolicy.Rerun));
        await E2EContext.WaitForAsync(() => e2e.MarkLines("mark").Length == 1, "the first attempt started");
        var cancel = await e2e.Controller.SendAsync(e2e.Controller.Call(new CancelArgs(target.Id)));
        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(cancel.Id, E2EContext.Wait)).Status);

        e2e.Agent.Kill();
        e2e.Agent.Start();

        var final = await e2e.Controller.FinalAsync(target.Id, E2EContext.Wait);
        await Task.Delay(3000); // time enough for a rerun to have left its mark
        Assert.Equal(ReplyStatus.Cancelled, final.Status);
        Assert.Equal(["attempt=1"], e2e.MarkLines("mark"));
    }
}
