using System.Collections;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>
/// posix_spawn(3) with POSIX_SPAWN_SETSID: the child leads a new session and process group from its
/// first instruction, with no setsid(1) in between (one exec less per run), every signal at its
/// default action and none blocked (the runtime ignores SIGPIPE; an ignored signal survives exec),
/// and none of the agent's file descriptors: stdin and stdout are /dev/null, stderr appends to the
/// run's stderr file (what the supervisor itself has to say, e.g. a redirection it could not make,
/// ends up there), and every other descriptor is closed. A run that outlives the agent then holds
/// neither its log stream nor its parent's pipes, and a user's command sees only its own 0, 1, 2.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class PosixSpawn
{
    private const short SetSignalDefaults = 0x04;
    private const short SetSignalMask = 0x08;
    private const short SetSid = 0x80; // glibc >= 2.26 and musl

    // Larger than posix_spawnattr_t (336 bytes in glibc), posix_spawn_file_actions_t (80) and
    // sigset_t (128) on every architecture.
    private const int AttributesBytes = 1024;
    private const int FileActionsBytes = 1024;
    private const int SignalSetBytes = 256;

    private const int ReadOnly = 0;
    private const int WriteOnly = 1;
    private const int CreateAppend = 0x40 | 0x400; // O_CREAT | O_APPEND (the same on x86-64 and arm64)
    private const uint OwnerReadWrite = 0x180; // 0600, as the agent creates a run's files
    private const int FdSetCloseOnExec = 2; // F_SETFD
    private const int CloseOnExec = 1; // FD_CLOEXEC

    /// <summary>
    /// Cleared when libc has no posix_spawn_file_actions_addclosefrom_np (glibc before 2.34, musl);
    /// a test clears it to run the other way on any libc.
    /// </summary>
    internal static bool UseCloseFrom
    {
        get => Volatile.Read(ref _useCloseFrom);
        set => Volatile.Write(ref _useCloseFrom, value);
    }

    private static bool _useCloseFrom = true;

    [DllImport("libc", EntryPoint = "posix_spawn")]
    private static extern int SysSpawn(out int pid, byte[] path, IntPtr fileActions, IntPtr attributes, IntPtr[] argv, IntPtr[] envp);

    [DllImport("libc", EntryPoint = "posix_spawnattr_init")]
    private static extern int SysAttrInit(IntPtr attributes);

    [DllImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    private static extern int SysAttrDestroy(IntPtr attributes);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    private static extern int SysAttrSetFlags(IntPtr attributes, short flags);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    private static extern int SysAttrSetMask(IntPtr attributes, IntPtr set);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    private static extern int SysAttrSetDefaults(IntPtr attributes, IntPtr set);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    private static extern int SysActionsInit(IntPtr actions);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    private static extern int SysActionsDestroy(IntPtr actions);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_addopen")]
    private static extern int SysActionsOpen(IntPtr actions, int fd, byte[] path, int flags, uint mode);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_addclosefrom_np")]
    private static extern int SysActionsCloseFrom(IntPtr actions, int from);

    [DllImport("libc", EntryPoint = "fcntl")]
    private static extern int SysFcntl(int fd, int command, int argument);

    [DllImport("libc", EntryPoint = "sigemptyset")]
    private static extern int SysSigEmptySet(IntPtr set);

    /// <summary>
    /// How the agent's own .NET runtime compiles, as the package's systemd unit sets it for the
    /// agent: not passed on to runs, whose programs (a .NET one too) compile as the guest's defaults
    /// say unless the command's own environment names them.
    /// </summary>
    internal static readonly IReadOnlySet<string> AgentRuntimeVariables =
        new HashSet<string>(["DOTNET_TieredCompilation", "DOTNET_TC_CallCounting"], StringComparer.Ordinal);

    /// <summary>
    /// Starts <paramref name="path"/> with <paramref name="argv"/> and the agent's environment
    /// (less <see cref="AgentRuntimeVariables"/>) overlaid with <paramref name="environment"/>, as the leader of a new session; stdin and
    /// stdout are /dev/null, stderr appends to <paramref name="stderrPath"/>, nothing else is open.
    /// Returns 0 and the pid, or the errno (an exec failure included).
    /// </summary>
    public static int Start(string path, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment, string stderrPath,
        out int pid)
    {
        pid = 0;
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            if (!AgentRuntimeVariables.Contains((string)e.Key))
            {
                merged[(string)e.Key] = e.Value as string ?? "";
            }
        }
        foreach (var (name, value) in environment)
        {
            merged[name] = value;
        }
        var strings = new List<IntPtr>(argv.Count + merged.Count);
        var attributes = Marshal.AllocHGlobal(AttributesBytes);
        var signals = Marshal.AllocHGlobal(SignalSetBytes);
        var actions = Marshal.AllocHGlobal(FileActionsBytes);
        var attributesReady = false;
        var actionsReady = false;
        try
        {
            var args = Terminated(argv, strings);
            var envp = Terminated(merged.Select(e => $"{e.Key}={e.Value}").ToList(), strings);
            int rc;
            if ((rc = SysAttrInit(attributes)) != 0)
            {
                return rc;
            }
            attributesReady = true;
            // Every bit set, not sigfillset: glibc's leaves out its two internal signals (32, 33), which its
            // posix_spawn then leaves ignored across exec; a program started from a shell has none ignored.
            for (var i = 0; i < SignalSetBytes; i++)
            {
                Marshal.WriteByte(signals, i, 0xff);
            }
            if ((rc = SysAttrSetFlags(attributes, SetSid | SetSignalDefaults | SetSignalMask)) != 0
                || (rc = SysAttrSetDefaults(attributes, signals)) != 0)
            {
                return rc;
            }
            SysSigEmptySet(signals);
            if ((rc = SysAttrSetMask(attributes, signals)) != 0)
            {
                return rc;
            }
            if ((rc = SysActionsInit(actions)) != 0)
            {
                return rc;
            }
            actionsReady = true;
            var devNull = System.Text.Encoding.UTF8.GetBytes("/dev/null\0");
            if ((rc = SysActionsOpen(actions, 0, devNull, ReadOnly, 0)) != 0
                || (rc = SysActionsOpen(actions, 1, devNull, WriteOnly, 0)) != 0
                || (rc = SysActionsOpen(actions, 2, System.Text.Encoding.UTF8.GetBytes(stderrPath + "\0"), WriteOnly | CreateAppend, OwnerReadWrite)) != 0
                || (rc = CloseFrom(actions, 3)) != 0)
            {
                return rc;
            }
            return SysSpawn(out pid, System.Text.Encoding.UTF8.GetBytes(path + "\0"), actions, attributes, args, envp);
        }
        finally
        {
            if (actionsReady)
            {
                SysActionsDestroy(actions);
            }
            Marshal.FreeHGlobal(actions);
            if (attributesReady)
            {
                SysAttrDestroy(attributes);
            }
            Marshal.FreeHGlobal(signals);
            Marshal.FreeHGlobal(attributes);
            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }
        }
    }

    /// <summary>
    /// Every descriptor from <paramref name="from"/> on closed in the child. Where libc cannot, the
    /// agent's own descriptors are marked close-on-exec instead: the runtime opens its own so, which
    /// leaves those the agent inherited from whatever started it.
    /// </summary>
    private static int CloseFrom(IntPtr actions, int from)
    {
        if (UseCloseFrom)
        {
            try
            {
                return SysActionsCloseFrom(actions, from);
            }
            catch (EntryPointNotFoundException)
            {
                UseCloseFrom = false;
            }
        }
        try
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                if (int.TryParse(Path.GetFileName(entry), out var fd) && fd >= from)
                {
                    SysFcntl(fd, FdSetCloseOnExec, CloseOnExec);
                }
            }
        }
        catch (IOException)
        {
            // No /proc: the runs inherit what the agent inherited, as before.
        }
        return 0;
    }

    /// <summary>A NULL-terminated array of native UTF-8 strings; each is added to <paramref name="owned"/> to be freed.</summary>
    private static IntPtr[] Terminated(IReadOnlyList<string> values, List<IntPtr> owned)
    {
        var array = new IntPtr[values.Count + 1];
        for (var i = 0; i < values.Count; i++)
        {
            array[i] = Marshal.StringToCoTaskMemUTF8(values[i]);
            owned.Add(array[i]);
        }
        return array;
    }
}

