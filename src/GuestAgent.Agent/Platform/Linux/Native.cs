using System.Runtime.InteropServices;
using System.Text;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>The few libc calls the Linux platform needs.</summary>
internal static class Native
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int ENOTDIR = 20;
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

    public static void Close(int fd) => SysClose(fd);

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
    public static GuestUser? LookUpUser(string name)
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
                return new GuestUser(name, pwd.Uid, pwd.Gid, Marshal.PtrToStringUTF8(pwd.Dir) ?? "/");
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

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int StatxBufferBytes = 256;
    private const int StxModeOffset = 28;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int SysStatx(int dirfd, byte[] path, int flags, uint mask, [Out] byte[] buffer);

    /// <summary>
    /// The type of <paramref name="path"/> itself (a symlink is not followed); returns 0 or the errno.
    /// Through statx(2), whose buffer layout is the same on every Linux architecture (struct
    /// stat's is not); .NET's own FileAttributes cannot tell a device or FIFO from a regular file.
    /// </summary>
    public static int Lstat(string path, out FileType type)
    {
        var buffer = new byte[StatxBufferBytes];
        var name = Encoding.UTF8.GetBytes(path + "\0");
        if (SysStatx(AtFdCwd, name, AtSymlinkNoFollow, StatxType, buffer) != 0)
        {
            type = FileType.Other;
            return Marshal.GetLastPInvokeError();
        }
        var mode = BitConverter.ToUInt16(buffer, StxModeOffset);
        type = (mode & 0xF000) switch
        {
            0x8000 => FileType.Regular,
            0x4000 => FileType.Directory,
            0xA000 => FileType.Symlink,
            0x2000 => FileType.CharacterDevice,
            0x6000 => FileType.BlockDevice,
            0x1000 => FileType.Fifo,
            0xC000 => FileType.Socket,
            _ => FileType.Other,
        };
        return 0;
    }
}
