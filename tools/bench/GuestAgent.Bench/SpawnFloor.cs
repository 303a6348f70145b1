using System.Diagnostics;
using System.Runtime.Versioning;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Platform.Linux;

namespace GuestAgent.Bench;

/// <summary>
/// What starting the run's processes costs the agent, with no agent: from this .NET process, the
/// time to start <c>true</c> and see it exit: alone through <see cref="Process"/>; then as a run,
/// under the run supervisor (which writes the run's pid and exit files), started the former way
/// (<see cref="Process"/> starting <c>setsid -- /bin/sh -c SCRIPT</c>) and as the agent starts it
/// now (its own <see cref="LinuxProcessControl.Start"/>: the supervisor spawned as a session leader).
/// Part of any exec call's latency that no transport or bookkeeping change can remove.
/// </summary>
[SupportedOSPlatform("linux")]
public static class SpawnFloor
{
    public static async Task RunAsync(int runs)
    {
        await MeasureAsync("start true", runs, async () =>
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/true") { UseShellExecute = false })!;
            await p.WaitForExitAsync();
        });
        var processes = LinuxPlatform.Create().Processes;
        var spool = Directory.CreateTempSubdirectory("ga-spawn-floor-").FullName;
        try
        {
            // The same supervisor script both ways: only how it is started differs.
            await MeasureRunAsync("a run of true: setsid, then the supervisor (the former way)", runs, spool, async files =>
            {
                var psi = new ProcessStartInfo("/usr/bin/setsid") { UseShellExecute = false };
                foreach (var a in new[] { "--", "/bin/sh", "-c", LinuxProcessControl.SupervisorScript, "guest-agent-run", "/dev/null",
                             files.Stdout, files.Stderr, files.Exit, files.Pid, spool, "/usr/bin/true" })
                {
                    psi.ArgumentList.Add(a);
                }
                using var p = Process.Start(psi)!;
                await p.WaitForExitAsync();
                return p.ExitCode;
            });
            await MeasureRunAsync("a run of true as the agent starts it (spawned supervisor)", runs, spool, async files =>
            {
                var env = new Dictionary<string, string> { ["GUESTAGENT_COMMAND_ID"] = Guid.NewGuid().ToString("D") };
                var (run, refusal) = processes.Start(new RunStart(["/usr/bin/true"], spool, env, null, files, WithStdin: false));
                using var started = run ?? throw new InvalidOperationException(refusal);
                return await started.Exited;
            });
        }
        finally
        {
            Directory.Delete(spool, recursive: true);
        }
    }

    /// <summary>Measures starting a run of <c>true</c> with its files (created empty before, removed after, neither timed).</summary>
    private static Task MeasureRunAsync(string label, int runs, string spool, Func<RunFiles, Task<int?>> start)
    {
        RunFiles? files = null;
        return MeasureAsync(label, runs, async () =>
        {
            if (await start(files!) != 0 || files!.ReadExitCode() != 0)
            {
                throw new InvalidOperationException($"{label}: the run of true did not end with 0");
            }
        }, prepare: () =>
        {
            files = RunFiles.For(spool, Guid.NewGuid(), 1);
            File.WriteAllText(files.Stdout, "");
            File.WriteAllText(files.Stderr, "");
        }, cleanUp: () =>
        {
            foreach (var f in new[] { files!.Stdout, files.Stderr, files.Exit, files.Pid })
            {
                File.Delete(f);
            }
        });
    }

    private static async Task MeasureAsync(string label, int runs, Func<Task> start, Action? prepare = null, Action? cleanUp = null)
    {
        var ms = new List<double>();
        for (var i = 0; i < runs + 10; i++)
        {
            prepare?.Invoke();
            var sw = Stopwatch.StartNew();
            await start();
            var elapsed = sw.Elapsed;
            cleanUp?.Invoke();
            if (i >= 10)
            {
                ms.Add(elapsed.TotalMilliseconds);
            }
        }
        ms.Sort();
        Console.WriteLine($"{label,-58} {CallLatency.Stats(ms)} ms");
        Results.Emit("latency", "spawn-floor", $"{label} p50", "ms", Results.Percentile(ms, 0.50));
    }
}
