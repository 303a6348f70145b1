using System.Diagnostics;
using GuestAgent.Agent.Tests.E2E;
using GuestAgent.Protocol;
using GuestAgent.Testing;
using Xunit.Abstractions;

namespace GuestAgent.Agent.Tests.Transports.Zaqar;

/// <summary>
/// Push for a guest holding a keystone token, on the keystone-authenticated Zaqar: the agent
/// authenticates its socket with the token before subscribing. Polling is 30 s apart, so prompt
/// answers come from push.
/// </summary>
public sealed class KeystonePushTests(ITestOutputHelper output)
{
    private readonly KeystoneBed _bed = KeystoneBed.Shared;

    [Fact]
    public async Task Keystone_guest_authenticates_its_socket_and_gets_commands_by_push()
    {
        var ws = _bed.WebSocketUrl ?? throw new InvalidOperationException(
            "the keystone bed runs no WebSocket server: start it with tools/keystone/start.sh --websocket (tools/test.sh does)");
        var queue = ZaqarBed.NewQueue("ks-push");
        var reply = ZaqarBed.NewQueue("ks-rep");
        var token = await _bed.TokenAsync(Tenant.B);
        using var agent = AgentProcess.Start(_bed.ZaqarUrl, [new TestTenant("t1", _bed.TenantB.ProjectId, queue, reply,
            ExtraConfig: $"auth {{ mode = keystone, token = \"{token}\" }}\npush {{ websocket = \"{ws}\", safety-poll = 10m }}")],
            extraConfig: "poll { min-interval = 30s, max-interval = 30s }");
        var controller = new RawController(_bed.Client(Tenant.B), queue, reply, TestKeys.K1, [TestKeys.K1]);

        await agent.WaitForLogAsync("push: subscribed to " + queue, E2EContext.Wait);
        await Task.Delay(500);
        var ms = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var cmd = await controller.SendAsync(controller.Exec(new ExecArgs { Argv = ["echo", $"ks{i}"] }));
            var final = await controller.FinalAsync(cmd.Id, TimeSpan.FromSeconds(4));
            ms.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Assert.Equal($"ks{i}\n", final.ResultAs<ExecResult>()!.Stdout.Data);
        }
        output.WriteLine($"keystone call round trips with push (ms): {string.Join(", ", ms.Select(m => m.ToString("F0")))}");
    }
}
