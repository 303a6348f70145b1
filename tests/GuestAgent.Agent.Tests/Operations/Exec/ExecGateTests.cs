using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Platform.Linux;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.Operations.Exec;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ExecGateTests : IDisposable
{
    private static readonly GuestPlatform Linux = LinuxPlatform.Create();
    private readonly string _dir = Directory.CreateTempSubdirectory("ga-gate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ExecPolicy Policy(string? runAs = null, string[]? allowedRunAs = null, string[]? programs = null, string[]? env = null) =>
        new(runAs, (allowedRunAs ?? []).ToHashSet(), programs ?? [], (env ?? []).ToHashSet());

    [Fact]
    public void Without_an_allow_list_any_program_runs_as_the_bindings_user()
    {
        var (admitted, refusal) = ExecGate.Judge(new ExecArgs { Shell = "anything" }, Policy(runAs: "deploy"), "t", Linux);

        Assert.Null(refusal);
        Assert.Equal("deploy", admitted!.RunAs);
        Assert.Equal("anything", admitted.Shell);
    }

    [Theory]
    [InlineData("deploy", true)]      // the binding's own user, named
    [InlineData("www-data", true)]    // listed
    [InlineData("root", false)]       // neither
    public void A_command_may_name_only_the_bindings_user_or_a_listed_one(string asked, bool allowed)
    {
        var (admitted, refusal) = ExecGate.Judge(new ExecArgs { Argv = ["true"], RunAs = asked },
            Policy(runAs: "deploy", allowedRunAs: ["www-data"]), "t", Linux);

        Assert.Equal(allowed, refusal is null);
        Assert.Equal(allowed ? asked : null, admitted?.RunAs);
    }

    [Fact]
    public void Listed_programs_are_matched_by_real_path_and_started_by_the_full_path_that_was_checked()
    {
        File.CreateSymbolicLink(Path.Combine(_dir, "say"), "/bin/echo");
        File.CreateSymbolicLink(Path.Combine(_dir, "echo"), "/usr/bin/touch");
        var policy = Policy(programs: ["/bin/echo"], env: ["LANG"]);

        var byName = ExecGate.Judge(new ExecArgs { Argv = ["echo", "hi"] }, policy, "t", Linux);
        var byLink = ExecGate.Judge(new ExecArgs { Argv = [Path.Combine(_dir, "say"), "hi"] }, policy, "t", Linux);
        var lookAlike = ExecGate.Judge(new ExecArgs { Argv = [Path.Combine(_dir, "echo")] }, policy, "t", Linux);
        var relative = ExecGate.Judge(new ExecArgs { Argv = ["./echo"], Cwd = _dir }, policy, "t", Linux);
        var missing = ExecGate.Judge(new ExecArgs { Argv = ["no-such-program-xyz"] }, policy, "t", Linux);

        Assert.Null(byName.Refusal);
        Assert.True(Path.IsPathFullyQualified(byName.Admitted!.Argv![0]), byName.Admitted.Argv[0]);
        Assert.Equal("hi", byName.Admitted.Argv[1]);
        Assert.Null(byLink.Refusal);
        Assert.Contains("not in exec.allowed-programs", lookAlike.Refusal);
        Assert.Contains("not in exec.allowed-programs", relative.Refusal);
        Assert.Contains("not found", missing.Refusal);
    }

    [Fact]
    public void With_an_allow_list_shell_needs_bin_sh_listed_and_env_only_listed_names()
    {
        var echoOnly = Policy(programs: ["/bin/echo"], env: ["LANG"]);
        var withShell = Policy(programs: ["/bin/sh"]);

        Assert.Contains("/bin/sh", ExecGate.Judge(new ExecArgs { Shell = "true" }, echoOnly, "t", Linux).Refusal);
        Assert.Null(ExecGate.Judge(new ExecArgs { Shell = "true" }, withShell, "t", Linux).Refusal);
        Assert.Null(ExecGate.Judge(new ExecArgs { Argv = ["echo"], Env = new Dictionary<string, string> { ["LANG"] = "C" } }, echoOnly, "t", Linux).Refusal);
        var path = ExecGate.Judge(new ExecArgs { Argv = ["echo"], Env = new Dictionary<string, string> { ["PATH"] = _dir, ["LD_PRELOAD"] = "x" } }, echoOnly, "t", Linux);
        Assert.Contains("not LD_PRELOAD, PATH", path.Refusal);
    }
}
