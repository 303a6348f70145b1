namespace GuestAgent.Agent.Platform.Linux;

/// <summary>
/// The process group led by a run's supervisor, spawned as a session leader (its pgid is its pid):
/// terminate is SIGTERM to the group, kill is SIGKILL to the group. The leader is either this
/// agent's child (<see cref="ChildProcess"/>) or the supervisor of a run an earlier agent started
/// (<see cref="SupervisorLeader"/>).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed class LinuxProcessGroup : IProcessTree
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly int _pgid;
    private readonly Func<bool> _exited;
    private readonly Func<CancellationToken, Task> _waitForExit;
    private readonly HashSet<int> _signalsSent = [];

    public LinuxProcessGroup(ChildProcess leader)
        : this(leader.Id, () => leader.HasExited, leader.WaitForExitAsync)
    {
    }

    public LinuxProcessGroup(SupervisorLeader leader)
        : this(leader.Pid, () => !leader.Alive, leader.WaitForExitAsync)
    {
    }

    private LinuxProcessGroup(int pgid, Func<bool> exited, Func<CancellationToken, Task> waitForExit)
    {
        _pgid = pgid > 1 ? pgid : throw new InvalidOperationException($"implausible child pid {pgid}");
        _exited = exited;
        _waitForExit = waitForExit;
    }

    public bool HasExited => _exited();

    public Task WaitForExitAsync(CancellationToken cancel) => _waitForExit(cancel);

    public void Kill() => Signal(Native.SIGKILL);

    /// <summary>SIGTERM to the group; SIGKILL after <paramref name="grace"/> if anything of it is left; waits for the leader.</summary>
    public async Task TerminateAsync(TimeSpan grace, TimeProvider clock)
    {
        Signal(Native.SIGTERM);
        var since = clock.GetTimestamp();
        while (Alive)
        {
            var left = grace - clock.GetElapsedTime(since);
            if (left <= TimeSpan.Zero)
            {
                Signal(Native.SIGKILL);
                break;
            }
            await Task.Delay(left < PollInterval ? left : PollInterval, clock).ConfigureAwait(false);
        }
        await _waitForExit(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>A shell-style exit code 128+n, when signal n was one this group was sent.</summary>
    public string? SignalThatEnded(int exitCode) =>
        _signalsSent.Contains(exitCode - 128) ? Native.SignalName(exitCode - 128) : null;

    private void Signal(int sig)
    {
        _signalsSent.Add(sig);
        // The group exists from the leader's first instruction (spawned as a session leader) until
        // it is reaped: ESRCH means there is nothing left to signal.
        Native.Kill(-_pgid, sig);
    }

    private bool Alive => !_exited() || Native.Kill(-_pgid, 0) == 0;
}

/// <summary>A run this agent spawned: its supervisor's process group, and the supervisor's exit status.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed class LinuxRun(ChildProcess supervisor) : IStartedRun
{
    private readonly LinuxProcessGroup _group = new(supervisor);

    public int Id => supervisor.Id;

    public Task<int?> Exited => supervisor.Exited;

    public bool HasExited => supervisor.HasExited;

    public Task WaitForExitAsync(CancellationToken cancel) => supervisor.WaitForExitAsync(cancel);

    public Task TerminateAsync(TimeSpan grace, TimeProvider clock) => _group.TerminateAsync(grace, clock);

    public void Kill() => _group.Kill();

    public string? SignalThatEnded(int exitCode) => _group.SignalThatEnded(exitCode);

    public void Dispose()
    {
        // Nothing to release: the reaper closes the supervisor's pidfd (or its own thread ends) once it has exited.
    }
}

/// <summary>
/// A run's supervisor that is not this agent's child (an earlier agent started it): alive while
/// /proc shows the same process (same start time, so a reused pid is not mistaken for it) not yet a zombie.
/// </summary>
internal sealed class SupervisorLeader
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private readonly string _startTime;

    private SupervisorLeader(int pid, string startTime)
    {
        Pid = pid;
        _startTime = startTime;
    }

    public int Pid { get; }

    public bool Alive => ReadStat(Pid) is { } stat && stat.StartTime == _startTime && stat.State != 'Z';

    /// <summary>The live process <paramref name="pid"/>, or null when there is none.</summary>
    public static SupervisorLeader? Of(int pid) =>
        ReadStat(pid) is { State: not 'Z' } stat ? new SupervisorLeader(pid, stat.StartTime) : null;

    public async Task WaitForExitAsync(CancellationToken cancel)
    {
        // Not our child: no wait(2) and no exit notification; its exit is seen in /proc.
        while (Alive)
        {
            await Task.Delay(PollInterval, cancel).ConfigureAwait(false);
        }
    }

    /// <summary>State (field 3), session (field 6) and start time (field 22) from /proc/PID/stat; the command name may hold spaces and parentheses.</summary>
    internal static (char State, int Session, string StartTime)? ReadStat(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var afterName = stat.LastIndexOf(')');
        if (afterName < 0)
        {
            return null;
        }
        var fields = stat[(afterName + 2)..].Split(' ');
        // fields[0] is field 3 (state), fields[3] field 6 (session); field 22 (starttime) is fields[19].
        return fields.Length > 19 && fields[0].Length == 1 && int.TryParse(fields[3], out var session)
            ? (fields[0][0], session, fields[19])
            : null;
    }
}
