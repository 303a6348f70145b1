using System.Diagnostics;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Platform.Linux;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.Operations.Exec;

/// <summary>
/// A run writes its output straight into the spool, so a full spool is the child's write error, not
/// the agent's: the runner must still never report a clean result with output missing. The spool is
/// a small tmpfs (the tests run as root, as the agent does in a guest).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ExecSpoolFullTests : IDisposable
{
    private readonly string _mount = Directory.CreateTempSubdirectory("exec-spool-full-").FullName;
    private readonly ExecRunner _runner = new(LinuxPlatform.Create());

    public ExecSpoolFullTests()
    {
        using var mount = Process.Start("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", _mount])!;
        mount.WaitForExit();
        Assert.True(mount.ExitCode == 0, "mounting a tmpfs for the spool failed (these tests need root)");
    }

    public void Dispose()
    {
        Process.Start("umount", ["-l", _mount])!.WaitForExit();
        Directory.Delete(_mount, recursive: true);
    }

    private ExecOptions Options() => new() { CommandId = Guid.NewGuid(), SpoolDirectory = Path.Combine(_mount, "spool"), WorkingDirectory = _mount };

    [Fact]
    public async Task Output_that_did_not_fit_the_spool_is_reported_lost_never_as_a_clean_result()
    {
        // 1 MiB into a 512 KiB spool: the child's writes fail with ENOSPC half way (and the shell exits 0 regardless).
        var outcome = await _runner.RunAsync(new ExecArgs { Shell = "head -c 1048576 /dev/zero | tr '\\0' x; true" }, Options(), default);

        Assert.True(outcome.MayHaveRun, $"reported {outcome.Kind} exit {outcome.ExitCode} with {outcome.Stdout.TotalBytes} bytes");
        Assert.Contains("was full while the run wrote its output", outcome.Error);
    }

    [Fact]
    public async Task A_spool_too_full_for_the_supervisors_records_runs_nothing_and_says_so()
    {
        var options = Options();
        Directory.CreateDirectory(options.SpoolDirectory);
        var filler = Path.Combine(_mount, "filler");
        using (var fill = Process.Start("sh", ["-c", $"head -c 1048576 /dev/zero > {filler}"])!)
        {
            fill.WaitForExit();
        }
        var mark = Path.Combine(Path.GetTempPath(), $"ga-spool-full-{Guid.NewGuid():N}");

        var outcome = await _runner.RunAsync(new ExecArgs { Shell = $"touch {mark}" }, options, default);

        Assert.Equal(ExecOutcomeKind.FailedToStart, outcome.Kind);
        Assert.False(outcome.MayHaveRun);
        Assert.Contains("could not write its files", outcome.Error);
        Assert.False(File.Exists(mark), "the command ran");
    }
}