/// <summary>
/// A child of the agent started outside <see cref="System.Diagnostics.Process"/> (the runtime reaps
/// only the children it started): the agent's <see cref="ChildReaper"/> waits for it, so its exit
/// status is known the moment it ends.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class ChildProcess
{
    private readonly TaskCompletionSource<int?> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(int pid)
    {
        Id = pid;
    }

    public int Id { get; }

    public bool HasExited => _exit.Task.IsCompleted;

    /// <summary>
    /// Shell-style (128+n for signal n) once exited; null when the exit status was lost: taken by
    /// the runtime, which reaps every child when the agent was started with SIGCHLD ignored.
    /// </summary>
    public Task<int?> Exited => _exit.Task;

    public Task WaitForExitAsync(CancellationToken cancel) => _exit.Task.WaitAsync(cancel);

    /// <summary>Follows child <paramref name="pid"/> of this process until it exits.</summary>
    public static ChildProcess Follow(int pid)
    {
        var child = new ChildProcess(pid);
        ChildReaper.Follow(child);
        return child;
    }

    /// <summary>Records how the child ended from waitpid's status; null: its status was lost.</summary>
    internal void Ended(int? status) =>
        _exit.TrySetResult(status is not { } s ? null : (s & 0x7f) is var signal and not 0 ? 128 + signal : (s >> 8) & 0xff);
}

