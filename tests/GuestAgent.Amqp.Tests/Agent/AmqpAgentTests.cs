using System.Text;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;

namespace GuestAgent.Amqp.Tests.Agent;

/// <summary>
/// The agent's AMQP transport end to end: a real agent process consuming a provisioned guest's
/// command queue on the shared bed, and a controller publishing to it.
/// </summary>
public sealed class AmqpAgentTests
{
    private static readonly TimeSpan Wait = AmqpAgentContext.Wait;

    [Fact]
    public async Task Exec_call_round_trip_returns_accepted_then_output_and_exit_code()
    {
        await using var e2e = await AmqpAgentContext.StartAsync();
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = "echo hello; echo oops >&2; exit 3" }));

        var replies = await e2e.Controller.RepliesAsync(cmd.Id, Wait);

        Assert.Equal(ReplyStatus.Accepted, replies[0].Status);
        var final = replies[^1];
        Assert.Equal(ReplyStatus.Failed, final.Status);
        Assert.Equal("nonzero_exit", final.Error?.Code);
        var result = final.ResultAs<ExecResult>()!;
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("hello\n", result.Stdout.Data);
        Assert.Equal("oops\n", result.Stderr.Data);
        Assert.Equal(1, result.Attempt);
        // Acked once the ledger recorded it: nothing left in the queue, the agent still consuming.
        Assert.Equal((0u, 1u), await e2e.Controller.CommandQueueAsync());
    }

    [Fact]
    public async Task Casts_outlive_an_agent_kill_and_are_reattached_and_nothing_is_lost()
    {
        await using var e2e = await AmqpAgentContext.StartAsync();
        ExecArgs Work(string name) => new()
        {
            Shell = $"echo attempt=$GUESTAGENT_ATTEMPT >> {e2e.Dir}/{name}; sleep 2; echo done >> {e2e.Dir}/{name}",
        };
        var rerun = await e2e.Controller.SendAsync(e2e.Controller.Exec(Work("rerun"), CommandMode.Cast, InterruptPolicy.Rerun));
        var fail = await e2e.Controller.SendAsync(e2e.Controller.Exec(Work("fail"), CommandMode.Cast, InterruptPolicy.Fail));
        foreach (var name in new[] { "rerun", "fail" })
        {
            await AmqpAgentContext.WaitForAsync(() => e2e.MarkLines(name).Length == 1, $"{name} started");
        }

        e2e.Agent.Kill();
        // Published while the agent is down: kept by the broker for the next start.
        var later = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"echo ran >> {e2e.Dir}/later" }, CommandMode.Cast));
        e2e.Agent.Start();

        var rerunFinal = await e2e.Controller.FinalAsync(rerun.Id, Wait);
        var failFinal = await e2e.Controller.FinalAsync(fail.Id, Wait);
        var laterFinal = await e2e.Controller.FinalAsync(later.Id, Wait);

        // Both runs outlived the agent and were followed to their end: neither rerun nor interrupted.
        foreach (var (final, name) in new[] { (rerunFinal, "rerun"), (failFinal, "fail") })
        {
            Assert.Equal(ReplyStatus.Succeeded, final.Status);
            Assert.Equal(1, final.ResultAs<ExecResult>()!.Attempt);
            Assert.True(final.ResultAs<ExecResult>()!.Reattached);
            Assert.Equal(["attempt=1", "done"], e2e.MarkLines(name));
        }
        Assert.Equal(ReplyStatus.Succeeded, laterFinal.Status);
        Assert.Equal(["ran"], e2e.MarkLines("later"));
        Assert.Equal(0u, (await e2e.Controller.CommandQueueAsync()).Messages);
    }

    [Fact]
    public async Task Command_delivered_twice_runs_once()
    {
        await using var e2e = await AmqpAgentContext.StartAsync();
        var cmd = e2e.Controller.Exec(new ExecArgs { Shell = $"echo run >> {e2e.Dir}/mark" });
        var body = Encoding.UTF8.GetBytes(e2e.Controller.Signed(JsonNode.Parse(cmd.ToJson())!).ToJsonString());

        // The same message twice, as the broker does with a delivery whose ack was lost.
        await e2e.Controller.PublishAsync(body);
        await e2e.Controller.PublishAsync(body);
        var final = await e2e.Controller.FinalAsync(cmd.Id, Wait);
        await e2e.Agent.WaitForLogAsync($"{cmd.Id} CommandLedger: duplicate delivery of exec dropped", Wait);

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(["run"], e2e.MarkLines("mark"));
        Assert.Equal(0u, (await e2e.Controller.CommandQueueAsync()).Messages);
    }

    [Fact]
    public async Task Bad_messages_get_a_rejected_reply_or_are_dropped_and_the_consumer_goes_on()
    {
        await using var e2e = await AmqpAgentContext.StartAsync();
        var bad = e2e.Controller.Exec(new ExecArgs { Shell = $"touch {e2e.Dir}/bad" });
        var unknownOp = JsonNode.Parse(bad.ToJson())!.AsObject();
        unknownOp["op"] = "format_disk";

        await e2e.Controller.PublishAsync(Encoding.UTF8.GetBytes(e2e.Controller.Signed(unknownOp).ToJsonString()));
        // Not JSON at all: nothing to answer, but it must not wedge the queue.
        await e2e.Controller.PublishAsync([0xff, 0x00, (byte)'{', (byte)'x']);
        var good = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"touch {e2e.Dir}/good" }));

        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(good.Id, Wait)).Status);
        var rejected = await e2e.Controller.FinalAsync(bad.Id, Wait);
        Assert.Equal(ReplyStatus.Rejected, rejected.Status);
        Assert.Equal("unknown_op", rejected.Error!.Code);
        Assert.False(File.Exists(Path.Combine(e2e.Dir, "bad")));
        Assert.Equal((0u, 1u), await e2e.Controller.CommandQueueAsync());
    }

    [Fact]
    public async Task Takes_no_more_commands_than_free_slots_the_rest_wait_in_the_queue()
    {
        await using var e2e = await AmqpAgentContext.StartAsync(maxOperations: 1);
        var casts = new List<Command>();
        for (var i = 0; i < 3; i++)
        {
            casts.Add(await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"echo {i} >> {e2e.Dir}/runs; sleep 1" },
                CommandMode.Cast)));
        }
        await AmqpAgentContext.WaitForAsync(() => e2e.MarkLines("runs").Length == 1, "the first cast running");

        // One slot, one command in hand: the consumer is paused, so the broker keeps the others (not delivered, not unacked).
        Assert.Equal(2u, (await e2e.Controller.CommandQueueAsync()).Messages);
        foreach (var cast in casts)
        {
            Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(cast.Id, Wait)).Status);
        }
        Assert.Equal(["0", "1", "2"], e2e.MarkLines("runs"));
    }

    [Fact]
    public async Task Connections_closed_by_the_broker_are_reconnected_and_commands_keep_running()
    {
        await using var e2e = await AmqpAgentContext.StartAsync();
        var first = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = "echo one" }));
        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(first.Id, Wait)).Status);

        e2e.Bed.CloseConnections(e2e.Guest.UserName, "closed by the test");
        await e2e.Agent.WaitForLogAsync("reconnecting in", Wait);
        var second = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = "echo two" }));

        var final = await e2e.Controller.FinalAsync(second.Id, Wait);
        Assert.Equal("two\n", final.ResultAs<ExecResult>()!.Stdout.Data);
        await e2e.Agent.WaitForLogAsync("connected to", Wait, times: 2);
    }
}

