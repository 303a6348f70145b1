using System.Text;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Platform.Linux;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.Operations.Exec;

/// <summary>Finding a run again after the agent lost it: from the supervisor's records, or from this process's own knowledge.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ExecReattachTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("exec-reattach-tests-").FullName;
    private readonly ExecRunner _runner = new(LinuxPlatform.Create());

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ExecOptions Options() => new() { CommandId = Guid.NewGuid(), SpoolDirectory = Path.Combine(_dir, "spool"), WorkingDirectory = _dir };

    [Fact]
    public async Task A_run_this_process_detached_from_is_reattached_with_its_exit_code_even_when_its_supervisor_could_not_record_it()
    {
        var options = Options();
        var files = RunFiles.For(options.SpoolDirectory, options.CommandId, options.Attempt);
        Directory.CreateDirectory(files.Exit); // the supervisor's record cannot be written there, as on a full disk
        using var detach = new CancellationTokenSource();
        // The run outlasts the detach by far even on a loaded machine: one that ended first is Exited.
        var args = new ExecArgs { Shell = "sleep 3; echo out; exit 7", TimeoutSeconds = 30 };

        var run = _runner.RunAsync(args, options with { Detaching = detach.Token }, default);
        await Task.Delay(300);
        await detach.CancelAsync();
        Assert.Equal(ExecOutcomeKind.Detached, (await run).Kind);
        var outcome = await _runner.ReattachAsync(args, options, default);

        Assert.NotNull(outcome);
        Assert.Equal(ExecOutcomeKind.Exited, outcome.Kind);
        Assert.Equal(7, outcome.ExitCode);
        Assert.True(outcome.Reattached);
        Assert.Equal("out\n", Encoding.UTF8.GetString(outcome.Stdout.Inline));
    }

    [Fact]
    public async Task A_run_whose_record_shows_the_earlier_agents_timeout_signal_is_reported_timed_out()
    {
        var options = Options();
        var files = RunFiles.For(options.SpoolDirectory, options.CommandId, options.Attempt);
        Directory.CreateDirectory(options.SpoolDirectory);
        // What an agent killed right after its timeout's SIGTERM leaves: the run ended 143, 3 s after it began.
        File.WriteAllText(files.Pid, "2147483000\n"); // no such process
        File.WriteAllText(files.Exit, "exit 143\n");
        File.WriteAllText(files.Stdout, "partial\n");
        File.WriteAllText(files.Stderr, "");
        var start = DateTime.UtcNow.AddSeconds(-10);
        File.SetLastWriteTimeUtc(files.Pid, start);
        File.SetLastWriteTimeUtc(files.Exit, start.AddSeconds(3));

        var timedOut = await _runner.ReattachAsync(new ExecArgs { Shell = "sleep 30", TimeoutSeconds = 2 }, options, default);
        var ownExit = await _runner.ReattachAsync(new ExecArgs { Shell = "sleep 30", TimeoutSeconds = 60 }, options, default);

        Assert.Equal((ExecOutcomeKind.TimedOut, "SIGTERM", (int?)null), (timedOut!.Kind, timedOut.Signal, timedOut.ExitCode));
        Assert.Equal("partial\n", Encoding.UTF8.GetString(timedOut.Stdout.Inline));
        // Within its timeout, 143 is the run's own exit code: a signal someone else sent.
        Assert.Equal((ExecOutcomeKind.Exited, (string?)null, (int?)143), (ownExit!.Kind, ownExit.Signal, ownExit.ExitCode));
    }

    [Fact]
    public async Task A_run_with_no_trace_of_its_end_and_no_supervisor_is_not_reattached()
    {
        var options = Options();
        var files = RunFiles.For(options.SpoolDirectory, options.CommandId, options.Attempt);
        Directory.CreateDirectory(options.SpoolDirectory);
        File.WriteAllText(files.Pid, "2147483000\n");
        File.WriteAllText(files.Exit, "exi"); // cut short

        Assert.Null(await _runner.ReattachAsync(new ExecArgs { Shell = "true" }, options, default));
    }
}
