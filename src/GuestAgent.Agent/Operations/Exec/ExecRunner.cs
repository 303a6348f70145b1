using System.ComponentModel;
using System.Diagnostics;
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
/// stdout and stderr are read as raw bytes, concurrently, into spool files under
/// <see cref="ExecOptions.SpoolDirectory"/>; the first cap bytes of each are kept in memory and
/// the whole stream is counted and hashed.
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
        var psi = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = cwd,
        };

        // Environment: the agent's own, then the target user's identity, then args.Env, then ours.
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
                psi.Environment[name] = value;
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
            var resolved = processes.ResolveProgram(args.Argv![0], cwd, psi.Environment.TryGetValue("PATH", out var path) ? path : null);
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
        if (processes.PrepareStart(psi, command, asUser) is { } cannotStart)
        {
            return Fail(cannotStart);
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
            stdoutSpool = OutputSpool.OpenFile(Platform.Files, stdoutPath);
            try
            {
                stderrSpool = OutputSpool.OpenFile(Platform.Files, stderrPath);
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

        var tree = processes.TreeOf(process);
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
                await tree.TerminateAsync(TimeSpan.FromSeconds(args.KillGraceSeconds), clock).ConfigureAwait(false);
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
                tree.Kill();
            }
            if (!pumpStop.IsCancellationRequested)
            {
                await pumpStop.CancelAsync().ConfigureAwait(false);
            }
        }

        var duration = clock.GetElapsedTime(started);
        int? exitCode = process.ExitCode;
        var signal = tree.SignalThatEnded(exitCode.Value);
        if (signal is not null)
        {
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
}
