using System.Diagnostics;

namespace GuestAgent.Soak;

/// <summary>One fault as it happened: from its start until everything was back.</summary>
public sealed record FaultRecord(FaultKind Kind, double StartS, double EndS, string Detail);

/// <summary>
/// Causes faults on a seeded schedule while the load runs: after a quiet gap, one fault, then
/// the wait until the system is back (agent recovered, Zaqar answering), then the next gap.
/// </summary>
internal sealed class FaultInjector(SoakOptions options, SoakBed bed, AgentUnderSoak agent, Stopwatch clock, Random random, string? diskDir)
{
    private readonly List<FaultRecord> _faults = [];
    private readonly object _gate = new();

    public IReadOnlyList<FaultRecord> Faults
    {
        get
        {
            lock (_gate)
            {
                return _faults.ToList();
            }
        }
    }

    /// <summary>True while a fault (or its recovery) is under way.</summary>
    public bool Active { get; private set; }

    public async Task RunAsync(CancellationToken stop)
    {
        if (options.Faults.Count == 0)
        {
            return;
        }
        var next = 0;
        // A fixed schedule is carried out whole, even if the load ends first (a slow machine): the
        // short soak's assertions count on every one of its faults.
        var until = options.ShortSchedule ? CancellationToken.None : stop;
        while (!until.IsCancellationRequested)
        {
            var gap = options.FaultGapMin + (options.FaultGapMax - options.FaultGapMin) * random.NextDouble();
            try
            {
                await Task.Delay(gap, until);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            FaultKind kind;
            if (options.ShortSchedule)
            {
                if (next >= options.Faults.Count)
                {
                    return;
                }
                kind = options.Faults[next++];
            }
            else
            {
                kind = options.Faults[random.Next(options.Faults.Count)];
            }
            if (kind == FaultKind.DiskFull && diskDir is null)
            {
                kind = FaultKind.AgentKill;
            }
            // A fault, once begun, is carried through to its recovery even if the load ends meanwhile.
            await InjectAsync(kind);
        }
    }

    private async Task InjectAsync(FaultKind kind)
    {
        Active = true;
        var start = clock.Elapsed.TotalSeconds;
        string detail;
        try
        {
            detail = kind switch
            {
                FaultKind.AgentKill => await KillAgentAsync(),
                FaultKind.ZaqarRestart => await RestartAsync("zaqar", 2, 8),
                FaultKind.RedisRestart => await RestartAsync("redis", 2, 6),
                FaultKind.AgentPause => await PauseAgentAsync(),
                FaultKind.DiskFull => await FillDiskAsync(),
                FaultKind.AgentStop => await StopAgentAsync(),
                _ => throw new ArgumentOutOfRangeException(nameof(kind)),
            };
        }
        finally
        {
            Active = false;
        }
        var record = new FaultRecord(kind, start, clock.Elapsed.TotalSeconds, detail);
        lock (_gate)
        {
            _faults.Add(record);
        }
        options.Log?.Invoke($"[{record.StartS,7:F1}s] fault {kind}: {detail} (back after {record.EndS - record.StartS:F1} s)");
    }

    private async Task<string> KillAgentAsync()
    {
        // Within a second of the kill or after a few: sometimes the restart races the claims the dead agent left.
        var down = random.NextDouble() * 3;
        agent.Kill();
        await Task.Delay(TimeSpan.FromSeconds(down));
        await agent.StartAsync();
        return $"kill -9, down {down:F1} s, ledger recovered in {agent.RecoveryMs[^1]:F0} ms";
    }

    private async Task<string> RestartAsync(string part, double minDown, double maxDown)
    {
        var down = minDown + (maxDown - minDown) * random.NextDouble();
        await Task.Run(() => bed.Stop(part));
        await Task.Delay(TimeSpan.FromSeconds(down));
        await Task.Run(() => bed.Restart(part));
        return $"{part} stopped, down {down:F1} s";
    }

    /// <summary>SIGTERMs that did not end the agent within its grace plus 10 s (it was then killed).</summary>
    public int LateStops { get; private set; }

    private async Task<string> StopAgentAsync()
    {
        var watch = Stopwatch.StartNew();
        var exited = await Task.Run(() => agent.Process.Stop(options.ShutdownGrace + TimeSpan.FromSeconds(10)));
        var took = watch.Elapsed.TotalSeconds;
        if (!exited)
        {
            LateStops++;
            agent.Kill();
        }
        await agent.StartAsync();
        return exited
            ? $"SIGTERM, exited in {took:F1} s (grace {options.ShutdownGrace.TotalSeconds:F0} s), ledger recovered in {agent.RecoveryMs[^1]:F0} ms"
            : $"SIGTERM, NOT exited after {took:F1} s: killed";
    }

    private async Task<string> PauseAgentAsync()
    {
        // Longer than the claim TTL: whatever the agent had claimed and not yet recorded becomes claimable again.
        var paused = TimeSpan.FromSeconds(options.ClaimTtlSeconds + 5 + random.Next(5));
        agent.Signal("STOP");
        try
        {
            await Task.Delay(paused);
        }
        finally
        {
            agent.Signal("CONT");
        }
        return $"SIGSTOP for {paused.TotalSeconds:F0} s, then SIGCONT";
    }

    private async Task<string> FillDiskAsync()
    {
        var filler = Path.Combine(diskDir!, "filler");
        long written = 0;
        var hold = TimeSpan.FromSeconds(8 + random.Next(8));
        try
        {
            await using (var f = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var block = new byte[1 << 20];
                try
                {
                    while (true)
                    {
                        f.Write(block);
                        f.Flush(flushToDisk: true);
                        written += block.Length;
                    }
                }
                catch (IOException)
                {
                    // ENOSPC: the filesystem is full, which is the point.
                }
            }
            await Task.Delay(hold);
        }
        catch (IOException)
        {
            // Closing the full file may fail too; it is deleted below all the same.
        }
        finally
        {
            File.Delete(filler);
        }
        // The ledger may have stopped on a failed write; its supervisor restarts it with backoff.
        await Task.Delay(TimeSpan.FromSeconds(2));
        return $"state filesystem filled ({written >> 20} MiB) for {hold.TotalSeconds:F0} s, then freed";
    }
}
