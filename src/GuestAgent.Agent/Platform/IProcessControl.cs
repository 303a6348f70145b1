namespace GuestAgent.Agent.Platform;

/// <summary>
/// How exec runs become processes. Every run is started as the root of a process tree of its own,
/// which can be stopped as a whole (terminate, then kill after a grace period) and reaches
/// everything the run started; every process of a run carries the run's tag variables in its
/// environment, so that a restarted agent can find and kill what an interrupted run left.
/// </summary>
public interface IProcessControl
{
    /// <summary>The shell that runs an exec's <c>shell</c> line; a binding with an allow-list must list it.</summary>
    string ShellPath { get; }

    /// <summary>The program and arguments that run <paramref name="line"/> in <see cref="ShellPath"/>.</summary>
    IReadOnlyList<string> ShellCommand(string line);

    /// <summary>
    /// The file argv[0] names, looked up as the OS's own launcher would (in <paramref name="searchPath"/>,
    /// the run's PATH, relative to <paramref name="cwd"/>), or why it cannot be run: a missing program
    /// is then a clear failure to start rather than an exit code.
    /// </summary>
    ResolvedProgram ResolveProgram(string program, string cwd, string? searchPath);

    /// <summary>
    /// How a run becomes user <paramref name="user"/> (run_as): a null switch when the agent is that
    /// user already; a refusal (the <c>failed_to_start</c> message) when it cannot be done.
    /// </summary>
    (UserSwitch? Switch, string? Refusal) SwitchTo(string user);

    /// <summary>
    /// Starts <paramref name="start"/>'s command as the root of a new process tree, under a small
    /// supervisor that outlives the agent: it records its pid, runs the command in the run's working
    /// directory (as the run's user, when given) with stdin from <see cref="RunFiles.Stdin"/> when
    /// <see cref="RunStart.WithStdin"/> (else empty) and stdout and stderr into the run's files
    /// (which must exist), records the exit status when the command ends, and exits with it.
    /// Returns the run, or why it could not be started (the <c>failed_to_start</c> message).
    /// </summary>
    (IStartedRun? Run, string? Refusal) Start(RunStart start);

    /// <summary>
    /// The tree of a supervised run started by an earlier agent, while its supervisor still runs
    /// (its pid file names a live process of that run: one whose environment holds
    /// <paramref name="variable"/>=<paramref name="value"/>); null once it is gone.
    /// </summary>
    IProcessTree? FindSupervised(RunFiles files, string variable, string value);

    /// <summary>
    /// Kills every process but the agent whose environment holds <paramref name="variable"/>=<paramref name="value"/>
    /// (what an interrupted run left behind); returns their process ids.
    /// </summary>
    IReadOnlyList<int> KillTagged(string variable, string value);
}

/// <summary>The processes of one run: its root and everything started below it.</summary>
public interface IProcessTree
{
    /// <summary>
    /// Asks the whole tree to terminate, kills whatever of it is left after <paramref name="grace"/>,
    /// and returns once the root has exited.
    /// </summary>
    Task TerminateAsync(TimeSpan grace, TimeProvider clock);

    /// <summary>Kills the whole tree at once, without waiting.</summary>
    void Kill();

    /// <summary>Whether the root has exited.</summary>
    bool HasExited { get; }

    /// <summary>Returns once the root has exited.</summary>
    Task WaitForExitAsync(CancellationToken cancel);

    /// <summary>
    /// The signal that ended the root when it exited with <paramref name="exitCode"/> because of a
    /// terminate or kill this tree sent (the result's <c>signal</c>, e.g. "SIGTERM"); null when the
    /// exit code is the process's own.
    /// </summary>
    string? SignalThatEnded(int exitCode);
}

/// <summary>
/// A run to start: <see cref="Command"/> (argv[0] resolved) in <see cref="WorkingDirectory"/>, with
/// the agent's environment overlaid by <see cref="Environment"/> (the user's identity, the command's
/// env, the run's tags), as <see cref="User"/> when given, its streams in <see cref="Files"/>.
/// </summary>
public sealed record RunStart(IReadOnlyList<string> Command, string WorkingDirectory, IReadOnlyDictionary<string, string> Environment,
    UserSwitch? User, RunFiles Files, bool WithStdin);

/// <summary>A run this agent started: its tree, whose root is the run's supervisor, and how the root ended.</summary>
public interface IStartedRun : IProcessTree, IDisposable
{
    /// <summary>The root's process id.</summary>
    int Id { get; }

    /// <summary>
    /// The root's exit code once it has exited (on Linux shell-style, 128+n for signal n); null when
    /// the agent could not learn it (the run's exit file may still hold the command's).
    /// </summary>
    Task<int?> Exited { get; }
}

/// <summary>A program that can be started (<see cref="Path"/>, absolute) or why not (<see cref="Error"/>).</summary>
public sealed record ResolvedProgram(string? Path, string? Error);

/// <summary>What a run as another user needs: the user, and the identity variables its environment gets (before the command's own env).</summary>
public sealed record UserSwitch(GuestUser User, IReadOnlyDictionary<string, string> Environment);
