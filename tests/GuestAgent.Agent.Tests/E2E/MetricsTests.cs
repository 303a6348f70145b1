using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// The agent's metrics, a real agent with its Prometheus endpoint on: commands run through the bed
/// move the counters the endpoint shows and ping reports (AgentSettingsTests: the addresses it refuses).
/// </summary>
public sealed class MetricsTests
{
    private static async Task<string[]> ScrapeAsync(HttpClient http, string url) =>
        (await http.GetStringAsync(url)).Split('\n');

    private static long Value(string[] lines, string series)
    {
        var line = lines.SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal))
                   ?? throw new Xunit.Sdk.XunitException($"no series {series} in:\n{string.Join('\n', lines)}");
        return long.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Commands_move_the_counters_the_prometheus_endpoint_and_ping_show()
    {
        var port = LoopbackPorts.Free();
        using var ctx = new E2EContext(extraConfig: $"metrics.prometheus-listen = \"127.0.0.1:{port}\"");
        var url = $"http://127.0.0.1:{port}/metrics";
        await ctx.Agent.WaitForLogAsync($"metrics: Prometheus text at {url}", E2EContext.Wait);
        await ctx.Agent.WaitForLogAsync("ready: claiming commands", E2EContext.Wait);
        using var http = new HttpClient();
        var before = await ScrapeAsync(http, url);

        var ok = await ctx.Controller.SendAsync(ctx.Controller.Exec(new ExecArgs { Argv = ["true"] }));
        var failed = await ctx.Controller.SendAsync(ctx.Controller.Exec(new ExecArgs { Argv = ["false"] }));
        await ctx.Controller.FinalAsync(ok.Id, E2EContext.Wait);
        await ctx.Controller.FinalAsync(failed.Id, E2EContext.Wait);
        // Unsigned, to an agent that takes signed commands only: rejected before its op is trusted.
        var forged = await ctx.Controller.WithKey(null).SendAsync(ctx.Controller.Exec(new ExecArgs { Argv = ["true"] }));
        await ctx.Controller.FinalAsync(forged.Id, E2EContext.Wait);
        var after = await ScrapeAsync(http, url);

        const string exec = "tenant=\"t1\",op=\"exec\"";
        Assert.Equal(1, Value(after, $"guest_agent_commands_total{{{exec},status=\"succeeded\"}}"));
        Assert.Equal(1, Value(after, $"guest_agent_commands_total{{{exec},status=\"failed\"}}"));
        Assert.Equal(1, Value(after, "guest_agent_commands_total{tenant=\"t1\",op=\"unknown\",status=\"rejected\"}"));
        Assert.Equal(1, Value(after, $"guest_agent_command_latency_seconds_count{{{exec},status=\"succeeded\"}}"));
        Assert.Equal(1, Value(after, $"guest_agent_command_latency_seconds_bucket{{{exec},status=\"succeeded\",le=\"+Inf\"}}"));
        Assert.True(Value(after, "guest_agent_queue_polls_total{tenant=\"t1\"}") > Value(before, "guest_agent_queue_polls_total{tenant=\"t1\"}"),
            "no claim counted while commands were claimed");

        var ping = await ctx.Controller.SendAsync(ctx.Controller.Call(new PingArgs()));
        var final = await ctx.Controller.FinalAsync(ping.Id, E2EContext.Wait);
        var metrics = final.ResultAs<PingResult>()!.Metrics!;
        var succeeded = metrics.Commands.Single(c => c is { Op: "exec", Status: "succeeded" });
        Assert.Equal(1, succeeded.Count);
        Assert.True(succeeded.LatencyMs is { Count: 1, Max: > 0 }, $"latency {succeeded.LatencyMs}");
        Assert.Equal(1, metrics.Commands.Single(c => c is { Op: "exec", Status: "failed" }).Count);
        Assert.True(metrics.QueuePolls >= Value(after, "guest_agent_queue_polls_total{tenant=\"t1\"}"));
    }
}
