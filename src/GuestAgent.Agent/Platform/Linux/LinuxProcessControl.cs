using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>
/// Exec runs on Linux. The run's supervisor is spawned as the leader of a new session and process
/// group whose id is its pid (<see cref="PosixSpawn"/>, <see cref="LinuxProcessGroup"/>); signalling
/// that group reaches everything the run started unless it moved itself to another group. run_as (the agent being
/// root) switches user with <c>setpriv</c> inside the new session, with HOME, USER and LOGNAME of
/// the target user. Leftovers of a run are found by their environment in /proc/*/environ.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LinuxProcessControl(IAccounts accounts) : IProcessControl
{
    public const string DefaultSetprivPath = "/usr/bin/setpriv";
    public const string DefaultShellPath = "/bin/sh";

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

    /// <summary>
    /// The supervisor of a run: POSIX sh, which every Linux guest has. It traps SIGTERM (a no-op,
    /// so the child keeps the default action) so that a terminate sent to the group ends the child
    /// while the supervisor lives to record how; only SIGKILL ends it unrecorded. The pid is
    /// written before the child starts, the exit status after it ends, each in one write. The
    /// working directory is entered here (posix_spawn's chdir action is not in every libc): a
    /// directory gone since the agent checked it is the run's stderr and exit code 2, as in a shell.
    /// </summary>
    public const string SupervisorScript =
        "trap : TERM\n" +
        "printf '%s\\n' \"$$\" >\"$5\" || exit 125\n" +
        "in=$1 out=$2 err=$3 st=$4 dir=$6\n" +
        "shift 6\n" +
        "cd -- \"$dir\" 2>\"$err\" && \"$@\" <\"$in\" >\"$out\" 2>\"$err\"\n" +
        "rc=$?\n" +
        "printf 'exit %s\\n' \"$rc\" >\"$st\"\n" +
        "exit \"$rc\"\n";

    public (IStartedRun? Run, string? Refusal) Start(RunStart start)
    {
        ArgumentNullException.ThrowIfNull(start);
        // The supervisor runs as the agent (it writes the run's files in the agent's spool); the user switch is below it.
        var files = start.Files;
        List<string> argv = [ShellPath, "-c", SupervisorScript, "guest-agent-run",
            start.WithStdin ? files.Stdin : "/dev/null", files.Stdout, files.Stderr, files.Exit, files.Pid, start.WorkingDirectory];
        if (start.User is { } user)
        {
            argv.AddRange([SetprivPath, $"--reuid={user.User.Uid}", $"--regid={user.User.Gid}", "--init-groups", "--"]);
        }
        argv.AddRange(start.Command);
        var rc = PosixSpawn.Start(ShellPath, argv, start.Environment, files.Stderr, out var pid);
        if (rc != 0)
        {
            return (null, $"cannot start processes: {ShellPath}: {Marshal.GetPInvokeErrorMessage(rc)}");
        }
        return (new LinuxRun(ChildProcess.Follow(pid)), null);
    }

    public IProcessTree? FindSupervised(RunFiles files, string variable, string value)
    {
        if (files.ReadPid() is not { } pid || SupervisorLeader.Of(pid) is not { } leader || !HasTag(pid, Marker(variable, value)))
        {
            return null;
        }
        return new LinuxProcessGroup(leader);
    }

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

    /// <summary>
    /// SIGKILL to every process whose /proc/PID/environ holds the entry, and to every process of a
    /// session a tagged process leads (a run's supervisor is spawned as a session leader).
    /// </summary>
    public IReadOnlyList<int> KillTagged(string variable, string value)
    {
        var marker = Marker(variable, value);
        var killed = new List<int>();
        var self = Environment.ProcessId;
        var ownSession = SessionOf(self);
        // Sessions whose leader is tagged (or already gone): every process in them belongs to the
        // run, including a child in the middle of execve, whose environ reads empty for that
        // moment while its stat (and session) does not.
        var runSessions = new HashSet<int>();
        // Scans again while the last one killed something: a tagged process may fork after the scan
        // passed its child's pid, and a session is known only once its tagged leader was seen; once a
        // scan finds nothing alive to kill, nothing of the run is left to start more.
        for (var pass = 0; pass < MaxKillPasses; pass++)
        {
            var before = killed.Count;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == self || killed.Contains(pid)
                    || SessionOf(pid) is not { } session)
                {
                    continue;
                }
                var tagged = HasTag(pid, marker);
                if (!tagged && !runSessions.Contains(session))
                {
                    continue;
                }
                if (tagged && session > 1 && session != ownSession
                    && (session == pid || SessionOf(session) is null || HasTag(session, marker)))
                {
                    runSessions.Add(session);
                }
                if (Native.Kill(pid, Native.SIGKILL) == 0)
                {
                    killed.Add(pid);
                }
            }
            if (killed.Count == before)
            {
                break;
            }
        }
        return killed;
    }

    /// <summary>
    /// The session id (field 6 of /proc/PID/stat), or null when the process is gone or a zombie
    /// (dead, waiting to be reaped: nothing to kill, though its stat still names its session).
    /// </summary>
    private static int? SessionOf(int pid) =>
        SupervisorLeader.ReadStat(pid) is { State: not ('Z' or 'X') } stat ? stat.Session : null;

    private const int MaxKillPasses = 8;

    private static byte[] Marker(string variable, string value) => Encoding.UTF8.GetBytes($"{variable}={value}\0");

    /// <summary>Whether /proc/PID/environ holds the entry <paramref name="marker"/> (NUL-terminated).</summary>
    private static bool HasTag(int pid, byte[] marker)
    {
        byte[] environ;
        try
        {
            environ = File.ReadAllBytes($"/proc/{pid}/environ");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // gone, or not ours to see
        }
        // The entry may be the first one (no leading NUL) or any later one.
        byte[] inner = [0, .. marker];
        return environ.AsSpan().StartsWith(marker) || environ.AsSpan().IndexOf(inner) >= 0;
    }
}
