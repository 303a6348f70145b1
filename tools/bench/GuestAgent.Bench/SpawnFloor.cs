using System.Diagnostics;

namespace GuestAgent.Bench;

/// <summary>
/// What starting the run's processes costs the agent, with no agent: from this .NET process, the
/// time to start <c>true</c> and see it exit, alone and under the supervisor chain an exec run
/// starts (<c>setsid -- /bin/sh -c ...</c>, which then starts the command). Part of any exec
/// call's latency that no transport or bookkeeping change can remove.
/// </summary>
public static class SpawnFloor
{
    public static async Task RunAsync(int runs)
    {
        foreach (var (label, file, args) in new[]
        {
            ("start true", "/usr/bin/true", Array.Empty<string>()),
            ("start setsid sh -c true (the supervisor chain)", "/usr/bin/setsid", ["--", "/bin/sh", "-c", "/usr/bin/true; echo \"exit $?\" >/dev/null"]),
        })
        {
            var ms = new List<double>();
            for (var i = 0; i < runs + 10; i++)
            {
                var sw = Stopwatch.StartNew();
                using var p = Process.Start(new ProcessStartInfo(file, args) { UseShellExecute = false })!;
                await p.WaitForExitAsync();
                if (i >= 10)
                {
                    ms.Add(sw.Elapsed.TotalMilliseconds);
                }
            }
            ms.Sort();
            Console.WriteLine($"{label,-50} {CallLatency.Stats(ms)} ms");
            Results.Emit("latency", "spawn-floor", $"{label} p50", "ms", Results.Percentile(ms, 0.50));
        }
    }
}
