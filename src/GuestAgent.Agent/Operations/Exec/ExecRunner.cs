using System.ComponentModel;
using System.Diagnostics;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>
/// Runs one <see cref="ExecArgs"/> as a Linux process and reports how it ended. No actors here:
/// the caller awaits (or pipes) <see cref="RunAsync"/>.
/// <para>
/// The child is started through <c>setsid</c>, so it leads a new session and process group
/// whose id is its pid; timeout and cancellation signal that whole group (SIGTERM, then SIGKILL
/// after <see cref="ExecArgs.KillGraceSeconds"/>), which reaches everything the child started
/// unless it moved itself to another group. With <see cref="ExecArgs.RunAs"/> the agent (when
/// root) switches user with <c>setpriv</c> inside the new session, setting HOME, USER and LOGNAME
/// for the target user.
/// </para>
/// <para>
/// stdout and stderr are read as raw bytes, concurrently, into spool files under
/// <see cref="ExecOptions.SpoolDirectory"/>; the first cap bytes of each are kept in memory and
/// the whole stream is counted and hashed.
/// </para>
/// </summary>
public sealed class ExecRunner
{
    public const string DefaultSetsidPath = "/usr/bin/setsid";
    public const string DefaultSetprivPath = "/usr/bin/setpriv";
    public const string DefaultShellPath = "/bin/sh";

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    public string SetsidPath { get; init; } = DefaultSetsidPath;
    public string SetprivPath { get; init; } = DefaultSetprivPath;
    public string ShellPath { get; init; } = DefaultShellPath;

    /// <summary>
    /// Runs <paramref name="args"/> to completion. Never throws for a failure of the command
    /// itself: a run that cannot start gives <see cref="ExecOutcomeKind.FailedToStart"/>.
    /// <paramref name="cancel"/> stops the process group like a timeout does (<see cref="ExecOutcomeKind.Cancelled"/>).
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

