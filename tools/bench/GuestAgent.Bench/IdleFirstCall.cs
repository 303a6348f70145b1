using System.Diagnostics;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// Latency of the first call to an idle agent. A polling binding polls at its longest interval
/// when idle and a command waits for the next poll; a binding with push (Zaqar's WebSocket) is
/// told of the command and claims it at once, whatever its safety poll. The agent under test holds K
/// bindings (queues PREFIX0 .. PREFIX{K-1}), each polling on its own: after the idle time (spent
/// by the caller before this runs) the bindings get one call each, one after the other, so K
/// bindings give K independent trials in one idle period. Each trial's controller has its reply
/// queue read (and subscribed) before the clock starts. Calls are not overlapped (one reply queue for
/// all), so the bench's own polling of its reply queue stays one poller.
/// </summary>
public static class IdleFirstCall
{
    public static async Task RunAsync(ZaqarClient zaqar, string prefix, int bindings, string label)
    {
        var latencies = new List<double>();
        var replies = $"bench-first-{Guid.NewGuid():N}"[..24];
        await WarmUpAsync(zaqar);
        for (var i = 0; i < bindings; i++)
        {
            // A client names its command queue, so one per binding; they share the reply queue.
            await using var guest = Controllers.Guest(zaqar, prefix + i, replies);
            // The controller's reply queue is read (and subscribed, on a push bed) before the clock
            // starts: what is measured is the agent waking up, not the controller's set-up.
            await guest.StartListeningAsync();
            var sw = Stopwatch.StartNew();
            (await guest.CallAsync(new ExecArgs { Argv = ["true"] })).EnsureSucceeded();
            latencies.Add(sw.Elapsed.TotalMilliseconds);
        }
        latencies.Sort();
        Console.WriteLine($"first call after idle ({label}), {bindings} trials: {CallLatency.Stats(latencies)} ms");
        Results.Emit("idle-first", "guest-agent", $"first call p50, {label}", "ms", Results.Percentile(latencies, 0.50));
        Results.Emit("idle-first", "guest-agent", $"first call p95, {label}", "ms", Results.Percentile(latencies, 0.95));
    }

    /// <summary>
    /// The bench process's first requests and its first call pay for JIT and new connections (a few
    /// hundred ms), which is not the agent's latency: before the trials, floor cycles and one call
    /// cut short go to scratch queues no agent serves, so no binding under test sees a request.
    /// </summary>
    private static async Task WarmUpAsync(ZaqarClient zaqar)
    {
        var scratch = $"bench-warm-{Guid.NewGuid():N}"[..24];
        for (var i = 0; i < 5; i++)
        {
            await CallLatency.FloorCycleAsync(zaqar, scratch);
        }
        await using var warm = Controllers.Guest(zaqar, scratch + "-c", scratch + "-cr");
        using var cut = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        try
        {
            await warm.CallAsync(new ExecArgs { Argv = ["true"] }, ct: cut.Token);
        }
        catch (OperationCanceledException)
        {
            // Expected: nobody serves the scratch queue.
        }
    }
}