/// <summary>
/// Waits for the agent's spawned children. One thread for all of them where the kernel has pidfds
/// (Linux 5.3): it sleeps in poll(2) on each child's pidfd, and reaps a child when its pidfd says it
/// has exited; a run's start pays for no thread of its own, and an idle agent's reaper never wakes.
/// Without pidfds (an older kernel, a seccomp filter that refuses the call) each child gets a thread
/// blocked in waitpid, as before. Only the followed pids are waited for, never "any child": the
/// runtime reaps the children <see cref="System.Diagnostics.Process"/> started.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class ChildReaper
{
    private const int WNOHANG = 1;
    private const long SysPidfdOpen = 434; // the same number on every architecture since Linux 5.3
    private const int EfdCloexec = 0x80000;
    private const short PollIn = 0x1;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static extern int SysWaitpid(int pid, out int status, int options);

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern long SysPidfdOpenCall(long number, int pid, uint flags);

    [DllImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static extern int SysEventFd(uint initial, int flags);

    [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static extern int SysPoll([In, Out] PollFd[] fds, ulong count, int timeoutMs);

    [DllImport("libc", EntryPoint = "read", SetLastError = true)]
    private static extern nint SysRead(int fd, out ulong value, nint count);

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    private static extern nint SysWrite(int fd, in ulong value, nint count);

    private static readonly Lock Gate = new();
    /// <summary>Children the reaper thread waits for, by pidfd.</summary>
    private static readonly Dictionary<int, ChildProcess> Followed = [];
    /// <summary>Written to when <see cref="Followed"/> grows: the thread polls the new pidfd too.</summary>
    private static int _wake = -1;
    /// <summary>Set once pidfd_open or the reaper thread is found unusable: a thread per child from then on.</summary>
    private static volatile bool _noPidfds;

    public static void Follow(ChildProcess child)
    {
        if (!_noPidfds && TryFollowByPidfd(child))
        {
            return;
        }
        // A blocked waitpid costs nothing while the child runs; the thread's stack is small.
        new Thread(() => child.Ended(WaitBlocking(child.Id)), 128 * 1024) { IsBackground = true, Name = "run-reaper" }.Start();
    }

    private static bool TryFollowByPidfd(ChildProcess child)
    {
        var pidfd = (int)SysPidfdOpenCall(SysPidfdOpen, child.Id, 0); // close-on-exec always
        if (pidfd < 0)
        {
            if (Marshal.GetLastPInvokeError() == Native.ESRCH)
            {
                child.Ended(null); // already reaped, by the runtime: its status is lost
                return true;
            }
            _noPidfds = true; // ENOSYS, EPERM: this kernel or its filter has none
            return false;
        }
        lock (Gate)
        {
            if (_wake < 0 && !StartThread())
            {
                _noPidfds = true;
                Native.Close(pidfd);
                return false;
            }
            Followed[pidfd] = child;
        }
        ulong one = 1;
        SysWrite(_wake, in one, sizeof(ulong));
        return true;
    }

    /// <summary>Under <see cref="Gate"/>: the eventfd and the thread, once.</summary>
    private static bool StartThread()
    {
        var wake = SysEventFd(0, EfdCloexec);
        if (wake < 0)
        {
            return false;
        }
        _wake = wake;
        new Thread(Reap, 128 * 1024) { IsBackground = true, Name = "run-reaper" }.Start();
        return true;
    }

    private static void Reap()
    {
        var fds = new PollFd[1];
        var children = new ChildProcess[1];
        while (true)
        {
            lock (Gate)
            {
                if (fds.Length != Followed.Count + 1)
                {
                    fds = new PollFd[Followed.Count + 1];
                    children = new ChildProcess[Followed.Count + 1];
                }
                fds[0] = new PollFd { Fd = _wake, Events = PollIn };
                var i = 1;
                foreach (var (pidfd, child) in Followed)
                {
                    fds[i] = new PollFd { Fd = pidfd, Events = PollIn };
                    children[i++] = child;
                }
            }
            if (SysPoll(fds, (ulong)fds.Length, -1) < 0)
            {
                if (Marshal.GetLastPInvokeError() != Native.EINTR)
                {
                    Thread.Sleep(10); // ENOMEM: try again, not in a tight loop
                }
                continue;
            }
            if (fds[0].Revents != 0)
            {
                SysRead(_wake, out _, sizeof(ulong));
            }
            for (var i = 1; i < fds.Length; i++)
            {
                if (fds[i].Revents == 0)
                {
                    continue;
                }
                // Readable: the child has exited and waits to be reaped.
                var rc = SysWaitpid(children[i].Id, out var status, WNOHANG);
                if (rc == 0)
                {
                    continue;
                }
                lock (Gate)
                {
                    Followed.Remove(fds[i].Fd);
                }
                Native.Close(fds[i].Fd);
                children[i].Ended(rc > 0 ? status : null); // ECHILD: reaped by someone else
            }
        }
    }

    /// <summary>waitpid for one child, blocking; null when it was reaped by someone else (ECHILD).</summary>
    private static int? WaitBlocking(int pid)
    {
        while (true)
        {
            var rc = SysWaitpid(pid, out var status, 0);
            if (rc == pid)
            {
                return status;
            }
            if (rc < 0 && Marshal.GetLastPInvokeError() == Native.EINTR)
            {
                continue;
            }
            return null;
        }
    }
}
