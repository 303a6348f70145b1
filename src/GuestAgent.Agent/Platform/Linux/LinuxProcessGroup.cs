using System.Diagnostics;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>
/// The process group led by a child started through setsid (its pgid is its pid): terminate is
/// SIGTERM to the group, kill is SIGKILL to the group.
/// </summary>
internal sealed class LinuxProcessGroup(Process leader) : IProcessTree
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly int _pgid = leader.Id > 1 ? leader.Id : throw new InvalidOperationException($"implausible child pid {leader.Id}");
    private readonly HashSet<int> _signalsSent = [];

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
        await leader.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>A shell-style exit code 128+n, when signal n was one this group was sent.</summary>
    public string? SignalThatEnded(int exitCode) =>
        _signalsSent.Contains(exitCode - 128) ? Native.SignalName(exitCode - 128) : null;

    private void Signal(int sig)
    {
        _signalsSent.Add(sig);
        // ESRCH: setsid has not run yet (the child is still in the agent's group) or the group is gone; signal the child alone.
        if (Native.Kill(-_pgid, sig) == Native.ESRCH && !leader.HasExited)
        {
            Native.Kill(_pgid, sig);
        }
    }

    private bool Alive => !leader.HasExited || Native.Kill(-_pgid, 0) == 0;
}
