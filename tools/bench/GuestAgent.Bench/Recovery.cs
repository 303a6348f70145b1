using System.Diagnostics;
using GuestAgent.Client;
using GuestAgent.Client.Transport;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// Crash recovery: N casts (`sleep 1`, on_interrupt = rerun) are posted, the agent is killed with
/// SIGKILL while they run and restarted at once (BENCH_AGENT_RESTART, a shell command), and the
/// time from the restart to the last cast's final reply is measured by reading the casts' reply
/// queue straight through the transport (Zaqar claims, AMQP gets), not through a client's listener.
/// </summary>
public static class Recovery
{
    public static async Task RunAsync(ZaqarClient? zaqar, string agentQueue, int casts, string restartCommand)
    {
        // The agent is up: one call, through a client of its own, whose reply listener stops with it.
        var warmUp = Controllers.Guest(zaqar, agentQueue, "bench-rec-" + Guid.NewGuid().ToString("N")[..8]);
        (await warmUp.CallAsync(new ExecArgs { Argv = ["true"] })).EnsureSucceeded();
        await warmUp.DisposeAsync();
        if (warmUp.Transport is IAsyncDisposable closing)
        {
            await closing.DisposeAsync();
        }
        // Casts only, replying elsewhere than to this client's own queue, so its listener never
        // starts and their replies wait for DrainAsync (over AMQP on the binding's reply queue,
        // the only one a guest may publish to).
        var replies = Controllers.Amqp ? Controllers.AmqpReplyQueue : "bench-rec-" + Guid.NewGuid().ToString("N")[..8];
        await using var guest = Controllers.Guest(zaqar, agentQueue, replies + "-calls", listens: false);
        var ids = new HashSet<Guid>();
        for (var i = 0; i < casts; i++)
        {
            ids.Add(await guest.CastAsync(new ExecArgs { Shell = "sleep 1" }, new CastOptions { ReplyTo = replies }));
        }
        // Long enough for the agent to claim the casts and start the first ones, well short of the last.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var final = new HashSet<Guid>();
        await DrainAsync(guest, replies, final);
        Console.Error.WriteLine($"recovery: {casts} casts posted, {final.Count} final before the kill; kill -9 and restart ...");

        var sw = Stopwatch.StartNew();
        using (var restart = Process.Start(new ProcessStartInfo("/bin/bash", ["-c", restartCommand]))!)
        {
            await restart.WaitForExitAsync();
            if (restart.ExitCode != 0)
            {
                throw new InvalidOperationException($"restart command failed ({restart.ExitCode})");
            }
        }
        var before = final.Count;
        while (!ids.IsSubsetOf(final))
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(180))
            {
                throw new TimeoutException($"recovery: only {final.Count}/{casts} casts final after 180 s");
            }
            if (!await DrainAsync(guest, replies, final))
            {
                await Task.Delay(20);
            }
        }
        Results.Emit("recovery", "guest-agent", $"restart to all {casts} casts final", "s", sw.Elapsed.TotalSeconds);
        Results.Emit("recovery", "guest-agent", $"casts still open at the kill (of {casts})", "", casts - before);
    }

    /// <summary>Takes what is on the reply queue, notes final replies, removes them; false when nothing was there.</summary>
    private static async Task<bool> DrainAsync(GuestClient guest, string queue, HashSet<Guid> final)
    {
        var messages = await guest.Transport.ReceiveAsync(queue, Settings, CancellationToken.None);
        foreach (var m in messages)
        {
            if (ReplyParser.TryParse(m.Body, out var reply, out _) && reply.Final)
            {
                final.Add(reply.Id);
            }
            await m.AcknowledgeAsync(CancellationToken.None);
        }
        return messages.Count > 0;
    }

    private static readonly ReceiveSettings Settings = new(20, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));
}
