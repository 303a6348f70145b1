using GuestAgent.Client;
using GuestAgent.Protocol;

namespace GuestAgent.Amqp.Tests.Agent;

/// <summary>
/// A binding's query queue (amqp.query-queue) on the real broker: with every slot busy the command
/// queue waits in the broker, and status, cancel and ping sent to the query queue are still answered.
/// </summary>
public sealed class QueryQueueTests
{
    private static readonly TimeSpan Wait = AmqpAgentContext.Wait;

    [Fact]
    public async Task Status_ping_and_cancel_on_the_query_queue_are_answered_while_a_runaway_command_holds_every_slot()
    {
        await using var e2e = await AmqpAgentContext.StartAsync(maxOperations: 1, waitFor: "ready: consuming status, cancel and ping");
        await using var amqp = e2e.NewClient(new GuestClientOptions { QueryQueue = "queries" });
        var client = amqp.Client;
        var runaway = await client.CastAsync(new ExecArgs { Shell = $"echo started >> {e2e.Dir}/runaway; sleep 120", TimeoutSeconds = 300 });
        await AmqpAgentContext.WaitForAsync(() => e2e.MarkLines("runaway").Length == 1, "the runaway command running");
        // The next command waits in the broker for the only slot.
        var next = await client.CastAsync(new ExecArgs { Shell = $"echo ran >> {e2e.Dir}/next" });
        await Task.Delay(500);
        Assert.Equal(1u, (await e2e.Controller.CommandQueueAsync()).Messages);

        var call = new CallOptions { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(CommandState.Started, (await client.StatusAsync(runaway, call)).State);
        // Still in the broker: the agent has no record of it.
        Assert.Equal(CommandState.Unknown, (await client.StatusAsync(next, call)).State);
        Assert.NotNull(await client.PingAsync(call));
        var cancel = await client.CancelAsync(runaway, call);
        Assert.Equal(ReplyStatus.Succeeded, cancel.Status);

        // The slot freed by the cancel takes the waiting command.
        await AmqpAgentContext.WaitForAsync(() => e2e.MarkLines("next").Length == 1, "the waiting command running after the cancel");
        var runawayFinal = await WaitForFinalStateAsync(client, runaway);
        Assert.Equal(ReplyStatus.Cancelled, runawayFinal.FinalStatus);
        Assert.Equal(["started"], e2e.MarkLines("runaway"));
        Assert.Equal(0u, (await e2e.Controller.CommandQueueAsync()).Messages);
    }

    [Fact]
    public async Task A_command_that_is_not_a_query_sent_to_the_query_queue_is_rejected_and_runs_nothing()
    {
        await using var e2e = await AmqpAgentContext.StartAsync(waitFor: "ready: consuming status, cancel and ping");
        var exec = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"touch {e2e.Dir}/ran" }), queries: true);
        var now = DateTimeOffset.UtcNow;
        var ping = await e2e.Controller.SendAsync(Command.Call(new PingArgs(), e2e.Controller.ReplyTo, now, now.AddMinutes(10)), queries: true);

        var rejected = await e2e.Controller.FinalAsync(exec.Id, Wait);
        Assert.Equal(ReplyStatus.Rejected, rejected.Status);
        Assert.Equal(RejectCodes.InvalidValue, rejected.Error!.Code);
        Assert.Contains("query queue", rejected.Error.Message, StringComparison.Ordinal);
        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(ping.Id, Wait)).Status);
        await Task.Delay(300);
        Assert.False(File.Exists(Path.Combine(e2e.Dir, "ran")), "an exec sent to the query queue ran");
    }

    /// <summary>The command's status once it has ended (asked over the query queue).</summary>
    private static async Task<StatusResult> WaitForFinalStateAsync(GuestClient client, Guid id)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var status = await client.StatusAsync(id, new CallOptions { Timeout = TimeSpan.FromSeconds(10) });
            if (status.FinalStatus is not null || DateTime.UtcNow > deadline)
            {
                return status;
            }
            await Task.Delay(200);
        }
    }
}