/// <summary>A broker restart hits every client of the node: these run on a broker of their own.</summary>
public sealed class AmqpAgentBrokerFaultTests(PrivateRabbit rabbit) : IClassFixture<PrivateRabbit>
{
    [Fact]
    public async Task Broker_restarted_mid_command_the_final_reply_still_arrives_and_nothing_runs_twice()
    {
        await using var e2e = await AmqpAgentContext.StartAsync(rabbit.Bed);
        // It finishes only once the broker is down (a go file): a fixed sleep lost the race with the broker's stop on a loaded machine.
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"echo run >> {e2e.Dir}/mark; while [ ! -e {e2e.Dir}/go ]; do sleep 0.1; done; echo finished",
        }));
        await e2e.Controller.WaitForAsync(cmd.Id, ReplyStatus.Accepted, AmqpAgentContext.Wait);
        await AmqpAgentContext.WaitForAsync(() => e2e.MarkLines("mark").Length == 1, "the command started");

        // The command ends while the broker is down: its reply waits in the outbox; the consumer reconnects.
        rabbit.Bed.StopBroker();
        await File.WriteAllTextAsync(Path.Combine(e2e.Dir, "go"), "");
        await e2e.Agent.WaitForLogAsync("replies failed", AmqpAgentContext.Wait);
        rabbit.Bed.RestartBroker();

        var final = await e2e.Controller.FinalAsync(cmd.Id, TimeSpan.FromSeconds(40));
        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal("finished\n", final.ResultAs<ExecResult>()!.Stdout.Data);
        var after = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"echo after >> {e2e.Dir}/mark" }));
        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(after.Id, AmqpAgentContext.Wait)).Status);
        Assert.Equal(["run", "after"], e2e.MarkLines("mark"));
        Assert.Equal(0u, (await e2e.Controller.CommandQueueAsync()).Messages);
        Assert.Contains("reconnecting in", e2e.Agent.Log);
        Assert.Contains("replies failed", e2e.Agent.Log);
    }

    [Fact]
    public async Task Disk_alarm_holds_the_final_reply_until_it_clears_and_nothing_runs_twice()
    {
        await using var e2e = await AmqpAgentContext.StartAsync(rabbit.Bed);
        // It finishes only once the alarm is up (a go file): a fixed sleep lost the race with rabbitmqctl on a loaded machine.
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"echo run >> {e2e.Dir}/mark; while [ ! -e {e2e.Dir}/go ]; do sleep 0.1; done; echo finished",
        }));
        await e2e.Controller.WaitForAsync(cmd.Id, ReplyStatus.Accepted, AmqpAgentContext.Wait);

        rabbit.Bed.RaiseDiskAlarm();
        try
        {
            await File.WriteAllTextAsync(Path.Combine(e2e.Dir, "go"), "");
            await e2e.Agent.WaitForLogAsync($"{cmd.Id} CommandLedger: attempt 1 ended", AmqpAgentContext.Wait);
            // The broker blocks the reply's publisher: not confirmed, so the outbox holds the reply and tries again.
            await e2e.Agent.WaitForLogAsync("replies failed", AmqpAgentContext.Wait);
            Assert.Single(await e2e.Controller.SeenAsync(cmd.Id));
        }
        finally
        {
            rabbit.Bed.ClearDiskAlarm();
        }

        var final = await e2e.Controller.FinalAsync(cmd.Id, TimeSpan.FromSeconds(30));
        Assert.Equal("finished\n", final.ResultAs<ExecResult>()!.Stdout.Data);
        Assert.Equal(["run"], e2e.MarkLines("mark"));
    }
}
