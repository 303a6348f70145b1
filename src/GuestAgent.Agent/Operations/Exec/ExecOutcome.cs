using System.Security.Cryptography;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;

using GuestAgent.Blocks;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>How a run ended.</summary>
public enum ExecOutcomeKind
{
    /// <summary>The process ended on its own (normally, or by a signal the runner did not send).</summary>
    Exited,

    /// <summary>The timeout expired; the process group got SIGTERM, and SIGKILL after the grace period if needed.</summary>
    TimedOut,

    /// <summary>The cancellation token fired; the process group was stopped as for a timeout.</summary>
    Cancelled,

    /// <summary>The agent stopped following the run, which goes on under its supervisor; no outcome yet.</summary>
    Detached,

    /// <summary>No process ran: bad arguments, missing program or cwd, unknown or forbidden user. See <see cref="ExecOutcome.Error"/>.</summary>
    FailedToStart,
}


/// <summary>
/// What happened to one run of an <c>exec</c>.
/// <para>
/// Signals: .NET reports a process killed by signal n as exit code 128+n, the same as a process
/// that exits with that code. The runner therefore names a <see cref="Signal"/> (and leaves
/// <see cref="ExitCode"/> null) only when it sent that signal itself (timeout or cancellation)
/// and the exit code is 128+SIGTERM or 128+SIGKILL. Any other death by signal shows as exit code
/// 128+n, as a shell would report it.
/// </para>
/// </summary>
public sealed record ExecOutcome(
    ExecOutcomeKind Kind,
    int Attempt,
    int? ExitCode,
    string? Signal,
    TimeSpan Duration,
    CapturedStream Stdout,
    CapturedStream Stderr,
    string? Error = null,
    bool MayHaveRun = false)
{
    /// <summary>
    /// The run threw (e.g. its output spool could not be written: disk full) instead of ending:
    /// no result, and the process may well have run, so it must not be reported as never started.
    /// </summary>
    public static ExecOutcome Crashed(int attempt, Exception e) =>
        FailedToStart(attempt, $"internal error: {e.Message}") with { MayHaveRun = true };

    public static ExecOutcome Detached(int attempt) =>
        new(ExecOutcomeKind.Detached, attempt, null, null, TimeSpan.Zero, CapturedStream.Empty, CapturedStream.Empty);

    /// <summary>The run outlived the agent that started it and was found again by this one.</summary>
    public bool Reattached { get; init; }

    public static ExecOutcome FailedToStart(int attempt, string error) =>
        new(ExecOutcomeKind.FailedToStart, attempt, null, null, TimeSpan.Zero, CapturedStream.Empty, CapturedStream.Empty, error);

    public bool Started => Kind != ExecOutcomeKind.FailedToStart;

    /// <summary>
    /// The protocol result of a run that started. The chunk counts are those of the chunk replies
    /// the caller posts for the non-inline rest of each stream (read from the spool files).
    /// </summary>
    /// <exception cref="InvalidOperationException">The run did not start; that is an error reply, not a result.</exception>
    public ExecResult ToResult(int stdoutChunks = 0, int stderrChunks = 0)
    {
        if (!Started)
        {
            throw new InvalidOperationException($"The process did not start ({Error}); there is no exec result.");
        }
        return new ExecResult(
            Attempt,
            (long)Duration.TotalMilliseconds,
            Stdout.ToStreamOutput(stdoutChunks),
            Stderr.ToStreamOutput(stderrChunks),
            ExitCode,
            Signal,
            Reattached ? true : null);
    }
}
