using GuestAgent.Agent.Platform;
using GuestAgent.Protocol;

using GuestAgent.Blocks;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>
/// Runs one <see cref="ExecArgs"/> as a process of the guest and reports how it ended. No actors
/// here: the caller awaits (or pipes) <see cref="RunAsync"/>.
/// <para>
/// The platform (<see cref="GuestPlatform.Processes"/>) starts the child as the root of a process
/// tree of its own; timeout and cancellation terminate that whole tree (then kill it after
/// <see cref="ExecArgs.KillGraceSeconds"/>), which reaches everything the child started. With
/// <see cref="ExecArgs.RunAs"/> the platform switches to the target user and sets its identity
/// variables.
/// </para>
/// <para>
/// Every run is started under a supervisor (<see cref="IProcessControl.Start"/>) that
/// outlives the agent: the child reads stdin from and writes stdout and stderr straight into the
/// run's files under <see cref="ExecOptions.SpoolDirectory"/> (<see cref="RunFiles"/>), and the
/// supervisor records its exit status. When the run has ended, the files are counted and hashed
/// and the first cap bytes of each go inline. An agent that restarted finds the run again with
/// <see cref="ReattachAsync"/>: its true end, or still running.
/// </para>
/// </summary>
public sealed class ExecRunner(GuestPlatform platform)
{
    /// <summary>The platform the runner starts processes on; the exec gate judges with the same one.</summary>
    public GuestPlatform Platform { get; } = platform;

