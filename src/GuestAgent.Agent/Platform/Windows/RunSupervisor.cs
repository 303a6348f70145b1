using System.Diagnostics;
using System.Globalization;

namespace GuestAgent.Agent.Platform.Windows;

/// <summary>
/// The supervisor of a run on Windows: the agent's own executable started with <see cref="Flag"/>
/// (Windows has no POSIX sh to do it). It joins the run's job first (so nothing it starts escapes
/// the job), records its pid, runs the command with stdin from the run's stdin file and stdout and
/// stderr copied byte for byte into the run's files, records the exit code, and exits with it; the
/// same <see cref="RunFiles"/> contract as the Linux supervisor script. Exit 125 when it cannot
/// join the job or record its pid: then nothing ran.
/// <para>
/// Encodings: with a console (the agent starts it with a hidden one) its code pages are set to
/// UTF-8 and the command shares it, so cmd and console programs write UTF-8. Without one (under
/// Wine) cmd writes the ANSI code page; a shell line's output, which is text, is then converted to
/// UTF-8 when it is not UTF-8 already. argv runs are passed through byte for byte, whatever they are.
/// </para>
/// </summary>
public static class RunSupervisor
{
    public const string Flag = "--run-supervisor";

    /// <summary>The command is argv, quoted with the MSVC rules.</summary>
    public const string Argv = "argv";

    /// <summary>The command is a program and a command-line tail given to it verbatim (cmd.exe's).</summary>
    public const string RawTail = "raw";

    private const int CouldNotStart = 125;
    private const int Utf8CodePage = 65001;

    /// <summary>How to start this agent's executable again: itself, or dotnet with the agent's assembly.</summary>
    public static (string Program, IReadOnlyList<string> Arguments) SelfCommand()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("the agent's executable is unknown");
        return Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? (process, [typeof(RunSupervisor).Assembly.Location])
            : (process, []);
    }

    /// <summary>
    /// Runs as the supervisor: <c>JOB STDIN STDOUT STDERR EXIT PID argv|raw PROGRAM ARGS...</c>, STDIN
    /// empty for none. Returns the exit code of the process.
    /// </summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        if (args.Count < 8 || args[6] is not (Argv or RawTail) || !OperatingSystem.IsWindows())
        {
            await Console.Error.WriteLineAsync($"guest-agent {Flag}: usage JOB STDIN STDOUT STDERR EXIT PID argv|raw PROGRAM ARGS... (Windows only)");
            return CouldNotStart;
        }
        var (jobName, stdinPath, stdoutPath, stderrPath, exitPath, pidPath) = (args[0], args[1], args[2], args[3], args[4], args[5]);
        using (var job = WindowsNative.OpenJob(jobName, WindowsNative.JobObjectAssignProcess | WindowsNative.JobObjectTerminate))
        {
            if (job is null || WindowsNative.AssignSelf(job) != 0)
            {
                return CouldNotStart; // the agent is gone (the job with it) or the job cannot take us: run nothing
            }
        }
        try
        {
            await File.WriteAllTextAsync(pidPath, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return CouldNotStart;
        }

        var hasConsole = WindowsNative.GetConsoleOutputCP() != 0
                         && WindowsNative.SetConsoleOutputCP(Utf8CodePage) && WindowsNative.SetConsoleCP(Utf8CodePage);
        var start = new ProcessStartInfo
        {
            FileName = args[7],
            UseShellExecute = false,
            // Sharing the supervisor's (hidden, UTF-8) console; without one, no window may be made.
            CreateNoWindow = !hasConsole,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        WindowsProcessControl.SetArguments(start, args[6] == RawTail ? new RawCommandLine(args[7], args.Count > 8 ? args[8] : "") : [.. args.Skip(7)]);
        int code;
        await using (var stdout = new FileStream(stdoutPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        await using (var stderr = new FileStream(stderrPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            using var child = new Process { StartInfo = start };
            try
            {
                child.Start();
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                await stderr.WriteAsync(System.Text.Encoding.UTF8.GetBytes($"cannot start '{args[7]}': {e.Message}\n"));
                code = 127; // what a shell says of a command it cannot run
                await RecordAsync(exitPath, code);
                return code;
            }
            var output = child.StandardOutput.BaseStream.CopyToAsync(stdout);
            var errors = child.StandardError.BaseStream.CopyToAsync(stderr);
            await FeedAsync(child.StandardInput.BaseStream, stdinPath);
            await child.WaitForExitAsync();
            await Task.WhenAll(output, errors);
            code = child.ExitCode;
        }
        if (args[6] == RawTail)
        {
            var codePage = hasConsole ? Utf8CodePage : (int)WindowsNative.GetACP();
            await ToUtf8Async(stdoutPath, codePage);
            await ToUtf8Async(stderrPath, codePage);
        }
        await RecordAsync(exitPath, code);
        return code;
    }

    /// <summary>Gives the child the run's stdin, then end of file; a child that stops reading early is no failure.</summary>
    private static async Task FeedAsync(Stream input, string stdinPath)
    {
        try
        {
            if (stdinPath.Length > 0)
            {
                await using var file = new FileStream(stdinPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                await file.CopyToAsync(input);
            }
        }
        catch (IOException)
        {
            // the pipe closed: the child exited or closed its stdin
        }
        finally
        {
            try
            {
                input.Dispose();
            }
            catch (IOException)
            {
                // same
            }
        }
    }

    /// <summary>Rewrites a shell line's output from <paramref name="codePage"/> to UTF-8 unless it is UTF-8 already (or too large to hold).</summary>
    private static async Task ToUtf8Async(string path, int codePage)
    {
        const long largestConverted = 64L << 20;
        if (codePage == Utf8CodePage || new FileInfo(path).Length is 0 or > largestConverted)
        {
            return;
        }
        var bytes = await File.ReadAllBytesAsync(path);
        if (System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return;
        }
        System.Text.Encoding.RegisterProvider(System.Text.CodePagesEncodingProvider.Instance);
        var text = System.Text.Encoding.GetEncoding(codePage).GetString(bytes);
        await using var file = new FileStream(path, FileMode.Truncate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
    }

    /// <summary>"exit N\n" in one write, as the Linux supervisor does.</summary>
    private static Task RecordAsync(string exitPath, int code) =>
        File.WriteAllTextAsync(exitPath, $"exit {code.ToString(CultureInfo.InvariantCulture)}\n");
}
