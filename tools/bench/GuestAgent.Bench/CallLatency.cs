using System.Diagnostics;
using System.Text.Json.Nodes;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// Sequential `exec true` calls through a running agent, and in the same run the transport floor:
/// the same Zaqar round trips with no agent (post command, claim it, delete it, post reply, claim
/// reply, delete reply). Figures in milliseconds.
/// </summary>
public static class CallLatency
{
    public static async Task RunAsync(ZaqarClient zaqar, string agentQueue, int calls)
    {
        var floor = new List<double>();
        var floorQueue = "bench-floor-" + Guid.NewGuid().ToString("N")[..8];
        var floorReplies = floorQueue + "-r";
        var body = JsonNode.Parse(Command.Call(new ExecArgs { Argv = ["true"] }, floorReplies, DateTimeOffset.UtcNow).ToJson());
        for (var i = 0; i < calls + 10; i++)
        {
            var sw = Stopwatch.StartNew();
            await zaqar.PostAsync(floorQueue, new OutgoingMessage(body, 300));
            var c = await zaqar.ClaimAsync(floorQueue, 1, 60, 60);
            await zaqar.DeleteAsync(floorQueue, c.Messages[0].Id, c.Id);
            await zaqar.PostAsync(floorReplies, new OutgoingMessage(body, 300));
            var r = await zaqar.ClaimAsync(floorReplies, 1, 60, 60);
            await zaqar.DeleteAsync(floorReplies, r.Messages[0].Id, r.Id);
            if (i >= 10)
            {
                floor.Add(sw.Elapsed.TotalMilliseconds);
            }
        }

        await using var guest = new GuestClient(zaqar, agentQueue, "bench-replies-" + Guid.NewGuid().ToString("N")[..8]);
        var latency = new List<double>();
        for (var i = 0; i < calls + 10; i++)
        {
            var sw = Stopwatch.StartNew();
            var result = await guest.CallAsync(new ExecArgs { Argv = ["true"] });
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
        Console.WriteLine($"transport floor (6 Zaqar requests)  {Stats(floor)} ms");
        Console.WriteLine($"exec true call through the agent    {Stats(latency)} ms");
        Console.WriteLine($"zaqar requests sent by this process: {zaqar.RequestsSent}");
    }

    public static string Stats(List<double> v)
    {
        v.Sort();
        double P(double p) => v[Math.Min(v.Count - 1, (int)Math.Ceiling(p * v.Count) - 1)];
        return $"p50 {P(0.50),7:F1}  p95 {P(0.95),7:F1}  p99 {P(0.99),7:F1}  min {v[0],7:F1}  max {v[^1],7:F1}";
    }
}
