using System.Diagnostics;
using System.Security.Cryptography;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>Our controller side (the SDK and guestctl) against a real agent.</summary>
public sealed class ControllerTests(ControllerTests.Agent agent) : IClassFixture<ControllerTests.Agent>
{
    private readonly E2EContext _e2e = agent.E2E;
    /// <summary>This test's scratch directory.</summary>
    private readonly string _dir = SharedAgent.NewDirectory(agent.E2E.Dir);

    /// <summary>One agent for the tests here that neither kill nor reconfigure it.</summary>
    public sealed class Agent() : SharedAgent(() => new E2EContext());

    private GuestClient Sdk() =>
        new(_e2e.Bed.Client(_e2e.Tenant.Project), _e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"),
            new GuestClientOptions { SigningKeys = _e2e.Tenant.Keys });

    [Fact]
    public async Task Sdk_call_gets_the_whole_output_of_a_large_command()
    {
        await using var guest = Sdk();
        var path = Path.Combine(_dir, "blob");

        var result = await guest.CallAsync(new ExecArgs { Shell = $"head -c 1000000 /dev/urandom | tee {path}" });

        Assert.True(result.Succeeded, result.Error?.Message);
        Assert.False(result.StdoutTruncated);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(path)), SHA256.HashData(result.Stdout));
        Assert.True(result.Exec!.Stdout.Chunks > 0);
    }

    [Fact]
    public async Task Sdk_cast_status_and_cancel_follow_a_long_command()
    {
        await using var guest = Sdk();

        var id = await guest.CastAsync(new ExecArgs { Shell = "sleep 300" }, new CastOptions { WaitForAcceptance = true });
        await _e2e.Agent.WaitForLogAsync($"{id} CommandLedger: started attempt 1", E2EContext.Wait);
        var running = await guest.StatusAsync(id);
        var cancel = await guest.CancelAsync(id);
        var after = await WaitForState(guest, id, s => s.FinalStatus == ReplyStatus.Cancelled);

        Assert.Equal(CommandState.Started, running.State);
        Assert.Equal(ReplyStatus.Succeeded, cancel.Status);
        Assert.Equal(ReplyStatus.Cancelled, after.FinalStatus);
        Assert.Equal("test-agent", (await guest.PingAsync()).Agent);
    }

    private static async Task<StatusResult> WaitForState(GuestClient guest, Guid id, Func<StatusResult, bool> done)
    {
        for (var i = 0; ; i++)
        {
            var s = await guest.StatusAsync(id);
            if (done(s) || i == 50)
            {
                return s;
            }
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Guestctl_exec_prints_remote_output_and_exits_with_the_remote_exit_code()
    {
        var run = await _e2e.GuestctlAsync("exec", "--shell", "echo out; echo err >&2; exit 7");

        Assert.Equal(7, run.ExitCode);
        Assert.Equal("out\n", run.Stdout);
        Assert.Contains("err\n", run.Stderr);
    }
}
