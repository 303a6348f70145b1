using GuestAgent.Agent.Metrics;

namespace GuestAgent.Agent.Tests.Diagnosis;

/// <summary>The in-process metrics: what ping shows a tenant, and the Prometheus text.</summary>
public sealed class AgentMetricsTests
{
    [Fact]
    public void Ping_shows_a_tenant_its_own_commands_with_latency_percentiles_as_bucket_bounds()
    {
        var metrics = new AgentMetrics();
        foreach (var ms in new[] { 3, 4, 40, 2000 })
        {
            metrics.CommandEnded("t1", "exec", "succeeded", TimeSpan.FromMilliseconds(ms));
        }
        metrics.CommandEnded("t1", "unknown", "rejected", latency: null);
        metrics.CommandEnded("t2", "exec", "failed", TimeSpan.FromSeconds(1));
        metrics.Polled("t1");
        metrics.Polled("t1");
        metrics.TransportError("t1", "zaqar", "claim");

        var t1 = metrics.Of("t1");

        Assert.Equal([("exec", "succeeded", 4L), ("unknown", "rejected", 1L)], t1.Commands.Select(c => (c.Op, c.Status, c.Count)));
        var latency = t1.Commands[0].LatencyMs!;
        Assert.Equal((4L, 2047.0, 2000.0), (latency.Count, latency.Sum, latency.Max));
        Assert.Equal(5.0, latency.P50); // 3 and 4 ms fall in the bucket up to 5 ms
        Assert.Equal(2000.0, latency.P90); // the 2 s bucket's bound (2.5 s) is beyond the largest value
        Assert.Null(t1.Commands[1].LatencyMs);
        Assert.Equal((2L, 1L, 0L), (t1.QueuePolls, t1.TransportErrors, t1.RepliesRetried));
    }

    [Fact]
    public void Prometheus_text_has_counters_and_a_cumulative_histogram_per_tenant_op_and_status()
    {
        var metrics = new AgentMetrics();
        metrics.CommandEnded("t1", "exec", "succeeded", TimeSpan.FromMilliseconds(30));
        metrics.CommandEnded("t1", "exec", "succeeded", TimeSpan.FromSeconds(7));
        metrics.RepliesRetried("t1", 3);

        var text = new StringWriter();
        metrics.WritePrometheus(text);
        var lines = text.ToString().Split('\n');

        Assert.Contains("guest_agent_commands_total{tenant=\"t1\",op=\"exec\",status=\"succeeded\"} 2", lines);
        Assert.Contains("guest_agent_command_latency_seconds_bucket{tenant=\"t1\",op=\"exec\",status=\"succeeded\",le=\"0.025\"} 0", lines);
        Assert.Contains("guest_agent_command_latency_seconds_bucket{tenant=\"t1\",op=\"exec\",status=\"succeeded\",le=\"0.05\"} 1", lines);
        Assert.Contains("guest_agent_command_latency_seconds_bucket{tenant=\"t1\",op=\"exec\",status=\"succeeded\",le=\"10\"} 2", lines);
        Assert.Contains("guest_agent_command_latency_seconds_bucket{tenant=\"t1\",op=\"exec\",status=\"succeeded\",le=\"+Inf\"} 2", lines);
        Assert.Contains("guest_agent_command_latency_seconds_count{tenant=\"t1\",op=\"exec\",status=\"succeeded\"} 2", lines);
        Assert.Contains("guest_agent_replies_retried_total{tenant=\"t1\"} 3", lines);
        Assert.Contains("# TYPE guest_agent_command_latency_seconds histogram", lines);
    }
}
