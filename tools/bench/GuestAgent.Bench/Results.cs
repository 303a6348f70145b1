using System.Globalization;
using System.Text.Json;

namespace GuestAgent.Bench;

/// <summary>
/// Figures as JSON lines (one per measurement, one run each) appended to BENCH_JSON, which
/// tools/bench/report.py folds into median (min .. max) per figure. BENCH_BED says which Zaqar
/// the figure used, so every number in the table can name its server.
/// </summary>
public static class Results
{
    private static readonly Lock Gate = new();

    public static void Emit(string workload, string who, string what, string unit, double value, string? bed = null)
    {
        bed ??= Environment.GetEnvironmentVariable("BENCH_BED") ?? "";
        if (!double.IsFinite(value))
        {
            // A ratio over a zero (nothing completed in the window) says nothing: left out, and said.
            Console.Error.WriteLine($"  [{workload}] {who}: {what} = n/a (not finite), not recorded");
            return;
        }
        Console.Error.WriteLine($"  [{workload}] {who}: {what} = {value.ToString("0.###", CultureInfo.InvariantCulture)} {unit}{(bed == "" ? "" : $" ({bed})")}");
        var path = Environment.GetEnvironmentVariable("BENCH_JSON");
        if (string.IsNullOrEmpty(path))
        {
            return;
        }
        var line = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["workload"] = workload,
            ["who"] = who,
            ["what"] = what,
            ["unit"] = unit,
            ["value"] = Math.Round(value, 4),
            ["bed"] = bed,
        });
        lock (Gate)
        {
            File.AppendAllText(path, line + "\n");
        }
    }

    public static double Percentile(List<double> sorted, double p) =>
        sorted[Math.Min(sorted.Count - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1))];
}

/// <summary>CPU time and resident memory of one process, from /proc (Linux only, as the agent).</summary>
public readonly record struct ProcSample(double CpuSeconds, double RssMiB, DateTime At)
{
    public static ProcSample? Read(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the command name, which may hold spaces, start after the last ')'.
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = double.Parse(f[11], CultureInfo.InvariantCulture) + double.Parse(f[12], CultureInfo.InvariantCulture);
            var rssKb = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            // USER_HZ is 100 on every Linux the agent targets.
            return new ProcSample(ticks / 100.0, double.Parse(rssKb, CultureInfo.InvariantCulture) / 1024.0, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    public static int? AgentPid() =>
        Environment.GetEnvironmentVariable("BENCH_AGENT_PIDFILE") is { Length: > 0 } f && File.Exists(f)
            ? int.Parse(File.ReadAllText(f).Trim(), CultureInfo.InvariantCulture)
            : null;
}
