using System.Diagnostics;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// Crash recovery: N casts (`sleep 1`, on_interrupt = rerun) are posted, the agent is killed with
/// SIGKILL while they run and restarted at once (BENCH_AGENT_RESTART, a shell command), and the
/// time from the restart to the last cast's final reply is measured by reading the casts' reply
/// queue with raw Zaqar claims.
/// </summary>
public static class Recovery
{
    public static async Task RunAsync(ZaqarClient zaqar, string agentQueue, int casts, string restartCommand)
    {
        var replies = "bench-rec-" + Guid.NewGuid().ToString("N")[..8];
        await using var guest = Controllers.Guest(zaqar, agentQueue, replies + "-calls");
        (await guest.CallAsync(new ExecArgs { Argv = ["true"] })).EnsureSucceeded();
        var ids = new HashSet<Guid>();
        for (var i = 0; i < casts; i++)
        {
            ids.Add(await guest.CastAsync(new ExecArgs { Shell = "sleep 1" }, new CastOptions { ReplyTo = replies }));
        }
        // Long enough for the agent to claim the casts and start the first ones, well short of the last.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var final = new HashSet<Guid>();
        await DrainAsync(zaqar, replies, final);
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
            if (!await DrainAsync(zaqar, replies, final))
            {
                await Task.Delay(20);
            }
        }
        Results.Emit("recovery", "guest-agent", $"restart to all {casts} casts final", "s", sw.Elapsed.TotalSeconds);
        Results.Emit("recovery", "guest-agent", $"casts still open at the kill (of {casts})", "", casts - before);
    }

    /// <summary>Claims what is on the reply queue, notes final replies, deletes them; false when nothing was there.</summary>
    private static async Task<bool> DrainAsync(ZaqarClient zaqar, string queue, HashSet<Guid> final)
    {
        var claim = await zaqar.ClaimAsync(queue, 20, 60, 60);
        foreach (var m in claim.Messages)
        {
            if (ReplyParser.TryParse(m.Body, out var reply, out _) && reply.Final)
            {
                final.Add(reply.Id);
            }
            await zaqar.DeleteAsync(queue, m.Id, claim.Id);
        }
        return !claim.IsEmpty;
    }
}
