using System.Collections.Concurrent;
using System.Globalization;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Metrics;

/// <summary>
/// The agent's counters and latency histograms, kept in process: commands by tenant, op and final
/// status with their latency from accepted to final, queue polls, transport errors and replies
/// retried. Recording is a dictionary lookup and a few additions; ping reads one tenant's figures,
/// the Prometheus endpoint all of them. Hand-written rather than on a metrics library: the figures
/// are few, and the agent's footprint is multiplied by the fleet.
/// </summary>
public sealed class AgentMetrics(TimeProvider time)
{
    /// <summary>Upper bounds of the latency buckets, in seconds: from a ping's milliseconds to an hour-long exec.</summary>
    public static readonly IReadOnlyList<double> LatencyBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

    private readonly ConcurrentDictionary<(string Tenant, string Op, string Status), CommandSeries> _commands = new();
    private readonly ConcurrentDictionary<string, long[]> _polls = new();
    private readonly ConcurrentDictionary<(string Tenant, string Transport, string Request), long[]> _errors = new();
    private readonly ConcurrentDictionary<string, long[]> _retried = new();

    public AgentMetrics() : this(TimeProvider.System)
    {
    }

    public DateTimeOffset Since { get; } = time.GetUtcNow();

    /// <summary>Shows a binding's counters at 0 from its start: a series that appears only with its first event hides the rate before it.</summary>
    public void Bind(string tenant)
    {
        _polls.GetOrAdd(tenant, _ => new long[1]);
        _retried.GetOrAdd(tenant, _ => new long[1]);
    }

    /// <summary>A command reached its final status; <paramref name="latency"/> from accepted, null when it was rejected on arrival.</summary>
    public void CommandEnded(string tenant, string op, string status, TimeSpan? latency) =>
        _commands.GetOrAdd((tenant, op, status), _ => new CommandSeries()).Add(latency);

    /// <summary>The transport asked for commands once (a Zaqar claim).</summary>
    public void Polled(string tenant) => Interlocked.Increment(ref _polls.GetOrAdd(tenant, _ => new long[1])[0]);

    /// <summary>A request to the transport failed; <paramref name="request"/>: claim, delete, read, post.</summary>
    public void TransportError(string tenant, string transport, string request) =>
        Interlocked.Increment(ref _errors.GetOrAdd((tenant, transport, request), _ => new long[1])[0]);

    /// <summary>A post of <paramref name="count"/> replies failed and will be tried again.</summary>
    public void RepliesRetried(string tenant, int count) => Interlocked.Add(ref _retried.GetOrAdd(tenant, _ => new long[1])[0], count);

    /// <summary>What ping shows a tenant: its own figures only.</summary>
    public PingMetrics Of(string tenant) => new(
        Since,
        _commands.Where(kv => kv.Key.Tenant == tenant).OrderBy(kv => kv.Key.Op, StringComparer.Ordinal).ThenBy(kv => kv.Key.Status, StringComparer.Ordinal)
            .Select(kv => kv.Value.Summary(kv.Key.Op, kv.Key.Status)).ToList(),
        Read(_polls, tenant),
        _errors.Where(kv => kv.Key.Tenant == tenant).Sum(kv => Interlocked.Read(ref kv.Value[0])),
        Read(_retried, tenant));

