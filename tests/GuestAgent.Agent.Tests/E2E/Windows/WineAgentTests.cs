using System.Text;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E.Windows;

/// <summary>
/// The Windows agent's core, for real under Wine: one agent shared by the class (a Wine prefix and an
/// agent start take ~15 s), calls through cmd.exe, argv quoting, exit codes, stdin, a timeout that
/// ends a whole tree, and the hostile Windows paths the file ops refuse.
/// </summary>
public sealed class WineAgentTests(WineAgent wine) : IClassFixture<WineAgent>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private async Task<Reply> CallAsync(OpArgs args)
    {
        var cmd = await wine.Controller.SendAsync(args is ExecArgs exec ? wine.Controller.Exec(exec) : wine.Controller.Call(args));
        return await wine.FinalAsync(cmd.Id, Wait);
    }

    private static string Describe(Reply final) =>
        $"{final.Status} {final.Error?.Code}: {final.Error?.Message} {final.Result?.GetRawText()}";

    [Fact]
    public async Task Shell_line_runs_in_cmd_and_returns_its_output_and_full_exit_code()
    {
        var final = await CallAsync(new ExecArgs { Shell = "echo hello from \"cmd\"& echo oops>&2& exit /b 300" });

        var result = final.ResultAs<ExecResult>()!;
        Assert.Equal(ReplyStatus.Failed, final.Status);
        Assert.Equal("nonzero_exit", final.Error?.Code);
        Assert.Equal(300, result.ExitCode); // Windows exit codes are 32-bit: not cut to 8 bits as Wine's Linux side sees them
        Assert.Equal("hello from \"cmd\"\r\n", result.Stdout.Data);
        Assert.Equal("oops\r\n", result.Stderr.Data);
    }

    [Fact]
    public async Task Shell_output_that_is_not_UTF8_arrives_as_UTF8_text()
    {
        // Without a console (Wine's case) cmd writes the ANSI code page: é is one byte 0xE9 there.
        var final = await CallAsync(new ExecArgs { Shell = "echo héllo wörld ✓" });

        var result = final.ResultAs<ExecResult>()!;
        Assert.True(final.Status == ReplyStatus.Succeeded, Describe(final));
        Assert.Null(result.Stdout.DataB64);
        Assert.StartsWith("héllo wörld ", result.Stdout.Data);
    }

    [Fact]
    public async Task Argv_reaches_the_program_quoted_by_Windows_rules()
    {
        // The agent's own executable says which argument it did not understand, exactly as it parsed it.
        var final = await CallAsync(new ExecArgs { Argv = [WineBed.WinPath(wine.Bed.AgentExe), "a b \"quoted\" back\\slash\\"] });

        var result = final.ResultAs<ExecResult>()!;
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown argument 'a b \"quoted\" back\\slash\\'", result.Stderr.Data);
    }

    [Fact]
    public async Task Stdin_is_given_to_the_run_and_ends()
    {
        var final = await CallAsync(new ExecArgs
        {
            Argv = ["find.exe", "needle"], // Wine's findstr ignores stdin
            StdinB64 = Convert.ToBase64String("hay\r\nneedle one\r\nmore hay\r\nneedle two\r\n"u8),
        });

        var result = final.ResultAs<ExecResult>()!;
        Assert.True(final.Status == ReplyStatus.Succeeded, Describe(final));
        Assert.Equal("needle one\r\nneedle two\r\n", result.Stdout.Data);
    }

    [Fact]
    public async Task Missing_program_fails_to_start_and_runs_nothing()
    {
        var final = await CallAsync(new ExecArgs { Argv = ["no-such-program-here"] });

        Assert.Equal(ReplyStatus.Failed, final.Status);
        Assert.Equal("failed_to_start", final.Error?.Code);
        Assert.Contains("not found", final.Error?.Message);
    }

    [Fact]
    public async Task Run_as_another_account_is_refused_with_the_reason()
    {
        // The binding allows it (exec.allowed-run-as); the platform cannot do it.
        var final = await CallAsync(new ExecArgs { Shell = "echo must not run", RunAs = "Administrator" });

        Assert.True(final.Status == ReplyStatus.Failed, Describe(final));
        Assert.Equal("failed_to_start", final.Error?.Code);
        Assert.Contains("not supported on Windows", final.Error?.Message);
    }

    [Fact]
    public async Task Timeout_ends_the_run_with_its_child_and_grandchild()
    {
        // cmd starts a second cmd in the background, which starts ping (the grandchild); cmd's own ping is the child.
        const string marker = "-n 71";
        var final = await CallAsync(new ExecArgs
        {
            Shell = $"start /b cmd /d /c \"ping {marker} 127.0.0.1 >nul\" & ping {marker} 127.0.0.2 >nul",
            TimeoutSeconds = 3,
        });

        var result = final.ResultAs<ExecResult>()!;
        Assert.True(final.Status == ReplyStatus.TimedOut, Describe(final));
        Assert.Equal("SIGKILL", result.Signal);
        Assert.Null(result.ExitCode);
        await E2EContext.WaitForAsync(() => WineAgent.WineProcessesWith(marker).Count == 0, "the run's ping processes ended");
    }

    public static TheoryData<string, string> HostilePaths => new()
    {
        { "{root}/../outside/secret.txt", "goes out of the root with .." },
        { "{root}/PROGRA~1/secret.txt", "an 8.3 short name" },
        { "{root}/inside.txt:hidden", "an alternate data stream" },
        { "{root}/CON", "a reserved device name" },
        { "{root}/NUL.txt", "a reserved device name with an extension" },
        { "{root}/COM1", "a serial port" },
        { "{root}/inside.txt.", "a trailing dot" },
        { "{root}/inside.txt ", "a trailing space" },
        { "//server/share/inside.txt", "a UNC path" },
        { "//?/{root}/inside.txt", "a device namespace path" },
        { "Z:inside.txt", "relative to the drive's current directory" },
        { "{root}/link/secret.txt", "a link out of the root" },
    };

    [Theory]
    [MemberData(nameof(HostilePaths))]
    public async Task Hostile_path_is_refused_and_nothing_is_read(string template, string what)
    {
        await File.WriteAllTextAsync(Path.Combine(wine.Root, "inside.txt"), "inside");
        await File.WriteAllTextAsync(Path.Combine(wine.Outside, "secret.txt"), "secret");
        var link = Path.Combine(wine.Root, "link");
        if (!Directory.Exists(link))
        {
            // Wine 8 makes no junctions (mklink /J fails); a link of the host is what it shows instead.
            Directory.CreateSymbolicLink(link, wine.Outside);
        }
        var path = template.Replace("{root}", WineBed.WinPath(wine.Root));

        var final = await CallAsync(new FileGetArgs { Path = path });

        Assert.True(final.Status == ReplyStatus.Failed && final.Error?.Code == "forbidden_path", $"{what} ({path}): {Describe(final)}");
    }

    [Fact]
    public async Task File_inside_the_root_is_read_by_its_Windows_path()
    {
        await File.WriteAllTextAsync(Path.Combine(wine.Root, "plain.txt"), "plain text");

        var final = await CallAsync(new FileGetArgs { Path = WineBed.WinPathBackslashed(Path.Combine(wine.Root, "plain.txt")) });

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal("plain text", Encoding.UTF8.GetString(final.ResultAs<FileGetResult>()!.Data.DecodeInline()));
    }

    [Fact]
    public void Shipped_Windows_example_config_is_valid_for_the_Windows_agent()
    {
        var example = Path.Combine(RepoPaths.Root, "hocon", "examples", "windows-single-tenant.conf");

        var (exitCode, output) = wine.Bed.Wine(wine.Bed.AgentExe, "--check-config", "--config", WineBed.WinPath(example));

        Assert.True(exitCode == 0, output);
        Assert.Contains("is valid: 1 tenant binding(s), state in C:", output);
    }
}
