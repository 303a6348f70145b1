using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace GuestAgent.Agent.Platform.Windows;

/// <summary>The kernel32 calls the Windows platform makes that .NET has no API for: job objects and final paths.</summary>
internal static class WindowsNative
{
    public const uint JobObjectAllAccess = 0x1F001F;
    public const uint JobObjectAssignProcess = 0x0001;
    public const uint JobObjectTerminate = 0x0008;
    private const int ErrorAlreadyExists = 183;

    private const int JobObjectBasicProcessIdList = 3;
    private const int JobObjectExtendedLimitInformation = 9;
    private const uint JobObjectLimitKillOnJobClose = 0x2000;
    private const uint FileFlagBackupSemantics = 0x02000000;
    private const uint OpenExisting = 3;
    private const uint FileShareAll = 7;
    private const uint FileNameNormalized = 0;

    [StructLayout(LayoutKind.Sequential)]
    private struct BasicLimitInformation
    {
        public long PerProcessUserTimeLimit;
        public long PerJobUserTimeLimit;
        public uint LimitFlags;
        public nuint MinimumWorkingSetSize;
        public nuint MaximumWorkingSetSize;
        public uint ActiveProcessLimit;
        public nuint Affinity;
        public uint PriorityClass;
        public uint SchedulingClass;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoCounters
    {
        public ulong ReadOperationCount, WriteOperationCount, OtherOperationCount, ReadTransferCount, WriteTransferCount, OtherTransferCount;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ExtendedLimitInformation
    {
        public BasicLimitInformation BasicLimitInformation;
        public IoCounters IoInfo;
        public nuint ProcessMemoryLimit;
        public nuint JobMemoryLimit;
        public nuint PeakProcessMemoryUsed;
        public nuint PeakJobMemoryUsed;
    }

    [DllImport("kernel32.dll", EntryPoint = "CreateJobObjectW", SetLastError = true, CharSet = CharSet.Unicode)]
    private static extern SafeJobHandle CreateJobObject(nint attributes, string? name);

    [DllImport("kernel32.dll", EntryPoint = "OpenJobObjectW", SetLastError = true, CharSet = CharSet.Unicode)]
    private static extern SafeJobHandle OpenJobObjectNative(uint access, bool inherit, string name);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool SetInformationJobObject(SafeJobHandle job, int infoClass, ref ExtendedLimitInformation info, uint length);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool AssignProcessToJobObject(SafeJobHandle job, nint process);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool QueryInformationJobObject(SafeJobHandle job, int infoClass, [Out] byte[] info, uint length, nint returned);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool TerminateJobObject(SafeJobHandle job, uint exitCode);

    [DllImport("kernel32.dll")]
    private static extern nint GetCurrentProcess();

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static extern bool CloseHandle(nint handle);

    [DllImport("kernel32.dll", EntryPoint = "CreateFileW", SetLastError = true, CharSet = CharSet.Unicode)]
    private static extern SafeFileHandle CreateFile(string name, uint access, uint share, nint security, uint disposition, uint flags, nint template);

    [DllImport("kernel32.dll", EntryPoint = "GetFinalPathNameByHandleW", SetLastError = true, CharSet = CharSet.Unicode)]
    private static extern uint GetFinalPathNameByHandle(SafeFileHandle file, [Out] char[] buffer, uint length, uint flags);

    [DllImport("kernel32.dll")]
    public static extern uint GetACP();

    /// <summary>The code page of this process's console output; 0 when it has no console.</summary>
    [DllImport("kernel32.dll")]
    public static extern uint GetConsoleOutputCP();

    [DllImport("kernel32.dll")]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static extern bool SetConsoleOutputCP(uint codePage);

    [DllImport("kernel32.dll")]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static extern bool SetConsoleCP(uint codePage);

    /// <summary>A job whose processes all die when its last handle closes (the agent's, when the agent dies); <paramref name="name"/> lets a later agent open it.</summary>
    public static SafeJobHandle CreateKillOnCloseJob(string name)
    {
        var job = CreateJobObject(0, name);
        if (job.IsInvalid)
        {
            throw new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError(), $"CreateJobObject({name})");
        }
        if (Marshal.GetLastPInvokeError() == ErrorAlreadyExists)
        {
            // Another run of the same command still holds it: joining would tie the two runs' fates together.
            job.Dispose();
            throw new System.ComponentModel.Win32Exception(ErrorAlreadyExists, $"the job object {name} of an earlier run of this command still exists");
        }
        var info = new ExtendedLimitInformation { BasicLimitInformation = { LimitFlags = JobObjectLimitKillOnJobClose } };
        if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, ref info, (uint)Marshal.SizeOf<ExtendedLimitInformation>()))
        {
            var error = Marshal.GetLastPInvokeError();
            job.Dispose();
            throw new System.ComponentModel.Win32Exception(error, "SetInformationJobObject(KILL_ON_JOB_CLOSE)");
        }
        return job;
    }

    /// <summary>The job called <paramref name="name"/>, or null when none exists (its last handle closed, so its processes are gone).</summary>
    public static SafeJobHandle? OpenJob(string name, uint access)
    {
        var job = OpenJobObjectNative(access, false, name);
        if (!job.IsInvalid)
        {
            return job;
        }
        job.Dispose();
        return null;
    }

    /// <summary>Puts the calling process into <paramref name="job"/>; returns 0 or the Windows error.</summary>
    public static int AssignSelf(SafeJobHandle job) => Assign(job, GetCurrentProcess());

    /// <summary>Puts <paramref name="process"/> (a handle) into <paramref name="job"/>; returns 0 or the Windows error.</summary>
    public static int Assign(SafeJobHandle job, nint process) => AssignProcessToJobObject(job, process) ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>The ids of the processes in <paramref name="job"/> (at most 1024).</summary>
    public static IReadOnlyList<int> ProcessIds(SafeJobHandle job)
    {
        // JOBOBJECT_BASIC_PROCESS_ID_LIST: two DWORD counts, then ULONG_PTR ids.
        const int max = 1024;
        var buffer = new byte[8 + (max * 8)];
        if (!QueryInformationJobObject(job, JobObjectBasicProcessIdList, buffer, (uint)buffer.Length, 0))
        {
            return [];
        }
        var listed = BitConverter.ToInt32(buffer, 4);
        return [.. Enumerable.Range(0, Math.Min(listed, max)).Select(i => (int)BitConverter.ToInt64(buffer, 8 + (i * 8)))];
    }

    /// <summary>Ends every process of the job with <paramref name="exitCode"/>.</summary>
    public static bool Terminate(SafeJobHandle job, int exitCode) => TerminateJobObject(job, unchecked((uint)exitCode));

    /// <summary>
    /// The path the file system itself names for <paramref name="path"/>, every junction, symlink and
    /// short name resolved (<c>C:\dir\file</c>); null when it cannot be opened.
    /// </summary>
    public static string? FinalPath(string path)
    {
        // No access rights: opening for attributes only works on files locked by others, and directories need backup semantics.
        using var handle = CreateFile(path, 0, FileShareAll, 0, OpenExisting, FileFlagBackupSemantics, 0);
        if (handle.IsInvalid)
        {
            return null;
        }
        var buffer = new char[1024];
        var length = GetFinalPathNameByHandle(handle, buffer, (uint)buffer.Length, FileNameNormalized);
        if (length >= buffer.Length)
        {
            buffer = new char[length + 1];
            length = GetFinalPathNameByHandle(handle, buffer, (uint)buffer.Length, FileNameNormalized);
        }
        if (length == 0 || length >= buffer.Length)
        {
            return null;
        }
        var final = new string(buffer, 0, (int)length);
        // \\?\C:\x is C:\x; \\?\UNC\server\share stays a UNC path (the policy refuses it).
        return final.StartsWith(@"\\?\UNC\", StringComparison.OrdinalIgnoreCase) ? @"\\" + final[8..]
            : final.StartsWith(@"\\?\", StringComparison.Ordinal) ? final[4..]
            : final;
    }
}

/// <summary>A job object handle.</summary>
internal sealed class SafeJobHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    protected override bool ReleaseHandle() => WindowsNative.CloseHandle(handle);
}
