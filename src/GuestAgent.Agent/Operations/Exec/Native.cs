using System.Runtime.InteropServices;
using System.Text;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>The few libc calls the runner needs (Linux).</summary>
internal static class Native
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    private const int ERANGE = 34;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int sig);

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint SysGeteuid();

    [DllImport("libc", EntryPoint = "getpwnam_r")]
    private static extern int SysGetpwnamR(byte[] name, out PasswdEntry pwd, IntPtr buf, nuint buflen, out IntPtr result);

    [DllImport("libc", EntryPoint = "getgrnam_r")]
    private static extern int SysGetgrnamR(byte[] name, out GroupEntryNative grp, IntPtr buf, nuint buflen, out IntPtr result);

    [DllImport("libc", EntryPoint = "lchown", SetLastError = true)]
    private static extern int SysLchown(byte[] path, uint owner, uint group);

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr SysRealpath(byte[] path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void SysFree(IntPtr p);

    /// <summary>The path with every symlink and ./.. resolved (realpath(3)); null when it does not exist.</summary>
    public static string? RealPath(string path)
    {
        var p = SysRealpath(Encoding.UTF8.GetBytes(path + "\0"), IntPtr.Zero);
        if (p == IntPtr.Zero)
        {
            return null;
        }
        try
        {
            return Marshal.PtrToStringUTF8(p);
        }
        finally
        {
            SysFree(p);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int SysOpen(byte[] path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int SysFsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int SysClose(int fd);

    [StructLayout(LayoutKind.Sequential)]
    private struct GroupEntryNative
    {
        public IntPtr Name;
        public IntPtr Password;
        public uint Gid;
        public IntPtr Members;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PasswdEntry
    {
        public IntPtr Name;
        public IntPtr Password;
        public uint Uid;
        public uint Gid;
        public IntPtr Gecos;
        public IntPtr Dir;
        public IntPtr Shell;
    }

    /// <summary>kill(2); returns 0 or the errno.</summary>
    public static int Kill(int pid, int sig) => SysKill(pid, sig) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static uint EffectiveUserId => SysGeteuid();

    public static string SignalName(int sig) => sig switch
    {
        SIGKILL => "SIGKILL",
        SIGTERM => "SIGTERM",
        _ => $"SIG{sig}",
    };

    /// <summary>The passwd entry of <paramref name="name"/>, or null when there is no such user.</summary>
    public static UserEntry? LookUpUser(string name)
    {
        if (name.Length == 0 || name.Contains('\0'))
        {
            return null;
        }
        var nameZ = Encoding.UTF8.GetBytes(name + "\0");
        for (nuint size = 16 * 1024; size <= 1024 * 1024; size *= 4)
        {
            var buf = Marshal.AllocHGlobal((nint)size);
            try
            {
                var rc = SysGetpwnamR(nameZ, out var pwd, buf, size, out var result);
                if (rc == ERANGE)
                {
                    continue;
                }
                if (rc != 0 || result == IntPtr.Zero)
                {
                    return null;
                }
                return new UserEntry(name, pwd.Uid, pwd.Gid, Marshal.PtrToStringUTF8(pwd.Dir) ?? "/");
            }
            finally
            {
                Marshal.FreeHGlobal(buf);
            }
        }
        return null;
    }

    /// <summary>The gid of group <paramref name="name"/>, or null when there is no such group.</summary>
    public static uint? LookUpGroup(string name)
    {
        if (name.Length == 0 || name.Contains('\0'))
        {
            return null;
        }
        var nameZ = Encoding.UTF8.GetBytes(name + "\0");
        for (nuint size = 16 * 1024; size <= 4 * 1024 * 1024; size *= 4)
        {
            var buf = Marshal.AllocHGlobal((nint)size);
            try
            {
                var rc = SysGetgrnamR(nameZ, out var grp, buf, size, out var result);
                if (rc == ERANGE)
                {
                    continue;
                }
                return rc != 0 || result == IntPtr.Zero ? null : grp.Gid;
            }
            finally
            {
                Marshal.FreeHGlobal(buf);
            }
        }
        return null;
    }

    /// <summary>lchown(2) (uint.MaxValue leaves an id as it is); returns 0 or the errno.</summary>
    public static int Lchown(string path, uint uid, uint gid) =>
        SysLchown(Encoding.UTF8.GetBytes(path + "\0"), uid, gid) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>fsync(2) of a directory, so a rename in it survives a power cut; returns 0 or the errno.</summary>
    public static int FsyncDirectory(string path)
    {
        const int ORdOnly = 0, OCloexec = 0x80000;
        // O_DIRECTORY is one of the few flags whose value differs between architectures.
        var oDirectory = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;
        var fd = SysOpen(Encoding.UTF8.GetBytes(path + "\0"), ORdOnly | oDirectory | OCloexec);
        if (fd < 0)
        {
            return Marshal.GetLastPInvokeError();
        }
        var rc = SysFsync(fd) == 0 ? 0 : Marshal.GetLastPInvokeError();
        SysClose(fd);
        return rc;
    }

    public sealed record UserEntry(string Name, uint Uid, uint Gid, string Home);
}
