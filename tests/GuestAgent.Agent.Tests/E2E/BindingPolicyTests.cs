using System.Text;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// A tenant binding's policy beyond allowed-ops, against one real agent: the exec block (run-as,
/// allowed-run-as, allowed-programs, allowed-env) and the size caps (max-file-bytes,
/// max-command-bytes). Each refused command runs nothing, and the agent goes on.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class BindingPolicyTests
{
    private const string Policy = """
        max-file-bytes = 1000
        max-command-bytes = 2048
        exec {
          run-as = "nobody"
          allowed-programs = ["/bin/echo", "/usr/bin/id"]
          allowed-env = ["LANG"]
        }
        """;

    [Fact]
    public async Task Exec_runs_listed_programs_as_the_bindings_user_and_everything_else_is_refused_before_it_runs()
    {
        using var e2e = new E2EContext(fileRoot: true, tenant: t => t with { ExtraConfig = Policy });
        var c = e2e.Controller;
        var marker = Path.Combine(e2e.Dir, "ran");
        // A directory of look-alikes: "echo" that is really touch, and a link to the real echo.
        var tricks = Directory.CreateDirectory(Path.Combine(e2e.Dir, "tricks")).FullName;
        File.CreateSymbolicLink(Path.Combine(tricks, "echo"), "/usr/bin/touch");
        File.CreateSymbolicLink(Path.Combine(tricks, "say"), "/bin/echo");

        // Allowed: a listed program, run as the binding's run-as user without the command asking.
        var id = await c.SendAsync(c.Call(new ExecArgs { Argv = ["id", "-un"] }));
        var idFinal = await c.FinalAsync(id.Id, E2EContext.Wait);
        Assert.True(idFinal.Status == ReplyStatus.Succeeded, $"{idFinal.Error?.Code} {idFinal.Error?.Message}\n{e2e.Agent.Log}");
        Assert.Equal("nobody\n", idFinal.ResultAs<ExecResult>()!.Stdout.Data);
        // A symlink to a listed program is that program; a listed variable may be set.
        var say = await c.SendAsync(c.Call(new ExecArgs { Argv = [Path.Combine(tricks, "say"), "hello"], Env = new Dictionary<string, string> { ["LANG"] = "C" } }));
        var sayFinal = await c.FinalAsync(say.Id, E2EContext.Wait);
        Assert.True(sayFinal.Status == ReplyStatus.Succeeded, $"{sayFinal.Error?.Code} {sayFinal.Error?.Message}");
        Assert.Equal("hello\n", sayFinal.ResultAs<ExecResult>()!.Stdout.Data);

        var refused = new (string What, ExecArgs Args, string Expect)[]
        {
            ("a program not listed", new ExecArgs { Argv = ["touch", marker] }, "not in exec.allowed-programs"),
            ("a shell command (/bin/sh not listed)", new ExecArgs { Shell = $"touch {marker}" }, "shell commands need /bin/sh listed"),
            ("a look-alike named echo", new ExecArgs { Argv = [Path.Combine(tricks, "echo"), marker] }, "not in exec.allowed-programs"),
            ("PATH pointing at the look-alike", new ExecArgs { Argv = ["echo", marker], Env = new Dictionary<string, string> { ["PATH"] = tricks } }, "allowed-env"),
            ("LD_PRELOAD", new ExecArgs { Argv = ["echo", "x"], Env = new Dictionary<string, string> { ["LD_PRELOAD"] = "/tmp/evil.so" } }, "allowed-env"),
            ("run_as root", new ExecArgs { Argv = ["id", "-un"], RunAs = "root" }, "run_as 'root' is not allowed"),
        };
        var failures = new StringBuilder();
        foreach (var (what, args, expect) in refused)
        {
            var cmd = await c.SendAsync(c.Call(args));
            var final = await c.FinalAsync(cmd.Id, E2EContext.Wait);
            if (final.Status != ReplyStatus.Rejected || final.Error?.Code != RejectCodes.Forbidden || !final.Error.Message.Contains(expect))
            {
                failures.AppendLine($"{what}: expected rejected forbidden ({expect}), got {final.Status} {final.Error?.Code} {final.Error?.Message}");
            }
        }
        Assert.True(failures.Length == 0, failures.ToString());
        Assert.False(File.Exists(marker), "a refused command ran");
    }

    [Fact]
    public async Task Files_above_max_file_bytes_and_commands_above_max_command_bytes_are_refused()
    {
        using var e2e = new E2EContext(fileRoot: true, tenant: t => t with { ExtraConfig = Policy });
        var c = e2e.Controller;
        var data = new byte[5000];
        Random.Shared.NextBytes(data);
        var target = Path.Combine(e2e.FileRoot, "big.bin");
        var big = Path.Combine(e2e.FileRoot, "already-big.bin");
        File.WriteAllBytes(big, data);

        var put = await c.SendAsync(c.Call(new FilePutArgs
        {
            TransferId = Guid.NewGuid(),
            Path = target,
            Size = data.Length,
            Sha256 = Chunker.Sha256Hex(data),
            ChunkBytes = 1000,
            Index = 0,
            Count = 5,
            DataB64 = Convert.ToBase64String(data[..1000]),
        }));
        var get = await c.SendAsync(c.Call(new FileGetArgs { Path = big }));
        var small = await c.SendAsync(c.Call(new FileGetArgs { Path = big, Offset = 4990 }));
        var longCommand = await c.SendAsync(c.Call(new ExecArgs { Argv = ["echo", new string('x', 3000)] }));

        var putFinal = await c.FinalAsync(put.Id, E2EContext.Wait);
        Assert.Equal((ReplyStatus.Rejected, RejectCodes.Forbidden), (putFinal.Status, putFinal.Error?.Code));
        Assert.Contains("max-file-bytes", putFinal.Error!.Message);
        Assert.False(File.Exists(target));
        Assert.Empty(Directory.GetFiles(e2e.FileRoot, "*guestagent-part"));
        var getFinal = await c.FinalAsync(get.Id, E2EContext.Wait);
        Assert.Equal((ReplyStatus.Failed, FileErrorCodes.TooLarge), (getFinal.Status, getFinal.Error?.Code));
        // The cap is on the file, not on what one read returns.
        Assert.Equal(FileErrorCodes.TooLarge, (await c.FinalAsync(small.Id, E2EContext.Wait)).Error?.Code);
        var longFinal = await c.FinalAsync(longCommand.Id, E2EContext.Wait);
        Assert.Equal((ReplyStatus.Rejected, RejectCodes.Oversize), (longFinal.Status, longFinal.Error?.Code));
        Assert.Contains("2048", longFinal.Error!.Message);
    }

    [Fact]
    public async Task Credentials_for_a_binding_without_presigned_urls_fail_and_change_nothing()
    {
        using var e2e = new E2EContext();
        var c = e2e.Controller;
        var url = new PreSignedBlock([$"/v2/queues/{e2e.Tenant.CommandQueue}/messages"], ["POST", "DELETE"], "2030-01-01T00:00:00", "ab12");

        var cmd = await c.SendAsync(c.Call(new CredentialsArgs(url, null)));
        var final = await c.FinalAsync(cmd.Id, E2EContext.Wait);
        var ping = await c.SendAsync(c.Call(new PingArgs()));

        Assert.Equal((ReplyStatus.Failed, Credentials.CredentialsOperation.NotPreSigned), (final.Status, final.Error?.Code));
        var result = (await c.FinalAsync(ping.Id, E2EContext.Wait)).ResultAs<PingResult>()!;
        Assert.Null(result.CredentialsExpireAt);
        Assert.False(Directory.Exists(Path.Combine(e2e.Agent.StateDir, "state", "credentials")));
    }
}
