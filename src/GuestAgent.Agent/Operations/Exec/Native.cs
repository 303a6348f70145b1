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

    public sealed record UserEntry(string Name, uint Uid, uint Gid, string Home);
}
