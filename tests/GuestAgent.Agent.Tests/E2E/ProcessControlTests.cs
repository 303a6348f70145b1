using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.E2E;

public sealed class ProcessControlTests(ProcessControlTests.Agent agent) : IClassFixture<ProcessControlTests.Agent>
{
    private readonly E2EContext _e2e = agent.E2E;
    /// <summary>This test's scratch directory.</summary>
    private readonly string _dir = SharedAgent.NewDirectory(agent.E2E.Dir);

    /// <summary>One agent for the tests here that neither kill nor reconfigure it.</summary>
    public sealed class Agent() : SharedAgent(() => new E2EContext());

    private static bool Alive(int pid) =>
        File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].TrimStart().StartsWith('Z');

    [Fact]
    public async Task Timeout_kills_the_whole_process_tree()
    {
        var pidFile = Path.Combine(_dir, "grandchild");
        var cmd = await _e2e.Controller.SendAsync(_e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"sleep 300 & echo $! > {pidFile}; echo started; wait",
            TimeoutSeconds = 1,
            KillGraceSeconds = 1,
        }));

        var final = await _e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.TimedOut, final.Status);
        Assert.Equal("started\n", final.ResultAs<ExecResult>()!.Stdout.Data);
        var grandchild = int.Parse(File.ReadAllText(pidFile).Trim());
        Assert.False(Alive(grandchild), $"pid {grandchild} outlived the timeout");
    }

    [Fact]
    public async Task Cancel_stops_a_running_command_and_both_get_final_replies()
    {
        var pidFile = Path.Combine(_dir, "pid");
        var target = await _e2e.Controller.SendAsync(_e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"echo $$ > {pidFile}; exec sleep 300",
        }));
        await _e2e.Agent.WaitForLogAsync($"{target.Id} CommandLedger: started attempt 1", E2EContext.Wait);

        var cancel = await _e2e.Controller.SendAsync(_e2e.Controller.Call(new CancelArgs(target.Id)));
        var cancelReply = await _e2e.Controller.FinalAsync(cancel.Id, E2EContext.Wait);
        var targetFinal = await _e2e.Controller.FinalAsync(target.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.Succeeded, cancelReply.Status);
        Assert.Equal(CommandState.Started, cancelReply.ResultAs<StatusResult>()!.State);
        Assert.Equal(ReplyStatus.Cancelled, targetFinal.Status);
        Assert.False(Alive(int.Parse(File.ReadAllText(pidFile).Trim())));
    }

    [Fact]
    public async Task Cancel_of_an_unknown_command_fails_clearly()
    {
        var cancel = await _e2e.Controller.SendAsync(_e2e.Controller.Call(new CancelArgs(Guid.NewGuid())));

        var reply = await _e2e.Controller.FinalAsync(cancel.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.Failed, reply.Status);
        Assert.Equal("unknown_command", reply.Error?.Code);
    }
}
