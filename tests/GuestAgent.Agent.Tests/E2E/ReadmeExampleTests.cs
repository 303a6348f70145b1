using System.Diagnostics;
using System.Text.RegularExpressions;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// README.md's examples, run as written against the demo that `tools/run.sh --keep` leaves
/// running, so that the README cannot drift from what works; and run.sh's own promises.
/// </summary>
public sealed partial class ReadmeExampleTests : IDisposable
{
    private const string DefaultRunDir = "tools/zaqar/run/main";

    private readonly string _dir = Directory.CreateTempSubdirectory("ga-readme-").FullName;
    private readonly string _home = Directory.CreateTempSubdirectory("ga-readme-home-").FullName;

    public void Dispose()
    {
        Run(RepoPaths.Tool("run.sh"), ["--stop", "--dir", _dir], TimeSpan.FromMinutes(1));
        foreach (var dir in new[] { _dir, _home })
        {
            try
            {
                Directory.Delete(dir, true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>The ```sh block that uses the demo left running: the one that sources its guestctl.env.</summary>
    private static string DemoBlock()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        var blocks = ShBlock().Matches(readme).Select(m => m.Groups[1].Value).ToList();
        return Assert.Single(blocks, b => b.StartsWith($"source {DefaultRunDir}/guestctl.env", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_readme_demo_block_runs_as_written_against_run_sh_keep()
    {
        // What run.sh would build is what the tests were built from: put it in place (run.sh then
        // finds it up to date), so that this test does not spend a minute building it again.
        Install(AgentProcess.AgentDll, "guest-agent");
        Install(Guestctl.Dll, "guestctl");
        // The README's own words: --dir DIR puts it all under DIR instead of tools/zaqar/run/main.
        var keep = Run(RepoPaths.Tool("run.sh"), ["--keep", "--dir", _dir], TimeSpan.FromMinutes(5));
        Assert.True(keep.ExitCode == 0, keep.Output);
        Assert.Contains($"\nsource {_dir}/guestctl.env\n", keep.Output);
        Assert.Contains($"tools/run.sh --stop --dir {_dir}", keep.Output);
        Assert.Contains("== guestctl is up to date", keep.Output);

        var block = DemoBlock().Replace(DefaultRunDir, _dir, StringComparison.Ordinal);
        var copy = "/tmp/README.copy";
        File.Delete(copy);
        // The block as written, then one line to learn the cast's id.
        var run = Run("bash", ["-e", "-c", block + "echo \"cast-id=$ID\"\n"], TimeSpan.FromMinutes(2));

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("Filesystem", run.Output);
        Assert.Contains("\"state\":\"started\"", run.Output);
        Assert.Contains($"cp: README.md -> guest:{_dir}/files/README.md", run.Output);
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "README.md")), await File.ReadAllTextAsync(Path.Combine(_dir, "files", "README.md")));
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "README.md")), await File.ReadAllTextAsync(copy));
        File.Delete(copy);
        var id = Regex.Match(run.Output, "cast-id=([0-9a-f-]{36})").Groups[1].Value;
        var log = Path.Combine(_dir, "agent.log");
        await E2EContext.WaitForAsync(() => File.ReadAllText(log).Contains($"{id} CommandLedger: attempt 1 ended: cancelled (", StringComparison.Ordinal),
            "the cast to end cancelled, with its reason in the log");
        Assert.Contains("ready: claiming commands from guest-demo-vm1", await File.ReadAllTextAsync(log));
    }

    [Fact]
    public void Run_sh_stop_leaves_alone_a_process_that_took_a_stale_agent_pid()
    {
        using var other = Process.Start(new ProcessStartInfo("sleep", ["60"]))!;
        File.WriteAllText(Path.Combine(_dir, "agent.pid"), other.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var stop = Run(RepoPaths.Tool("run.sh"), ["--stop", "--dir", _dir], TimeSpan.FromMinutes(1));

        Assert.Equal(0, stop.ExitCode);
        Assert.Contains($"pid {other.Id} is no longer guest-agent, left alone", stop.Output);
        Assert.False(other.HasExited);
        Assert.False(File.Exists(Path.Combine(_dir, "agent.pid")));
        other.Kill();
    }

    /// <summary>
    /// Copies the directory of <paramref name="dll"/> to artifacts/<paramref name="name"/>, each file
    /// by rename (a demo agent may be running from there), and marks it newer than the sources.
    /// </summary>
    private static void Install(string dll, string name)
    {
        var from = Path.GetDirectoryName(dll)!;
        var to = Directory.CreateDirectory(Path.Combine(RepoPaths.Root, "artifacts", name)).FullName;
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var tmp = target + ".tmp" + Environment.ProcessId;
            File.Copy(file, tmp, overwrite: true);
            File.Move(tmp, target, overwrite: true);
        }
        File.SetLastWriteTimeUtc(Path.Combine(to, name + ".dll"), DateTime.UtcNow);
    }

    /// <summary>Runs a program from the repository root with HOME in a scratch directory and none of guestctl's variables.</summary>
    private (int ExitCode, string Output) Run(string file, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var name in new[] { "ZAQAR_URL", "ZAQAR_PROJECT", "GUESTAGENT_QUEUE", "GUESTAGENT_SIGNING_KEYS", "OS_AUTH_TOKEN", "DEMO_FILES" })
        {
            psi.Environment.Remove(name);
        }
        psi.Environment["HOME"] = _home;
        using var p = Process.Start(psi)!;
        // One buffer for both, in arrival order near enough for the assertions.
        var output = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) =>
        {
            lock (output)
            {
                output.Append(e.Data).Append('\n');
            }
        };
        p.ErrorDataReceived += (_, e) =>
        {
            lock (output)
            {
                output.Append(e.Data).Append('\n');
            }
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish: {output}");
        }
        p.WaitForExit();
        lock (output)
        {
            return (p.ExitCode, output.ToString());
        }
    }

    [GeneratedRegex("```sh\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex ShBlock();
}
