using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>
/// Exec runs on Linux. The child is started through <c>setsid</c>, so it leads a new session and
/// process group whose id is its pid (<see cref="LinuxProcessGroup"/>); signalling that group reaches
/// everything the child started unless it moved itself to another group. run_as (the agent being
/// root) switches user with <c>setpriv</c> inside the new session, with HOME, USER and LOGNAME of
/// the target user. Leftovers of a run are found by their environment in /proc/*/environ.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LinuxProcessControl(IAccounts accounts) : IProcessControl
{
    public const string DefaultSetsidPath = "/usr/bin/setsid";
    public const string DefaultSetprivPath = "/usr/bin/setpriv";
    public const string DefaultShellPath = "/bin/sh";

    public string SetsidPath { get; init; } = DefaultSetsidPath;
    public string SetprivPath { get; init; } = DefaultSetprivPath;
    public string ShellPath { get; init; } = DefaultShellPath;

    public IReadOnlyList<string> ShellCommand(string line) => [ShellPath, "-c", line];

    public (UserSwitch? Switch, string? Refusal) SwitchTo(string user)
    {
        var entry = accounts.FindUser(user);
        if (entry is null)
        {
            return (null, $"run_as: no such user '{user}'");
        }
        var euid = accounts.EffectiveUserId;
        if (entry.Uid == euid)
        {
            return (null, null);
        }
        if (euid != 0)
        {
            return (null, $"run_as '{user}' needs the agent to run as root; it runs as uid {euid}");
        }
        if (!File.Exists(SetprivPath))
        {
            return (null, $"run_as needs {SetprivPath}, which is missing");
        }
        return (new UserSwitch(entry, new Dictionary<string, string>
        {
            ["HOME"] = entry.Home,
            ["USER"] = entry.Name,
            ["LOGNAME"] = entry.Name,
        }), null);
    }

    public string? PrepareStart(ProcessStartInfo start, IReadOnlyList<string> command, UserSwitch? user)
    {
        if (!File.Exists(SetsidPath))
        {
            return $"cannot start processes: {SetsidPath} is missing";
        }
        // setsid: the child (not a group leader, so setsid does not fork) becomes leader of a new session and group.
        start.FileName = SetsidPath;
        start.ArgumentList.Add("--");
        if (user is not null)
        {
            foreach (var a in new[] { SetprivPath, $"--reuid={user.User.Uid}", $"--regid={user.User.Gid}", "--init-groups", "--" })
            {
                start.ArgumentList.Add(a);
            }
        }
        foreach (var a in command)
        {
            start.ArgumentList.Add(a);
        }
        return null;
    }

    public IProcessTree TreeOf(Process root) => new LinuxProcessGroup(root);

    /// <summary>execvp-like lookup, with PATH's Unix syntax and execute bits.</summary>
    public ResolvedProgram ResolveProgram(string program, string cwd, string? searchPath)
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
        foreach (var dir in (searchPath ?? "/usr/local/bin:/usr/bin:/bin").Split(':'))
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

    /// <summary>SIGKILL to every process whose /proc/PID/environ holds the entry.</summary>
    public IReadOnlyList<int> KillTagged(string variable, string value)
    {
        var marker = Encoding.UTF8.GetBytes($"{variable}={value}\0");
        byte[] inner = [0, .. marker];
        var killed = new List<int>();
        var self = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == self)
            {
                continue;
            }
            byte[] environ;
            try
            {
                environ = File.ReadAllBytes(Path.Combine(dir, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone, or not ours to see
            }
            // The entry may be the first one (no leading NUL) or any later one.
            if (environ.AsSpan().StartsWith(marker) || environ.AsSpan().IndexOf(inner) >= 0)
            {
                if (Native.Kill(pid, Native.SIGKILL) == 0)
                {
                    killed.Add(pid);
                }
            }
        }
        return killed;
    }
}
