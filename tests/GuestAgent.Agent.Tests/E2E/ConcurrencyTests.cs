using System.Globalization;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Parallel_commands_run_up_to_the_slot_cap_and_not_beyond()
    {
        using var e2e = new E2EContext(maxOperations: 3);
        // Each run records when it started and ended; overlap is measured from the records.
        var commands = new List<Command>();
        for (var i = 0; i < 8; i++)
        {
            commands.Add(await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
            {
                Shell = $"date +%s.%N >> {e2e.Dir}/run{i}; sleep 1; date +%s.%N >> {e2e.Dir}/run{i}",
            })));
        }

        foreach (var c in commands)
        {
            Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(c.Id, TimeSpan.FromSeconds(60))).Status);
        }

        var intervals = Enumerable.Range(0, 8)
            .Select(i => e2e.MarkLines($"run{i}").Select(l => double.Parse(l, CultureInfo.InvariantCulture)).ToArray())
            .ToList();
        var maxOverlap = intervals.Max(a => intervals.Count(b => b[0] <= a[0] && a[0] < b[1]));
        Assert.Equal(3, maxOverlap);
    }

    [Fact]
    public async Task Status_ping_and_cancel_reach_an_agent_whose_every_slot_is_busy_and_jump_the_waiting_commands()
    {
        using var e2e = new E2EContext(maxOperations: 1);
        var c = e2e.Controller;
        var runaway = await c.SendAsync(c.Exec(new ExecArgs { Shell = "sleep 300" }));
        await c.WaitForAsync(runaway.Id, ReplyStatus.Accepted, E2EContext.Wait);
        // Waits in the queue for the only slot; the queries posted after it must not wait with it.
        var behind = await c.SendAsync(c.Exec(new ExecArgs { Shell = $"echo ran > {e2e.Dir}/behind" }));

        var ping = await c.SendAsync(c.Call(new PingArgs()));
        Assert.Equal(ReplyStatus.Succeeded, (await c.FinalAsync(ping.Id, E2EContext.Wait)).Status);
        var status = await c.SendAsync(c.Call(new StatusArgs(runaway.Id)));
        var statusReply = await c.FinalAsync(status.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Succeeded, statusReply.Status);
        Assert.Equal(CommandState.Started, statusReply.ResultAs<StatusResult>()!.State);
        // Still waiting: nothing took it out of turn.
        Assert.Empty(await c.SeenAsync(behind.Id));
        Assert.False(File.Exists(Path.Combine(e2e.Dir, "behind")));

        var cancel = await c.SendAsync(c.Call(new CancelArgs(runaway.Id)));
        Assert.Equal(ReplyStatus.Succeeded, (await c.FinalAsync(cancel.Id, E2EContext.Wait)).Status);
        Assert.Equal(ReplyStatus.Cancelled, (await c.FinalAsync(runaway.Id, E2EContext.Wait)).Status);
        // The freed slot goes to the command that waited.
        Assert.Equal(ReplyStatus.Succeeded, (await c.FinalAsync(behind.Id, E2EContext.Wait)).Status);
        Assert.Equal("ran", File.ReadAllText(Path.Combine(e2e.Dir, "behind")).Trim());
        Assert.Contains("took 1 quer(ies) out of turn", e2e.Agent.Log);
    }

    [Fact]
    public async Task Two_tenants_are_isolated_and_a_stalled_tenant_does_not_delay_the_other()
    {
        var bed = ZaqarBed.Shared;
        // Same queue names, different projects: only the project tells them apart.
        var a = E2EContext.NewTenant("alpha", maxOperations: 2);
        var b = a with { Name = "beta", Project = ZaqarBed.NewProject("b"), MaxOperations = 1 };
        using var agent = AgentProcess.Start(bed, [a, b]);
        var ctlA = RawController.For(bed, a);
        var ctlB = RawController.For(bed, b);
        var dir = Directory.CreateTempSubdirectory("ga-tenants-").FullName;

        // Beta's only slot is taken by a long command, and more wait behind it.
        var stall = await ctlB.SendAsync(ctlB.Exec(new ExecArgs { Shell = "sleep 20" }));
        await ctlB.WaitForAsync(stall.Id, ReplyStatus.Accepted, E2EContext.Wait);
        await ctlB.SendAsync(ctlB.Exec(new ExecArgs { Shell = "sleep 20" }));

        var started = DateTime.UtcNow;
        var quick = await ctlA.SendAsync(ctlA.Exec(new ExecArgs { Shell = $"echo $GUESTAGENT_COMMAND_ID > {dir}/alpha" }));
        var final = await ctlA.FinalAsync(quick.Id, E2EContext.Wait);
        var elapsed = DateTime.UtcNow - started;

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"alpha waited {elapsed} behind beta");
        Assert.Equal(quick.Id.ToString(), File.ReadAllText(Path.Combine(dir, "alpha")).Trim());
        Assert.Contains($"alpha {quick.Id} CommandLedger: accepted", agent.Log);
        Assert.DoesNotContain($"beta {quick.Id}", agent.Log);
        // Beta's controller never sees alpha's replies.
        Assert.Empty(await ctlB.SeenAsync(quick.Id));
    }
}
