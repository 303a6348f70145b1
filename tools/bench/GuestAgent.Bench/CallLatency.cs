using System.Diagnostics;
using System.Text.Json.Nodes;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// Sequential `exec true` calls through a running agent, and in the same run the transport floor:
/// the same round trips with no agent (Zaqar: post command, claim it, delete it, post reply, claim
/// reply, delete reply; AMQP: <see cref="AmqpFloor"/>). Figures in milliseconds; each run gives p50/p95/p99 of both.
/// </summary>
public static class CallLatency
{
    public static async Task RunAsync(ZaqarClient? zaqar, string agentQueue, int calls, int runs = 1)
    {
        await using var guest = Controllers.Guest(zaqar, agentQueue, "bench-replies-" + Guid.NewGuid().ToString("N")[..8]);
        await using var transport = await Controllers.FloorAsync(zaqar, "bench-floor-" + Guid.NewGuid().ToString("N")[..8], 1);
        // On a push bed, also the floor as push makes it: what the notifier and the socket add.
        await using var push = zaqar is not null && Controllers.WebSocketUrl is { } ws
            ? await PushFloor.StartAsync(zaqar, ws, "bench-pfloor-" + Guid.NewGuid().ToString("N")[..8])
            : null;
        for (var run = 1; run <= runs; run++)
        {
            Console.Error.WriteLine($"latency run {run}/{runs}: {calls} floor cycles, {calls} calls ...");
            var floor = await FloorAsync(transport, calls);
            var pushFloor = push is null ? null : await FloorAsync(new TransportFloor(_ => push.CycleAsync(), () => Task.CompletedTask), calls);
            var latency = new List<double>();
            for (var i = 0; i < calls + 10; i++)
            {
                var sw = Stopwatch.StartNew();
                var result = await guest.CallAsync(Controllers.CallArgs);
                if (!result.Succeeded)
                {
                    throw new InvalidOperationException($"call failed: {result.Status} {result.Error?.Message}");
                }
                if (i >= 10)
                {
                    latency.Add(sw.Elapsed.TotalMilliseconds);
                }
            }
            Console.WriteLine($"calls: {calls} sequential, after 10 warm-up");
            Console.WriteLine($"transport floor ({Controllers.FloorName})  {Stats(floor)} ms");
            if (pushFloor is not null)
            {
                Console.WriteLine($"push floor (the same, announced)    {Stats(pushFloor)} ms");
            }
            Console.WriteLine($"exec true call through the agent    {Stats(latency)} ms");
            foreach (var (p, name) in new[] { (0.50, "p50"), (0.95, "p95"), (0.99, "p99") })
            {
                var f = Results.Percentile(floor, p);
                var o = Results.Percentile(latency, p);
                Results.Emit("latency", Controllers.FloorWho, $"exec true {name}", "ms", f);
                Results.Emit("latency", "guest-agent", $"exec true {name}", "ms", o);
                Results.Emit("latency", "guest-agent", $"added over floor {name}", "ms", o - f);
                Results.Emit("latency", "guest-agent", $"ratio to floor {name}", "x", o / f);
                if (pushFloor is not null)
                {
                    Results.Emit("latency", "push-floor", $"exec true {name}", "ms", Results.Percentile(pushFloor, p));
                    Results.Emit("latency", "guest-agent", $"added over push floor {name}", "ms", o - Results.Percentile(pushFloor, p));
                }
            }
        }
    }

    /// <summary>The transport's round trip of one call with no agent, <paramref name="calls"/> times after 10 warm-up; sorted ms.</summary>
    public static async Task<List<double>> FloorAsync(TransportFloor transport, int calls)
    {
        var floor = new List<double>();
        for (var i = 0; i < calls + 10; i++)
        {
            var sw = Stopwatch.StartNew();
            await transport.CycleAsync(0);
            if (i >= 10)
            {
                floor.Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        floor.Sort();
        return floor;
    }

    private static readonly JsonNode FloorBody = FloorBodyFor("bench-floor-replies");

    /// <summary>What every floor moves: a command of the size of the calls measured (exec true), replying to <paramref name="replyTo"/>.</summary>
    public static JsonNode FloorBodyFor(string replyTo) =>
        JsonNode.Parse(Command.Call(new ExecArgs { Argv = ["true"] }, replyTo, DateTimeOffset.UtcNow).ToJson())!;

    /// <summary>Post a command-sized message, claim it, delete it, then the same for the reply.</summary>
    public static async Task FloorCycleAsync(ZaqarClient zaqar, string queue, JsonNode? body = null)
    {
        body ??= FloorBody;
        foreach (var q in new[] { queue, queue + "-r" })
        {
            await zaqar.PostAsync(q, new OutgoingMessage(body.DeepClone(), 300));
            var c = await zaqar.ClaimAsync(q, 1, 60, 60);
            await zaqar.DeleteAsync(q, c.Messages[0].Id, c.Id);
        }
    }

    public static string Stats(List<double> v)
    {
        v.Sort();
        return $"p50 {Results.Percentile(v, 0.50),7:F1}  p95 {Results.Percentile(v, 0.95),7:F1}  p99 {Results.Percentile(v, 0.99),7:F1}  min {v[0],7:F1}  max {v[^1],7:F1}";
    }
}
