using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Platform.Linux;
using GuestAgent.Blocks;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.Operations.Exec;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ExecRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("exec-runner-tests-").FullName;
    private readonly ExecRunner _runner = new(LinuxPlatform.Create());

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ExecOptions Options(int attempt = 1, int cap = ExecOptions.DefaultInlineCap) => new()
    {
        CommandId = Guid.NewGuid(),
        Attempt = attempt,
        SpoolDirectory = Path.Combine(_dir, "spool"),
        WorkingDirectory = _dir,
        DefaultInlineCapBytes = cap,
    };

    private Task<ExecOutcome> Run(ExecArgs args, ExecOptions? options = null, CancellationToken cancel = default) =>
        _runner.RunAsync(args, options ?? Options(), cancel);

    private static string Text(CapturedStream s) => Encoding.UTF8.GetString(s.Inline);

    private static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>True once /proc/pid is gone or a zombie (the container's init may not reap orphans).</summary>
    private static async Task<bool> ProcessGoneAsync(int pid, TimeSpan within)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            string? stat = null;
            try
            {
                stat = await File.ReadAllTextAsync($"/proc/{pid}/stat");
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
            {
            }
            if (stat is null || stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z'))
            {
                return true;
            }
            if (sw.Elapsed > within)
            {
                return false;
            }
            await Task.Delay(50);
        }
    }

    private async Task<int> ReadPidAsync(string pidFile)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(5))
        {
            if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile)).Trim(), out var pid))
            {
                return pid;
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"no pid in {pidFile}");
    }

    [Fact]
    public async Task Echo_round_trips_stdout_and_exits_zero()
    {
        var outcome = await Run(new ExecArgs { Argv = ["echo", "hello", "world"] });

        Assert.Equal(ExecOutcomeKind.Exited, outcome.Kind);
        Assert.Equal(0, outcome.ExitCode);
        Assert.Null(outcome.Signal);
        Assert.Equal("hello world\n", Text(outcome.Stdout));
        Assert.Equal(12, outcome.Stdout.TotalBytes);
        Assert.Equal(0, outcome.Stderr.TotalBytes);
        Assert.Equal("hello world\n", await File.ReadAllTextAsync(outcome.Stdout.SpoolPath!));

        var result = outcome.ToResult();
        Assert.Equal(1, result.Attempt);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("hello world\n", result.Stdout.Data);
        Assert.False(result.Stdout.Truncated);
        Assert.Equal(Sha256Hex(Encoding.UTF8.GetBytes("hello world\n")), result.Stdout.Sha256);
    }

    [Fact]
    public async Task Nonzero_exit_code_and_stderr_are_captured()
    {
        var outcome = await Run(new ExecArgs { Argv = ["sh", "-c", "echo oops >&2; exit 3"] });

        Assert.Equal(ExecOutcomeKind.Exited, outcome.Kind);
        Assert.Equal(3, outcome.ExitCode);
        Assert.Equal("oops\n", Text(outcome.Stderr));
        Assert.Equal(0, outcome.Stdout.TotalBytes);
    }

    [Fact]
    public async Task Shell_line_with_pipes_runs_under_sh()
    {
        var outcome = await Run(new ExecArgs { Shell = "printf 'b\\na\\nc\\n' | sort | tr a-z A-Z" });

        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal("A\nB\nC\n", Text(outcome.Stdout));
    }

    [Fact]
    public async Task Env_and_cwd_are_applied()
    {
        var sub = Directory.CreateDirectory(Path.Combine(_dir, "work")).FullName;

        var outcome = await Run(new ExecArgs
        {
            Shell = "echo \"$GREETING\"; pwd",
            Env = new Dictionary<string, string> { ["GREETING"] = "hi there" },
            Cwd = "work",
        });

        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal($"hi there\n{sub}\n", Text(outcome.Stdout));
    }

    [Fact]
    public async Task Stdin_is_delivered_then_closed()
    {
        var outcome = await Run(new ExecArgs { Argv = ["cat"], Stdin = "line one\nline two\n" });

        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal("line one\nline two\n", Text(outcome.Stdout));
    }

    [Fact]
    public async Task Without_stdin_the_child_sees_eof()
    {
        var outcome = await Run(new ExecArgs { Argv = ["wc", "-c"], TimeoutSeconds = 5 });

        Assert.Equal(ExecOutcomeKind.Exited, outcome.Kind);
        Assert.Equal("0", Text(outcome.Stdout).Trim());
    }

    [Fact]
    public async Task Binary_output_is_preserved_exactly()
    {
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();

        var outcome = await Run(new ExecArgs { Argv = ["cat"], StdinB64 = Convert.ToBase64String(all) });

        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal(all, outcome.Stdout.Inline);
        Assert.Equal(256, outcome.Stdout.TotalBytes);
        Assert.Equal(Sha256Hex(all), outcome.Stdout.Sha256);
        Assert.Equal(all, await File.ReadAllBytesAsync(outcome.Stdout.SpoolPath!));
        var wire = outcome.ToResult().Stdout;
        Assert.NotNull(wire.DataB64);
        Assert.Equal(all, wire.DecodeInline());
    }

    [Fact]
    public async Task Output_beyond_the_cap_is_counted_hashed_and_spooled_without_deadlock()
    {
        const int size = 5_000_000;
        const int cap = 64 * 1024;

        var outcome = await Run(
            new ExecArgs { Shell = $"head -c {size} /dev/urandom; head -c {size} /dev/urandom >&2", TimeoutSeconds = 30 },
            Options(cap: cap));

        Assert.Equal(ExecOutcomeKind.Exited, outcome.Kind);
        Assert.Equal(0, outcome.ExitCode);
        foreach (var stream in new[] { outcome.Stdout, outcome.Stderr })
        {
            Assert.Equal(size, stream.TotalBytes);
            Assert.Equal(cap, stream.InlineBytes);
            Assert.True(stream.Truncated);
            var spooled = await File.ReadAllBytesAsync(stream.SpoolPath!);
            Assert.Equal(size, spooled.Length);
            Assert.Equal(Sha256Hex(spooled), stream.Sha256);
            Assert.Equal(spooled.AsSpan(0, cap).ToArray(), stream.Inline);
        }
        var wire = outcome.ToResult(stdoutChunks: 3).Stdout;
        Assert.Equal(size, wire.Bytes);
        Assert.Equal(cap, wire.InlineBytes);
        Assert.Equal(3, wire.Chunks);
        Assert.True(wire.Truncated);
    }

    [Fact]
    public async Task Output_cap_from_args_overrides_the_default()
    {
        var outcome = await Run(new ExecArgs { Argv = ["echo", "0123456789"], OutputCapBytes = 4 });

        Assert.Equal(11, outcome.Stdout.TotalBytes);
        Assert.Equal("0123", Text(outcome.Stdout));
    }

    [Fact]
    public async Task Timeout_kills_the_whole_process_tree()
    {
        var pidFile = Path.Combine(_dir, "grandchild.pid");

        var outcome = await Run(new ExecArgs
        {
            Shell = $"sleep 100 & echo $! > '{pidFile}'; wait",
            TimeoutSeconds = 1,
            KillGraceSeconds = 1,
        });

        Assert.Equal(ExecOutcomeKind.TimedOut, outcome.Kind);
        Assert.Null(outcome.ExitCode);
        Assert.Equal("SIGTERM", outcome.Signal);
        Assert.InRange(outcome.Duration, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.True(await ProcessGoneAsync(await ReadPidAsync(pidFile), TimeSpan.FromSeconds(2)), "grandchild sleep still running");
    }

    [Fact]
    public async Task A_child_ignoring_sigterm_is_killed_after_the_grace_period()
    {
        var outcome = await Run(new ExecArgs
        {
            Shell = "trap '' TERM; sleep 100; echo survived",
            TimeoutSeconds = 0.5,
            KillGraceSeconds = 0.5,
        });

        Assert.Equal(ExecOutcomeKind.TimedOut, outcome.Kind);
        Assert.Equal("SIGKILL", outcome.Signal);
        Assert.Null(outcome.ExitCode);
        Assert.InRange(outcome.Duration, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.Equal(0, outcome.Stdout.TotalBytes);
        var result = outcome.ToResult();
        Assert.Null(result.ExitCode);
        Assert.Equal("SIGKILL", result.Signal);
    }

    [Fact]
    public async Task Cancellation_stops_the_whole_tree_and_reports_cancelled()
    {
        var pidFile = Path.Combine(_dir, "grandchild.pid");
        using var cts = new CancellationTokenSource();

        var run = Run(new ExecArgs { Shell = $"sleep 100 & echo $! > '{pidFile}'; wait", KillGraceSeconds = 1 }, cancel: cts.Token);
        var pid = await ReadPidAsync(pidFile);
        await cts.CancelAsync();
        var outcome = await run;

        Assert.Equal(ExecOutcomeKind.Cancelled, outcome.Kind);
        Assert.Equal("SIGTERM", outcome.Signal);
        Assert.True(await ProcessGoneAsync(pid, TimeSpan.FromSeconds(2)), "grandchild sleep still running");
    }

    [Fact]
    public async Task A_background_process_holding_stdout_does_not_block_the_result()
    {
        var pidFile = Path.Combine(_dir, "bg.pid");
        var options = Options();

        var outcome = await Run(new ExecArgs { Shell = $"sleep 3 & echo $! > '{pidFile}'; echo done", TimeoutSeconds = 10 }, options);

        Assert.Equal(ExecOutcomeKind.Exited, outcome.Kind);
        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal("done\n", Text(outcome.Stdout));
        Assert.True(outcome.Duration < TimeSpan.FromSeconds(2.5), $"took {outcome.Duration}");
    }

    [Fact]
    public async Task Missing_program_fails_to_start()
    {
        var outcome = await Run(new ExecArgs { Argv = ["definitely-not-a-program-xyz", "arg"] });

        Assert.Equal(ExecOutcomeKind.FailedToStart, outcome.Kind);
        Assert.Contains("definitely-not-a-program-xyz", outcome.Error);
        Assert.Contains("not found", outcome.Error);
        Assert.Throws<InvalidOperationException>(() => outcome.ToResult());
    }

    [Fact]
    public async Task Missing_program_path_fails_to_start()
    {
        var outcome = await Run(new ExecArgs { Argv = ["/nonexistent/bin/tool"] });

        Assert.Equal(ExecOutcomeKind.FailedToStart, outcome.Kind);
        Assert.Contains("not found", outcome.Error);
    }

    [Fact]
    public async Task Missing_working_directory_fails_to_start()
    {
        var outcome = await Run(new ExecArgs { Argv = ["true"], Cwd = "/nonexistent/dir" });

        Assert.Equal(ExecOutcomeKind.FailedToStart, outcome.Kind);
        Assert.Contains("/nonexistent/dir", outcome.Error);
    }

    [Fact]
    public async Task Attempt_and_command_id_are_visible_to_the_child()
    {
        var options = Options(attempt: 3);

        var outcome = await Run(new ExecArgs { Shell = "echo \"$GUESTAGENT_ATTEMPT $GUESTAGENT_COMMAND_ID\"" }, options);

        Assert.Equal($"3 {options.CommandId:D}\n", Text(outcome.Stdout));
        Assert.Equal(3, outcome.ToResult().Attempt);
    }

    [Fact]
    public async Task Run_as_an_unknown_user_fails_to_start()
    {
        var outcome = await Run(new ExecArgs { Argv = ["id"], RunAs = "no-such-user-xyz" });

        Assert.Equal(ExecOutcomeKind.FailedToStart, outcome.Kind);
        Assert.Contains("no-such-user-xyz", outcome.Error);
    }

    [Fact]
    public async Task Run_as_another_user_switches_uid_when_root()
    {
        if (Environment.UserName != "root")
        {
            return; // covered by the FailedToStart path instead
        }

        var outcome = await Run(new ExecArgs { Shell = "id -u; echo \"$USER\"", RunAs = "nobody" });

        Assert.Equal(ExecOutcomeKind.Exited, outcome.Kind);
        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal("65534\nnobody\n", Text(outcome.Stdout));
    }

    [Fact]
    public async Task Neither_argv_nor_shell_fails_to_start()
    {
        var outcome = await Run(new ExecArgs());

        Assert.Equal(ExecOutcomeKind.FailedToStart, outcome.Kind);
    }
}
