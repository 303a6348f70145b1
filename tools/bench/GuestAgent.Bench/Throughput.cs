using System.Diagnostics;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// Calls per second of `exec true` with N concurrent callers sharing one client (one reply
/// queue, as a controller does), and in the same run the raw transport cycle rate with N workers
/// (each the floor's round trip on its own queue pair): when the two are close, the transport is
/// the limit, not the agent. On a push bed the cycle rate as push makes it comes too (each worker
/// on its own two subscribed queues, each claim after its announcement): what the server's
/// announcements cost it, which the raw rate does not pay. While the agent is loaded its CPU and
/// RSS are read from /proc.
/// </summary>
public static class Throughput
{
    public static async Task RunAsync(ZaqarClient? zaqar, string agentQueue, double seconds, int runs, int[] concurrency)
    {
        await using var guest = Controllers.Guest(zaqar, agentQueue, "bench-tp-replies-" + Guid.NewGuid().ToString("N")[..8]);
        await using var floor = await Controllers.FloorAsync(zaqar, "bench-tp-raw-" + Guid.NewGuid().ToString("N")[..8], concurrency.Max());
        var rawName = Controllers.Amqp ? "raw RabbitMQ" : "raw Zaqar";
        // On a push bed: the push floor, one per worker; null elsewhere.
        await using var pushFloor = await PushFloorsAsync(zaqar, concurrency.Max());
        for (var i = 0; i < 5; i++)
        {
            (await guest.CallAsync(Controllers.CallArgs)).EnsureSucceeded();
        }
        for (var run = 1; run <= runs; run++)
        {
            foreach (var n in concurrency)
            {
                Console.Error.WriteLine($"throughput run {run}/{runs}: {n} caller(s), {seconds:0.#} s {rawName}"
                    + (pushFloor is null ? "" : $" + {seconds:0.#} s push floor") + $" + {seconds:0.#} s calls ...");
                var raw = await ForAsync(seconds, n, async (w, ct) => await floor.CycleAsync(w));
                Results.Emit("throughput", Controllers.FloorWho, $"{rawName} cycles/s, {n} workers", "/s", raw);
                double? announced = null;
                if (pushFloor is not null)
                {
                    announced = await ForAsync(seconds, n, async (w, ct) => await pushFloor.CycleAsync(w));
                    Results.Emit("throughput", "push-floor", $"announced cycles/s, {n} workers", "/s", announced.Value);
                }

                var pid = ProcSample.AgentPid();
                var before = pid is { } p0 ? ProcSample.Read(p0) : null;
                var ours = await ForAsync(seconds, n, async (w, ct) =>
                    (await guest.CallAsync(Controllers.CallArgs, ct: ct)).EnsureSucceeded());
                var after = pid is { } p1 ? ProcSample.Read(p1) : null;
                Results.Emit("throughput", "guest-agent", $"calls/s, {n} callers", "/s", ours);
                Results.Emit("throughput", "guest-agent", $"ratio to {rawName}, {n} callers", "x", ours / raw);
                if (announced is { } a0)
                {
                    Results.Emit("throughput", "guest-agent", $"ratio to the push floor, {n} callers", "x", ours / a0);
                }
                if (before is { } b && after is { } a)
                {
                    Results.Emit("load", "guest-agent", $"CPU % under load, {n} callers", "%",
                        100 * (a.CpuSeconds - b.CpuSeconds) / (a.At - b.At).TotalSeconds);
                    Results.Emit("load", "guest-agent", $"RSS under load, {n} callers", "MiB", a.RssMiB);
                }
            }
        }
    }

    /// <summary>
    /// One push floor per worker, as a <see cref="TransportFloor"/> (worker w cycles on its own
    /// two subscribed queues), on a push bed (ZAQAR_WS_URL set); null elsewhere.
    /// </summary>
    private static async Task<TransportFloor?> PushFloorsAsync(ZaqarClient? zaqar, int workers)
    {
        if (zaqar is null || Controllers.WebSocketUrl is not { } ws)
        {
            return null;
        }
        var name = "bench-tp-pfloor-" + Guid.NewGuid().ToString("N")[..8];
        var floors = new List<PushFloor>();
        async Task DisposeAllAsync()
        {
            foreach (var f in floors)
            {
                await f.DisposeAsync();
            }
        }
        for (var w = 0; w < workers; w++)
        {
            if (await PushFloor.StartAsync(zaqar, ws, $"{name}-{w}") is not { } floor)
            {
                await DisposeAllAsync();
                throw new InvalidOperationException("the push floor's subscriptions did not come up within 10 s");
            }
            floors.Add(floor);
        }
        return new TransportFloor(w => floors[w].CycleAsync(), DisposeAllAsync);
    }

    /// <summary>Runs <paramref name="n"/> loops of <paramref name="op"/> for the given time; completed ops per second.</summary>
    private static async Task<double> ForAsync(double seconds, int n, Func<int, CancellationToken, Task> op)
    {
        long done = 0;
        var sw = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        // A call still out at the deadline gets a generous bound to finish; it is not counted.
        using var cts = new CancellationTokenSource(until + TimeSpan.FromSeconds(60));
        var workers = Enumerable.Range(0, n).Select(w => Task.Run(async () =>
        {
            while (sw.Elapsed < until)
            {
                await op(w, cts.Token);
                if (sw.Elapsed <= until)
                {
                    Interlocked.Increment(ref done);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        return Interlocked.Read(ref done) / until.TotalSeconds;
    }
}
