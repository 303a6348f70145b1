using System.Diagnostics;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Amqp.Tests.Agent;

/// <summary>
/// The SDK over AMQP while it waits for a call's reply and the broker goes away under it: a broker
/// restart, and the broker closing the controller's connections. The call still ends with the one
/// final reply, and the command ran once. On a broker of their own (a restart and a close hit every
/// client of the node), waiting out a restart: the longer mode.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AmqpClientBrokerFaultTests(PrivateRabbit rabbit) : IClassFixture<PrivateRabbit>
{
    // Generous: on a loaded machine a broker restart alone has taken most of a minute, and the listener backs off up to 30 s meanwhile.
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(3);

    [LongTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_call_waiting_across_a_broker_restart_gets_its_one_final_reply_and_the_command_runs_once(bool kill)
    {
        await using var e2e = await AmqpAgentContext.StartAsync(rabbit.Bed);
        await using var guest = e2e.NewClient();
        var call = guest.Client.CallAsync(Gated(e2e), new CallOptions { Timeout = CallTimeout });
        await AmqpAgentContext.WaitForAsync(() => e2e.MarkLines("mark").Length == 1, "the command started");

        if (kill)
        {
            // kill -9: no close is sent, the sockets just die; the command ends once the broker is back.
            rabbit.Bed.RestartBroker(kill: true, down: TimeSpan.FromSeconds(2));
            await File.WriteAllTextAsync(Path.Combine(e2e.Dir, "go"), "");
        }
        else
        {
            // The command ends while the broker is down: its final reply waits in the agent's outbox,
            // and the client's reply consumer has lost its connection.
            rabbit.Bed.StopBroker();
            await File.WriteAllTextAsync(Path.Combine(e2e.Dir, "go"), "");
            await e2e.Agent.WaitForLogAsync("replies failed", AmqpAgentContext.Wait);
            rabbit.Bed.RestartBroker();
        }

        var result = await Diagnosed(call, e2e, guest);
        AssertOneFinal(result, e2e);
        // The same client goes on: a second call over the connections it made again.
        var after = await guest.Client.CallAsync(new ExecArgs { Shell = "echo after" }, new CallOptions { Timeout = AmqpAgentContext.Wait });
        Assert.Equal("after\n", after.StdoutText);
        Assert.Equal(["run"], e2e.MarkLines("mark"));
    }

    [LongFact]
    public async Task A_call_whose_connections_the_broker_closes_while_it_waits_gets_its_one_final_reply_and_the_command_runs_once()
    {
        await using var e2e = await AmqpAgentContext.StartAsync(rabbit.Bed);
        await using var guest = e2e.NewClient();
        var call = guest.Client.CallAsync(Gated(e2e), new CallOptions { Timeout = CallTimeout });
        await AmqpAgentContext.WaitForAsync(() => e2e.MarkLines("mark").Length == 1, "the command started");
        var started = Stopwatch.StartNew();

        // The controller's connections only (the agent's user is another): the reply comes while its consumer is down.
        rabbit.Bed.CloseConnections(rabbit.Bed.AdminUser, "closed by the test");
        await File.WriteAllTextAsync(Path.Combine(e2e.Dir, "go"), "");

        var result = await Diagnosed(call, e2e, guest);
        AssertOneFinal(result, e2e);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(20), $"the reply took {started.Elapsed} after the close");
    }

    /// <summary>A command that marks its run, then finishes only once the test writes the go file.</summary>
    private static ExecArgs Gated(AmqpAgentContext e2e) => new()
    {
        Shell = $"echo run >> {e2e.Dir}/mark; while [ ! -e {e2e.Dir}/go ]; do sleep 0.1; done; echo finished",
    };

    /// <summary>The call's result; a failure carries the client's listener counters and the agent's log.</summary>
    private static async Task<CallResult> Diagnosed(Task<CallResult> call, AmqpAgentContext e2e, ClientOverAmqp guest)
    {
        try
        {
            return await call;
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"the call failed: {e}\nclient: {guest.Client.Stats}\nagent:\n{e2e.Agent.Log}");
        }
    }

    private static void AssertOneFinal(CallResult result, AmqpAgentContext e2e)
    {
        Assert.Equal(ReplyStatus.Succeeded, result.Status);
        Assert.Equal("finished\n", result.StdoutText);
        Assert.Single(result.Replies, r => r.Final);
        Assert.Equal(result.Replies.Count, result.Replies.Select(r => r.Seq).Distinct().Count());
        Assert.Equal(["run"], e2e.MarkLines("mark"));
    }
}