        var psi = new ProcessStartInfo(SetsidPath)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = cwd,
        };

        // Environment: the agent's own, then the target user's identity, then args.Env, then ours.
        var userPrefix = new List<string>();
        if (args.RunAs is not null)
        {
            var user = Native.LookUpUser(args.RunAs);
            if (user is null)
            {
                return Fail($"run_as: no such user '{args.RunAs}'");
            }
            var euid = Native.EffectiveUserId;
            if (user.Uid != euid)
            {
                if (euid != 0)
                {
                    return Fail($"run_as '{args.RunAs}' needs the agent to run as root; it runs as uid {euid}");
                }
                if (!File.Exists(SetprivPath))
                {
                    return Fail($"run_as needs {SetprivPath}, which is missing");
                }
                userPrefix.AddRange([SetprivPath, $"--reuid={user.Uid}", $"--regid={user.Gid}", "--init-groups", "--"]);
                psi.Environment["HOME"] = user.Home;
                psi.Environment["USER"] = user.Name;
                psi.Environment["LOGNAME"] = user.Name;
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
                psi.Environment[name] = value;
            }
        }
        psi.Environment[ExecOptions.AttemptVariable] = attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment[ExecOptions.CommandIdVariable] = options.CommandId.ToString("D");

        IReadOnlyList<string> command;
        if (hasArgv)
        {
            var resolved = ResolveProgram(args.Argv![0], cwd, psi.Environment.TryGetValue("PATH", out var path) ? path : null);
            if (resolved.Error is not null)
            {
                return Fail(resolved.Error);
            }
            command = [resolved.Path!, .. args.Argv.Skip(1)];
        }
        else
        {
            command = [ShellPath, "-c", args.Shell!];
        }
        if (!File.Exists(SetsidPath))
        {
            return Fail($"cannot start processes: {SetsidPath} is missing");
        }
        // setsid: the child (not a group leader, so setsid does not fork) becomes leader of a new session and group.
        psi.ArgumentList.Add("--");
        foreach (var a in userPrefix)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var a in command)
        {
            psi.ArgumentList.Add(a);
        }

        // ---- Spool files.
        FileStream stdoutSpool, stderrSpool;
        string stdoutPath, stderrPath;
        try
        {
            Directory.CreateDirectory(options.SpoolDirectory);
            var stem = Path.Combine(options.SpoolDirectory, $"{options.CommandId:N}-{attempt}");
            stdoutPath = stem + ".stdout";
            stderrPath = stem + ".stderr";
            stdoutSpool = OutputSpool.OpenFile(stdoutPath);
            try
            {
                stderrSpool = OutputSpool.OpenFile(stderrPath);
            }
            catch
            {
                await stdoutSpool.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return Fail($"cannot create spool files in '{options.SpoolDirectory}': {e.Message}");
        }

        if (cancel.IsCancellationRequested)
        {
            await stdoutSpool.DisposeAsync().ConfigureAwait(false);
            await stderrSpool.DisposeAsync().ConfigureAwait(false);
            return new ExecOutcome(ExecOutcomeKind.Cancelled, attempt, null, null, TimeSpan.Zero,
                CapturedStream.Empty with { SpoolPath = stdoutPath }, CapturedStream.Empty with { SpoolPath = stderrPath });
        }

        // ---- Start.
        var clock = options.TimeProvider;
        using var process = new Process { StartInfo = psi };
        var started = clock.GetTimestamp();
        try
        {
            if (!process.Start())
            {
                throw new InvalidOperationException("Process.Start returned false");
            }
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            await stdoutSpool.DisposeAsync().ConfigureAwait(false);
            await stderrSpool.DisposeAsync().ConfigureAwait(false);
            return Fail($"cannot start '{command[0]}': {e.Message}");
        }

        var group = new ProcessGroup(process);
        using var pumpStop = new CancellationTokenSource();
        var stdoutPump = PumpAsync(process.StandardOutput.BaseStream, stdoutSpool, stdoutPath, cap, pumpStop.Token);
        var stderrPump = PumpAsync(process.StandardError.BaseStream, stderrSpool, stderrPath, cap, pumpStop.Token);
        var stdinFeed = FeedAsync(process.StandardInput.BaseStream, stdin, pumpStop.Token);

        var kind = ExecOutcomeKind.Exited;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Min(args.TimeoutSeconds, int.MaxValue / 1000.0)), clock);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel, timeout.Token);
            try
            {
                await process.WaitForExitAsync(stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                kind = cancel.IsCancellationRequested ? ExecOutcomeKind.Cancelled : ExecOutcomeKind.TimedOut;
                await group.TerminateAsync(TimeSpan.FromSeconds(args.KillGraceSeconds), clock).ConfigureAwait(false);
            }

            // The pipes close when the last holder exits; a background process may hold them longer.
            var pumps = Task.WhenAll(stdoutPump, stderrPump, stdinFeed);
            try
            {
                await pumps.WaitAsync(options.OutputDrainTimeout, clock).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await pumpStop.CancelAsync().ConfigureAwait(false);
                await pumps.ConfigureAwait(false);
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                // Only reached on an unexpected exception: leave nothing running.
                group.Signal(Native.SIGKILL);
            }
            if (!pumpStop.IsCancellationRequested)
            {
                await pumpStop.CancelAsync().ConfigureAwait(false);
            }
        }

        var duration = clock.GetElapsedTime(started);
        int? exitCode = process.ExitCode;
        string? signal = null;
        if (group.SignalsSent.Contains(exitCode.Value - 128))
        {
            signal = Native.SignalName(exitCode.Value - 128);
            exitCode = null;
        }
        return new ExecOutcome(kind, attempt, exitCode, signal, duration,
            await stdoutPump.ConfigureAwait(false), await stderrPump.ConfigureAwait(false));
    }

    private static async Task<CapturedStream> PumpAsync(Stream source, FileStream file, string spoolPath, int cap, CancellationToken stop)
    {
        var buffer = new byte[OutputSpool.ReadBufferBytes];
        await using var spool = new OutputSpool(file, spoolPath, cap);
        try
        {
            while (true)
            {
                int n;
                try
                {
                    n = await source.ReadAsync(buffer, stop).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
                {
                    break; // stopped waiting for a pipe held open by a background process
                }
                if (n == 0)
                {
                    break;
                }
                await spool.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
            }
            return await spool.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            await source.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task FeedAsync(Stream stdin, byte[]? data, CancellationToken stop)
    {
        try
        {
            if (data is { Length: > 0 })
            {
                await stdin.WriteAsync(data, stop).ConfigureAwait(false);
                await stdin.FlushAsync(stop).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The child stopped reading (exited or closed stdin); the rest is not wanted.
        }
        finally
        {
            try
            {
                await stdin.DisposeAsync().ConfigureAwait(false); // EOF for the child
            }
            catch (IOException)
            {
                // broken pipe on the final flush
            }
        }
    }

    internal sealed record ResolvedProgram(string? Path, string? Error);

    /// <summary>execvp-like lookup, done here so a missing program is a clear FailedToStart rather than exit code 127.</summary>
    internal static ResolvedProgram ResolveProgram(string program, string cwd, string? path)
    {
        if (program.Length == 0 || program.Contains('\0'))
        {
            return new(null, "argv[0] is empty or invalid");
        }
        if (program.Contains('/'))
        {
            var full = Path.GetFullPath(program, cwd);
            return IsExecutableFile(full)
                ? new(full, null)
                : new(null, File.Exists(full) || Directory.Exists(full)
                    ? $"program '{program}' is not an executable file"
                    : $"program '{program}' not found");
        }
        foreach (var dir in (path ?? "/usr/local/bin:/usr/bin:/bin").Split(':'))
        {
            var candidate = Path.Combine(dir.Length == 0 ? cwd : Path.GetFullPath(dir, cwd), program);
            if (IsExecutableFile(candidate))
            {
                return new(candidate, null);
            }
        }
        return new(null, $"program '{program}' not found in PATH");
    }

    private static bool IsExecutableFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
            }
            const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            return info.Exists && (info.UnixFileMode & anyExecute) != 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The process group led by the started child (its pgid is its pid, thanks to setsid).</summary>
    private sealed class ProcessGroup(Process leader)
    {
        private const int ESRCH = 3;
        private readonly int _pgid = leader.Id > 1 ? leader.Id : throw new InvalidOperationException($"implausible child pid {leader.Id}");

        public HashSet<int> SignalsSent { get; } = [];

        public void Signal(int sig)
        {
            SignalsSent.Add(sig);
            // ESRCH: setsid has not run yet (the child is still in the agent's group) or the group is gone; signal the child alone.
            if (Native.Kill(-_pgid, sig) == ESRCH && !leader.HasExited)
            {
                Native.Kill(_pgid, sig);
            }
        }

        private bool Alive => !leader.HasExited || Native.Kill(-_pgid, 0) == 0;

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
    }
}
