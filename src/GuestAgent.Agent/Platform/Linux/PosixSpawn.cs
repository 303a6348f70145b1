using System.Collections;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>
/// posix_spawn(3) with POSIX_SPAWN_SETSID: the child leads a new session and process group from its
/// first instruction, with no setsid(1) in between (one exec less per run), every signal at its
/// default action and none blocked (the runtime ignores SIGPIPE; an ignored signal survives exec).
/// </summary>
[SupportedOSPlatform("linux")]
internal static class PosixSpawn
{
    private const short SetSignalDefaults = 0x04;
    private const short SetSignalMask = 0x08;
    private const short SetSid = 0x80; // glibc >= 2.26 and musl

    // Larger than posix_spawnattr_t (336 bytes in glibc) and sigset_t (128) on every architecture.
    private const int AttributesBytes = 1024;
    private const int SignalSetBytes = 256;

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

    [DllImport("libc", EntryPoint = "sigemptyset")]
    private static extern int SysSigEmptySet(IntPtr set);

    /// <summary>
    /// Starts <paramref name="path"/> with <paramref name="argv"/> and the agent's environment
    /// overlaid with <paramref name="environment"/>, as the leader of a new session; stdin, stdout
    /// and stderr are the agent's. Returns 0 and the pid, or the errno (an exec failure included).
    /// </summary>
    public static int Start(string path, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment, out int pid)
    {
        pid = 0;
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            merged[(string)e.Key] = e.Value as string ?? "";
        }
        foreach (var (name, value) in environment)
        {
            merged[name] = value;
        }
        var strings = new List<IntPtr>(argv.Count + merged.Count);
        var attributes = Marshal.AllocHGlobal(AttributesBytes);
        var signals = Marshal.AllocHGlobal(SignalSetBytes);
        var attributesReady = false;
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
            return SysSpawn(out pid, System.Text.Encoding.UTF8.GetBytes(path + "\0"), IntPtr.Zero, attributes, args, envp);
        }
        finally
        {
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
/// A child of the agent started outside <see cref="System.Diagnostics.Process"/>: a thread of its
/// own waits for it (the runtime reaps only the children it started), so its exit status is known
/// the moment it ends.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class ChildProcess
{
    private const int EINTR = 4;
    private readonly TaskCompletionSource<int?> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

    [DllImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static extern int SysWaitpid(int pid, out int status, int options);

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
        // A blocked waitpid costs nothing while the child runs; the thread's stack is small.
        new Thread(child.Reap, 128 * 1024) { IsBackground = true, Name = "run-reaper" }.Start();
        return child;
    }

    private void Reap()
    {
        while (true)
        {
            var rc = SysWaitpid(Id, out var status, 0);
            if (rc == Id)
            {
                var signal = status & 0x7f;
                _exit.SetResult(signal == 0 ? (status >> 8) & 0xff : 128 + signal);
                return;
            }
            if (rc < 0 && Marshal.GetLastPInvokeError() == EINTR)
            {
                continue;
            }
            _exit.SetResult(null); // ECHILD: reaped by someone else
            return;
        }
    }
}