    /// <summary>
    /// Runs <paramref name="args"/> to completion. Never throws for a failure of the command
    /// itself: a run that cannot start gives <see cref="ExecOutcomeKind.FailedToStart"/>.
    /// <paramref name="cancel"/> stops the process tree like a timeout does (<see cref="ExecOutcomeKind.Cancelled"/>).
    /// </summary>
    public async Task<ExecOutcome> RunAsync(ExecArgs args, ExecOptions options, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(options);
        var attempt = options.Attempt;
        ExecOutcome Fail(string message) => ExecOutcome.FailedToStart(attempt, message);

        // ---- Validate and prepare everything before starting anything.
        var hasArgv = args.Argv is { Count: > 0 };
        if (hasArgv == (args.Shell is not null))
        {
            return Fail("exec needs exactly one of a non-empty argv and shell");
        }
        if (args.TimeoutSeconds <= 0 || double.IsNaN(args.TimeoutSeconds))
        {
            return Fail($"timeout_s must be positive (got {args.TimeoutSeconds})");
        }
        if (args.KillGraceSeconds < 0 || double.IsNaN(args.KillGraceSeconds))
        {
            return Fail($"kill_grace_s must not be negative (got {args.KillGraceSeconds})");
        }
        byte[]? stdin;
        try
        {
            stdin = args.DecodeStdin();
        }
        catch (FormatException)
        {
            return Fail("stdin_b64 is not valid base64");
        }
        // At most the agent's inline cap, as for http and file.get: a final reply must fit one Zaqar message.
        var cap = Math.Clamp(args.OutputCapBytes ?? options.DefaultInlineCapBytes, 0, options.DefaultInlineCapBytes);

        var baseDir = options.WorkingDirectory ?? Environment.CurrentDirectory;
        string cwd;
        try
        {
            cwd = args.Cwd is null ? baseDir : Path.GetFullPath(args.Cwd, baseDir);
        }
        catch (ArgumentException e)
        {
            return Fail($"invalid working directory '{args.Cwd}': {e.Message}");
        }
        if (!Directory.Exists(cwd))
        {
            return Fail($"working directory '{cwd}' does not exist");
        }

        var processes = Platform.Processes;
        // Environment: the agent's own (the platform adds it), then the target user's identity, then args.Env, then ours.
        var environment = new Dictionary<string, string>(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        UserSwitch? asUser = null;
        if (args.RunAs is not null)
        {
            (asUser, var refusal) = processes.SwitchTo(args.RunAs);
            if (refusal is not null)
            {
                return Fail(refusal);
            }
            foreach (var (name, value) in asUser?.Environment ?? new Dictionary<string, string>())
            {
                environment[name] = value;
            }
        }
        if (args.Env is not null)
        {
            foreach (var (name, value) in args.Env)
            {
                if (name.Length == 0 || name.Contains('=') || name.Contains('\0') || value.Contains('\0'))
                {
                    return Fail($"invalid environment variable name or value: '{name}'");
                }
                environment[name] = value;
            }
        }
        environment[ExecOptions.AttemptVariable] = attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment[ExecOptions.CommandIdVariable] = options.CommandId.ToString("D");

        IReadOnlyList<string> command;
        if (hasArgv)
        {
            var resolved = processes.ResolveProgram(args.Argv![0], cwd,
                environment.TryGetValue("PATH", out var path) ? path : Environment.GetEnvironmentVariable("PATH"));
            if (resolved.Error is not null)
            {
                return Fail(resolved.Error);
            }
            command = [resolved.Path!, .. args.Argv.Skip(1)];
        }
        else
        {
            command = processes.ShellCommand(args.Shell!);
        }
        var files = RunFiles.For(options.SpoolDirectory, options.CommandId, attempt);
        var withStdin = stdin is { Length: > 0 };

        // ---- Files the supervisor hands the child: created here, owner-only (output may be sensitive).
        try
        {
            Directory.CreateDirectory(options.SpoolDirectory);
            foreach (var path in new[] { files.Stdout, files.Stderr })
            {
                await OutputSpool.OpenFile(Platform.Files, path).DisposeAsync().ConfigureAwait(false);
            }
            if (withStdin)
            {
                await using var input = OutputSpool.OpenFile(Platform.Files, files.Stdin);
                await input.WriteAsync(stdin, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return Fail($"cannot create the run's files in '{options.SpoolDirectory}': {e.Message}");
        }

        if (cancel.IsCancellationRequested)
        {
            return new ExecOutcome(ExecOutcomeKind.Cancelled, attempt, null, null, TimeSpan.Zero,
                CapturedStream.Empty with { SpoolPath = files.Stdout }, CapturedStream.Empty with { SpoolPath = files.Stderr });
        }

        // ---- Start.
        var clock = options.TimeProvider;
        var started = clock.GetTimestamp();
        var (run, cannotStart) = processes.Start(new RunStart(command, cwd, environment, asUser, files, withStdin));
        if (run is null)
        {
            return Fail(cannotStart ?? $"cannot start '{command[0]}'");
        }
        using var owned = new RunOwnership(run);
        using var space = new SpoolSpaceWatch(options.SpoolDirectory, clock);
        var (kind, detached) = await WaitAsync(run, TimeSpan.FromSeconds(args.TimeoutSeconds), args, clock, cancel, options.Detaching)
            .ConfigureAwait(false);
        if (detached)
        {
            // The supervisor is this agent's child: a ledger that reattaches within this process
            // learns its exit code from here even if the supervisor could not record it (a full disk).
            owned.Release();
            _detached[files.Stem] = ExitCodeOfAsync(run);
            return ExecOutcome.Detached(attempt);
        }
        var duration = clock.GetElapsedTime(started);
        var supervisorExit = await run.Exited.ConfigureAwait(false);
        if (supervisorExit == SupervisorCouldNotStart && files.ReadPid() is null)
        {
            // The pid is written before the child starts: without it, nothing ran.
            return Fail($"the run's supervisor could not write its files in '{options.SpoolDirectory}' (is the disk full?); nothing ran");
        }
        if (space.SawFull)
        {
            return SpoolWasFull(options);
        }
        // The supervisor exits with the command's code; its own record stands in when the agent could not learn it.
        if ((supervisorExit ?? files.ReadExitCode()) is not { } exit)
        {
            return ExecOutcome.Crashed(attempt, new InvalidOperationException(
                "the run ended but neither its supervisor's exit status nor its record of the command's reached the agent"));
        }
        int? exitCode = exit;
        var signal = run.SignalThatEnded(exit);
        if (signal is not null)
        {
            exitCode = null;
        }
        return await EndedAsync(kind, attempt, exitCode, signal, duration, files, cap, reattached: false).ConfigureAwait(false);
    }

    /// <summary>Exit codes of supervisors this agent started and then stopped following, by the run's files.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task<int?>> _detached = new();

    private static async Task<int?> ExitCodeOfAsync(IStartedRun run)
    {
        using (run)
        {
            return await run.Exited.ConfigureAwait(false);
        }
    }

    private static ExecOutcome SpoolWasFull(ExecOptions options) => ExecOutcome.Crashed(options.Attempt,
        new IOException($"the filesystem of the spool '{options.SpoolDirectory}' was full while the run wrote its output, which may be incomplete"));

    /// <summary>Whether this agent started the run of <paramref name="files"/> and stopped following it (its ledger stopped).</summary>
    public bool IsDetachedHere(RunFiles files) => _detached.ContainsKey(files.Stem);

    /// <summary>The exit code of a detached supervisor of this process (it has exited), or null.</summary>
    private async Task<int?> DetachedExitCodeAsync(RunFiles files)
    {
        if (!_detached.TryGetValue(files.Stem, out var exit))
        {
            return null;
        }
        try
        {
            return await exit.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    /// <summary>Disposes the run unless ownership was handed on.</summary>
    private sealed class RunOwnership(IStartedRun run) : IDisposable
    {
        private bool _released;

        public void Release() => _released = true;

        public void Dispose()
        {
            if (!_released)
            {
                run.Dispose();
            }
        }
    }

    /// <summary>The supervisor's exit code when it cannot record its pid (see LinuxProcessControl.SupervisorScript).</summary>
    private const int SupervisorCouldNotStart = 125;

    /// <summary>
    /// Finds attempt <see cref="ExecOptions.Attempt"/> of the command again after the agent lost it
    /// (a crash, a restart): its recorded end, or its supervisor still running, which is then followed
    /// like a run of this agent, the timeout counted from the original start. Null when there is no
    /// trace of it (the supervisor never started, or died without recording how the run ended).
    /// </summary>
    public async Task<ExecOutcome?> ReattachAsync(ExecArgs args, ExecOptions options, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(options);
        var files = RunFiles.For(options.SpoolDirectory, options.CommandId, options.Attempt);
        if (files.StartedAt is not { } startedAt)
        {
            return null;
        }
        var cap = Math.Clamp(args.OutputCapBytes ?? options.DefaultInlineCapBytes, 0, options.DefaultInlineCapBytes);
        var clock = options.TimeProvider;
        var tree = Platform.Processes.FindSupervised(files, ExecOptions.CommandIdVariable, options.CommandId.ToString("D"));
        var kind = ExecOutcomeKind.Exited;
        if (tree is not null && options.KillAtOnce)
        {
            tree.Kill();
            await tree.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            kind = ExecOutcomeKind.Cancelled;
        }
        else if (tree is not null)
        {
            var left = TimeSpan.FromSeconds(args.TimeoutSeconds) - (clock.GetUtcNow() - startedAt);
            using var space = new SpoolSpaceWatch(options.SpoolDirectory, clock);
            (kind, var detached) = await WaitAsync(tree, left > TimeSpan.Zero ? left : TimeSpan.Zero, args, clock, cancel, options.Detaching)
                .ConfigureAwait(false);
            if (detached)
            {
                return ExecOutcome.Detached(options.Attempt);
            }
            if (space.SawFull)
            {
                return SpoolWasFull(options);
            }
        }
        var ended = files.EndedAt ?? clock.GetUtcNow();
        var duration = ended > startedAt ? ended - startedAt : TimeSpan.Zero;
        int? exitCode = files.ReadExitCode() ?? await DetachedExitCodeAsync(files).ConfigureAwait(false);
        _detached.TryRemove(files.Stem, out _);
        string? signal = null;
        if (exitCode is { } code && tree?.SignalThatEnded(code) is { } sent)
        {
            (exitCode, signal) = (null, sent);
        }
        else if (tree is null && exitCode is 128 + 15 or 128 + 9 && duration >= TimeSpan.FromSeconds(args.TimeoutSeconds))
        {
            // Ended by the signal of the earlier agent's own timeout, which died before it could say so.
            (kind, signal, exitCode) = (ExecOutcomeKind.TimedOut, exitCode == 128 + 15 ? "SIGTERM" : "SIGKILL", null);
        }
        else if (exitCode is null)
        {
            if (kind == ExecOutcomeKind.Exited)
            {
                return null; // the supervisor died unrecorded: how the run ended is unknown
            }
            signal = "SIGKILL"; // this agent's kill after the grace ended the supervisor too
        }
        return await EndedAsync(kind, options.Attempt, exitCode, signal, duration, files, cap, reattached: true).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for the tree's root under the timeout and cancellation, and stops the whole tree when
    /// either fires; returns how the wait ended, or that the agent stopped following the run.
    /// </summary>
    private static async Task<(ExecOutcomeKind Kind, bool Detached)> WaitAsync(IProcessTree tree, TimeSpan timeout, ExecArgs args,
        TimeProvider clock, CancellationToken cancel, CancellationToken detaching)
    {
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Min(timeout.TotalSeconds, int.MaxValue / 1000.0)), clock);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel, deadline.Token, detaching);
            try
            {
                await tree.WaitForExitAsync(stop.Token).ConfigureAwait(false);
                return (ExecOutcomeKind.Exited, false);
            }
            catch (OperationCanceledException)
            {
                // Detaching fires before the agent's own cancel: the run is left to its supervisor.
                if (detaching.IsCancellationRequested)
                {
                    return (ExecOutcomeKind.Exited, true);
                }
                var kind = cancel.IsCancellationRequested ? ExecOutcomeKind.Cancelled : ExecOutcomeKind.TimedOut;
                await tree.TerminateAsync(TimeSpan.FromSeconds(args.KillGraceSeconds), clock).ConfigureAwait(false);
                return (kind, false);
            }
        }
        catch when (!tree.HasExited && !detaching.IsCancellationRequested)
        {
            // Only reached on an unexpected exception: leave nothing running.
            tree.Kill();
            throw;
        }
    }

    private static async Task<ExecOutcome> EndedAsync(ExecOutcomeKind kind, int attempt, int? exitCode, string? signal, TimeSpan duration,
        RunFiles files, int cap, bool reattached)
    {
        var stdout = await OutputSpool.CaptureFileAsync(files.Stdout, cap).ConfigureAwait(false);
        var stderr = await OutputSpool.CaptureFileAsync(files.Stderr, cap).ConfigureAwait(false);
        return new ExecOutcome(kind, attempt, exitCode, signal, duration, stdout, stderr) { Reattached = reattached };
    }
}

/// <summary>
/// Watches the free space of a run's spool while it runs. The child writes its output straight into
/// the spool's files, so a write that fails for lack of space is the child's to notice, not the
/// agent's: a run during which the filesystem was seen (nearly) full is reported as one whose output
/// may be incomplete, never as a clean result with output silently missing.
/// </summary>
internal sealed class SpoolSpaceWatch : IDisposable
{
    /// <summary>Below this many free bytes (for root: reserved blocks count) a write of output may fail.</summary>
    public const long NearlyFullBytes = 256 * 1024;

    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private readonly string _directory;
    private readonly ITimer _timer;
    private volatile bool _sawFull;

    public SpoolSpaceWatch(string directory, TimeProvider clock)
    {
        _directory = directory;
        Check();
        _timer = clock.CreateTimer(_ => Check(), null, Interval, Interval);
    }

    /// <summary>Whether the filesystem was seen nearly full at any check, the last one being now.</summary>
    public bool SawFull
    {
        get
        {
            Check();
            return _sawFull;
        }
    }

    private void Check()
    {
        try
        {
            if (new DriveInfo(_directory).TotalFreeSpace < NearlyFullBytes)
            {
                _sawFull = true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Cannot tell: the run's own result stands.
        }
    }

    public void Dispose() => _timer.Dispose();
}