    /// <summary>Every figure in Prometheus' text exposition format (version 0.0.4).</summary>
    public void WritePrometheus(TextWriter w)
    {
        var commands = _commands.OrderBy(kv => kv.Key).ToList();
        w.Write("# HELP guest_agent_commands_total Commands that reached a final status.\n# TYPE guest_agent_commands_total counter\n");
        foreach (var (key, series) in commands)
        {
            w.Write($"guest_agent_commands_total{{tenant=\"{Escape(key.Tenant)}\",op=\"{Escape(key.Op)}\",status=\"{Escape(key.Status)}\"}} {series.Total}\n");
        }
        w.Write("# HELP guest_agent_command_latency_seconds Time from a command's acceptance to its final status.\n# TYPE guest_agent_command_latency_seconds histogram\n");
        foreach (var (key, series) in commands)
        {
            series.WriteHistogram(w, $"tenant=\"{Escape(key.Tenant)}\",op=\"{Escape(key.Op)}\",status=\"{Escape(key.Status)}\"");
        }
        w.Write("# HELP guest_agent_queue_polls_total Requests for commands (Zaqar claims).\n# TYPE guest_agent_queue_polls_total counter\n");
        foreach (var (tenant, n) in _polls.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            w.Write($"guest_agent_queue_polls_total{{tenant=\"{Escape(tenant)}\"}} {Interlocked.Read(ref n[0])}\n");
        }
        w.Write("# HELP guest_agent_transport_errors_total Requests to the transport that failed.\n# TYPE guest_agent_transport_errors_total counter\n");
        foreach (var (key, n) in _errors.OrderBy(kv => kv.Key))
        {
            w.Write($"guest_agent_transport_errors_total{{tenant=\"{Escape(key.Tenant)}\",transport=\"{Escape(key.Transport)}\",request=\"{Escape(key.Request)}\"}} {Interlocked.Read(ref n[0])}\n");
        }
        w.Write("# HELP guest_agent_replies_retried_total Replies whose post failed and was tried again.\n# TYPE guest_agent_replies_retried_total counter\n");
        foreach (var (tenant, n) in _retried.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            w.Write($"guest_agent_replies_retried_total{{tenant=\"{Escape(tenant)}\"}} {Interlocked.Read(ref n[0])}\n");
        }
    }

    private static long Read<TKey>(ConcurrentDictionary<TKey, long[]> counters, TKey key) where TKey : notnull =>
        counters.TryGetValue(key, out var n) ? Interlocked.Read(ref n[0]) : 0;

    private static string Escape(string label) => label.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
        .Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>One tenant, op and status: its count, and a histogram of the accepted ones' latencies.</summary>
    private sealed class CommandSeries
    {
        private readonly object _gate = new();
        private readonly long[] _buckets = new long[LatencyBounds.Count + 1];
        private long _total;
        private long _timed;
        private double _sumSeconds;
        private double _maxSeconds;

        public long Total
        {
            get
            {
                lock (_gate)
                {
                    return _total;
                }
            }
        }

        public void Add(TimeSpan? latency)
        {
            lock (_gate)
            {
                _total++;
                if (latency is not { } l)
                {
                    return;
                }
                var seconds = Math.Max(0, l.TotalSeconds);
                var i = 0;
                while (i < LatencyBounds.Count && seconds > LatencyBounds[i])
                {
                    i++;
                }
                _buckets[i]++;
                _timed++;
                _sumSeconds += seconds;
                _maxSeconds = Math.Max(_maxSeconds, seconds);
            }
        }

        public CommandMetrics Summary(string op, string status)
        {
            lock (_gate)
            {
                return new CommandMetrics(op, status, _total, _timed == 0 ? null : new LatencySummary(_timed, Math.Round(_sumSeconds * 1000, 1),
                    Math.Round(_maxSeconds * 1000, 1), Percentile(0.5), Percentile(0.9), Percentile(0.99)));
            }
        }

        /// <summary>The upper bound (ms) of the bucket holding the <paramref name="q"/> quantile; the largest value when that is smaller, or in the open bucket.</summary>
        private double Percentile(double q)
        {
            var rank = (long)Math.Ceiling(q * _timed);
            long seen = 0;
            for (var i = 0; i < _buckets.Length; i++)
            {
                seen += _buckets[i];
                if (seen >= rank)
                {
                    var bound = i < LatencyBounds.Count ? LatencyBounds[i] : double.PositiveInfinity;
                    return Math.Round(Math.Min(bound, _maxSeconds) * 1000, 1);
                }
            }
            return Math.Round(_maxSeconds * 1000, 1);
        }

        public void WriteHistogram(TextWriter w, string labels)
        {
            lock (_gate)
            {
                long cumulative = 0;
                for (var i = 0; i < LatencyBounds.Count; i++)
                {
                    cumulative += _buckets[i];
                    w.Write($"guest_agent_command_latency_seconds_bucket{{{labels},le=\"{Number(LatencyBounds[i])}\"}} {cumulative}\n");
                }
                w.Write($"guest_agent_command_latency_seconds_bucket{{{labels},le=\"+Inf\"}} {_timed}\n");
                w.Write($"guest_agent_command_latency_seconds_sum{{{labels}}} {Number(_sumSeconds)}\n");
                w.Write($"guest_agent_command_latency_seconds_count{{{labels}}} {_timed}\n");
            }
        }
    }
}
