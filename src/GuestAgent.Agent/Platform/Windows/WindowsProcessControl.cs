using System.Diagnostics;
using System.Runtime.Versioning;
using GuestAgent.Agent.Operations.Exec;

namespace GuestAgent.Agent.Platform.Windows;

/// <summary>
/// Exec runs on Windows. Every run gets a job object of its own, named after the run's command tag
/// and set to kill on close: the agent holds its only handle, so the run's whole tree ends when the
/// agent ends (it cannot outlive the agent, unlike on Linux), when the run's root exits (what it
/// left behind goes with it), or when a timeout or cancel terminates the job. The root is the
/// agent's own executable in supervisor mode (<see cref="RunSupervisor"/>), which joins the job
/// before anything else, so nothing the run starts escapes it. Shell lines go through
/// <c>cmd.exe /d /s /c</c>, given to cmd verbatim; argv is quoted with the MSVC rules that Windows
/// programs parse. run_as: the agent's own account only.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed class WindowsProcessControl : IProcessControl
{
    /// <summary>The exit code of every process of a job this agent terminated; reported as signal SIGKILL (nothing can catch it).</summary>
    public const int TerminatedExitCode = unchecked((int)0xC000013A);

    public WindowsProcessControl()
    {
        var comSpec = Environment.GetEnvironmentVariable("ComSpec");
        ShellPath = !string.IsNullOrEmpty(comSpec) && Path.IsPathFullyQualified(comSpec) && File.Exists(comSpec)
            ? comSpec
            : Path.Combine(Environment.SystemDirectory, "cmd.exe");
    }

    public string ShellPath { get; }

    /// <summary>
    /// cmd.exe with the line as it was written: /s makes cmd drop the outer quotes and take the rest
    /// verbatim (MSVC quoting would turn the line's quotes into \" that cmd does not undo); /d skips AutoRun.
    /// </summary>
    public IReadOnlyList<string> ShellCommand(string line) => new RawCommandLine(ShellPath, $"/d /s /c \"{line}\"");

    public (UserSwitch? Switch, string? Refusal) SwitchTo(string user)
    {
        var self = Environment.UserName;
        var domainSelf = $"{Environment.UserDomainName}\\{self}";
        if (user.Equals(self, StringComparison.OrdinalIgnoreCase) || user.Equals(domainSelf, StringComparison.OrdinalIgnoreCase)
            || user.Equals($".\\{self}", StringComparison.OrdinalIgnoreCase))
        {
            return (null, null);
        }
        return (null, $"run_as '{user}' is not supported on Windows guests: runs use the agent's own account ({domainSelf}); " +
                      "another account would need its password or a service-for-user logon, which this agent does not do");
    }

    public (IStartedRun? Run, string? Refusal) Start(RunStart start)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (start.User is not null)
        {
            return (null, "run_as another account is not supported on Windows guests");
        }
        if (!start.Environment.TryGetValue(ExecOptions.CommandIdVariable, out var tag) || string.IsNullOrEmpty(tag))
        {
            return (null, $"cannot start a run without its {ExecOptions.CommandIdVariable}");
        }
        var name = JobName(ExecOptions.CommandIdVariable, tag);
        SafeJobHandle job;
        try
        {
            job = WindowsNative.CreateKillOnCloseJob(name);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"cannot create the run's job object: {e.Message}");
        }
        // No window on a desktop; the supervisor still gets a console of its own, hidden, which it sets to UTF-8.
        var psi = new ProcessStartInfo { UseShellExecute = false, CreateNoWindow = true, WorkingDirectory = start.WorkingDirectory };
        foreach (var (variable, value) in start.Environment)
        {
            psi.Environment[variable] = value;
        }
        // The supervisor joins the job itself, before it starts anything.
        var (agent, agentArgs) = RunSupervisor.SelfCommand();
        psi.FileName = agent;
        var files = start.Files;
        foreach (var a in agentArgs.Concat([RunSupervisor.Flag, name, start.WithStdin ? files.Stdin : "", files.Stdout, files.Stderr,
                     files.Exit, files.Pid, start.Command is RawCommandLine ? RunSupervisor.RawTail : RunSupervisor.Argv]).Concat(start.Command))
        {
            psi.ArgumentList.Add(a);
        }
        var root = new Process { StartInfo = psi };
        try
        {
            if (!root.Start())
            {
                throw new InvalidOperationException("Process.Start returned false");
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            root.Dispose();
            job.Dispose();
            return (null, $"cannot start '{agent}': {e.Message}");
        }
        return (new WindowsJobTree(root, new RunJob(job, name)), null);
    }

    /// <summary>The command's arguments on <paramref name="start"/>: a shell line's tail verbatim, argv quoted.</summary>
    internal static void SetArguments(ProcessStartInfo start, IReadOnlyList<string> command)
    {
        if (command is RawCommandLine raw)
        {
            start.Arguments = raw.Tail;
            return;
        }
        foreach (var a in command.Skip(1))
        {
            start.ArgumentList.Add(a);
        }
    }

    public IProcessTree? FindSupervised(RunFiles files, string variable, string value)
    {
        // A run lives only as long as the agent that started it holds its job (kill on close): the
        // job is found again only within that agent (its ledger restarted), never after a restart.
        if (files.ReadPid() is not { } pid || WindowsNative.OpenJob(JobName(variable, value), WindowsNative.JobObjectAllAccess) is not { } job)
        {
            return null;
        }
        try
        {
            var root = Process.GetProcessById(pid);
            if (!root.HasExited)
            {
                return new WindowsJobTree(root, new RunJob(job, JobName(variable, value)));
            }
            root.Dispose();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // gone
        }
        job.Dispose();
        return null;
    }

    /// <summary>Terminates the job of the tagged run, if an agent still holds one; returns the process ids it held.</summary>
    public IReadOnlyList<int> KillTagged(string variable, string value)
    {
        using var job = WindowsNative.OpenJob(JobName(variable, value), WindowsNative.JobObjectAllAccess);
        if (job is null)
        {
            return [];
        }
        var self = Environment.ProcessId;
        var pids = WindowsNative.ProcessIds(job).Where(p => p != self).ToList();
        WindowsNative.Terminate(job, TerminatedExitCode);
        return pids;
    }

    /// <summary>Looked up as CreateProcess would, without its current-directory and application-directory steps: a path, or PATH then the system directory, with PATHEXT.</summary>
    public ResolvedProgram ResolveProgram(string program, string cwd, string? searchPath)
    {
        if (program.Length == 0 || program.Contains('\0') || program.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
        {
            return new(null, "argv[0] is empty or invalid");
        }
        var extensions = Path.HasExtension(program)
            ? [""]
            : (Environment.GetEnvironmentVariable("PATHEXT") ?? ".COM;.EXE;.BAT;.CMD").Split(';', StringSplitOptions.RemoveEmptyEntries);
        if (program.IndexOfAny(['\\', '/', ':']) >= 0)
        {
            var full = Path.GetFullPath(program, cwd);
            return extensions.Select(e => full + e).FirstOrDefault(File.Exists) is { } found
                ? new(found, null)
                : new(null, Directory.Exists(full) ? $"program '{program}' is not an executable file" : $"program '{program}' not found");
        }
        var dirs = (searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Append(Environment.SystemDirectory);
        foreach (var dir in dirs)
        {
            var trimmed = dir.Trim('"');
            if (!Path.IsPathFullyQualified(trimmed))
            {
                continue; // a relative PATH entry would depend on the run's cwd, which CreateProcess does not search either
            }
            foreach (var e in extensions)
            {
                var candidate = Path.Combine(trimmed, program + e);
                if (File.Exists(candidate))
                {
                    return new(candidate, null);
                }
            }
        }
        return new(null, $"program '{program}' not found in PATH");
    }

    /// <summary>The job object of the run tagged <paramref name="variable"/>=<paramref name="value"/>, in the session's namespace.</summary>
    public static string JobName(string variable, string value) => $"Local\\guest-agent-{variable}-{value}";
}

/// <summary>A run's job object and its name.</summary>
internal sealed record RunJob(SafeJobHandle Handle, string Name);

/// <summary>
/// The processes of one run: its job. Terminate and kill are the same (Windows has no signal a
/// console program could handle when it has no console of its own): TerminateJobObject. When the
/// root exits the job's handle is closed, so what the run left behind ends with it.
/// </summary>
[SupportedOSPlatform("windows")]
internal sealed class WindowsJobTree : IStartedRun
{
    private readonly Process _root;
    private readonly RunJob _job;
    private readonly object _gate = new();
    private bool _terminated;
    private Task<int?>? _exited;

    public WindowsJobTree(Process root, RunJob job)
    {
        _root = root;
        _job = job;
        _ = CloseWhenRootExitsAsync();
    }

    public bool HasExited => _root.HasExited;

    public int Id => _root.Id;

    public Task<int?> Exited => _exited ??= ExitedAsync();

    public void Dispose() => _root.Dispose();

    private async Task<int?> ExitedAsync()
    {
        await _root.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        return _root.ExitCode;
    }

    public Task WaitForExitAsync(CancellationToken cancel) => _root.WaitForExitAsync(cancel);

    public void Kill()
    {
        lock (_gate)
        {
            _terminated = true;
            if (!_job.Handle.IsClosed)
            {
                WindowsNative.Terminate(_job.Handle, WindowsProcessControl.TerminatedExitCode);
            }
        }
    }

    /// <summary>No grace on Windows: the job is terminated at once (see the class).</summary>
    public async Task TerminateAsync(TimeSpan grace, TimeProvider clock)
    {
        Kill();
        await _root.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
    }

    public string? SignalThatEnded(int exitCode)
    {
        lock (_gate)
        {
            return _terminated && exitCode == WindowsProcessControl.TerminatedExitCode ? "SIGKILL" : null;
        }
    }

    private async Task CloseWhenRootExitsAsync()
    {
        await _root.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        lock (_gate)
        {
            _job.Handle.Dispose();
        }
    }
}

/// <summary>A program and a command-line tail it gets verbatim (cmd.exe's <c>/d /s /c "line"</c>), as a two-item command.</summary>
internal sealed class RawCommandLine(string program, string tail) : List<string>([program, tail])
{
    public string Tail { get; } = tail;
}
