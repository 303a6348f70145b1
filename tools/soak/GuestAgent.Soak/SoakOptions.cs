namespace GuestAgent.Soak;

/// <summary>The faults the injector can cause.</summary>
public enum FaultKind
{
    /// <summary>kill -9 of the agent, then a restart on the same journal.</summary>
    AgentKill,

    /// <summary>zaqar-server stopped and started again on its port.</summary>
    ZaqarRestart,

    /// <summary>Redis (Zaqar's store, with an fsynced append-only file) stopped and started again.</summary>
    RedisRestart,

    /// <summary>SIGSTOP of the agent for longer than its claim TTL, then SIGCONT: its claims expire meanwhile.</summary>
    AgentPause,

    /// <summary>The state directory's filesystem (a small tmpfs) filled up for a while, then freed.</summary>
    DiskFull,

    /// <summary>SIGTERM of the agent under load (it must exit within its shutdown-grace), then a restart.</summary>
    AgentStop,
}

/// <summary>What one soak run does.</summary>
public sealed record SoakOptions
{
    /// <summary>How long commands are sent (draining and accounting come after).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Stop sending after this many commands even if <see cref="Duration"/> is not over.</summary>
    public int? MaxCommands { get; init; }

    /// <summary>Commands (and file transfers) started per second.</summary>
    public double Rate { get; init; } = 3;

    /// <summary>Seeds the workload's mix and the fault schedule: the same seed gives the same plan.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Scratch directory: the bed, the agent, the markers, the file root. Created; left in place for inspection.</summary>
    public required string WorkDir { get; init; }

    /// <summary>Faults the injector picks from (empty: a soak without faults).</summary>
    public IReadOnlyList<FaultKind> Faults { get; init; } = [FaultKind.AgentKill, FaultKind.AgentKill, FaultKind.AgentKill,
        FaultKind.ZaqarRestart, FaultKind.ZaqarRestart, FaultKind.RedisRestart, FaultKind.AgentPause, FaultKind.DiskFull, FaultKind.AgentStop];

    /// <summary>Quiet time between the end of one fault and the start of the next (uniform in the range).</summary>
    public TimeSpan FaultGapMin { get; init; } = TimeSpan.FromSeconds(20);

    public TimeSpan FaultGapMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long everything may take to settle after the last command was sent.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMinutes(6);

    /// <summary>The agent's claim TTL (Zaqar's minimum is 60 s); a pause lasts longer than this.</summary>
    public int ClaimTtlSeconds { get; init; } = 60;

    /// <summary>The agent's shutdown-grace; a SIGTERM must end the agent within it (plus the process's own exit).</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The agent's snapshot-every: small, so that journal growth shows within one soak.</summary>
    public int SnapshotEvery { get; init; } = 100;

    /// <summary>Size of the tmpfs holding the agent's state directory when <see cref="FaultKind.DiskFull"/> is among the faults.</summary>
    public int StateTmpfsMiB { get; init; } = 64;

    /// <summary>Write the accounting as JSON here too.</summary>
    public string? JsonPath { get; init; }

    /// <summary>Progress lines (one every few seconds and one per fault); null for none.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// The CI mode: about 75 s of load at 3 commands a second with two agent kills and one Zaqar
    /// restart, short drain; the whole run takes about two minutes.
    /// </summary>
    public static SoakOptions Short(string workDir, int seed = 1) => new()
    {
        WorkDir = workDir,
        Seed = seed,
        Duration = TimeSpan.FromSeconds(75),
        Faults = [FaultKind.AgentKill, FaultKind.ZaqarRestart, FaultKind.AgentKill],
        FaultGapMin = TimeSpan.FromSeconds(10),
        FaultGapMax = TimeSpan.FromSeconds(14),
        DrainTimeout = TimeSpan.FromSeconds(90),
        ShortSchedule = true,
    };

    /// <summary>Faults are taken from <see cref="Faults"/> in order (once each) rather than at random.</summary>
    public bool ShortSchedule { get; init; }
}
