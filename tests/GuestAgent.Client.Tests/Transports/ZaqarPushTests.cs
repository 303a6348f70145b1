using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using GuestAgent.Client.Transports.Zaqar;
using GuestAgent.Protocol;
using GuestAgent.Testing;
using Xunit.Abstractions;

namespace GuestAgent.Client.Tests.Transports;

/// <summary>A bed of its own with Zaqar's WebSocket server: the push tests stop and start it.</summary>
public sealed class ClientPushBedFixture : IDisposable
{
    public ZaqarBed Bed { get; } = ZaqarBed.StartPrivate(webSocket: true);

    public void Dispose() => Bed.Dispose();
}

/// <summary>
/// A controller whose Zaqar transport names the bed's WebSocket endpoint, against a real agent:
/// replies are read when Zaqar announces them. Where polling is set to half a minute, a reply
/// within seconds can only have come by push.
/// </summary>
public sealed class ZaqarPushTests(ClientPushBedFixture fixture, ITestOutputHelper output) : IClassFixture<ClientPushBedFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan SlowPoll = TimeSpan.FromSeconds(30);
    private readonly ZaqarBed _bed = fixture.Bed;

    [Fact]
    public async Task Replies_come_at_once_though_the_next_poll_is_half_a_minute_away()
    {
        var tenant = NewTenant();
        using var agent = AgentProcess.Start(_bed, [tenant]);
        await using var client = Client(tenant, new GuestClientOptions { MinPollInterval = SlowPoll, MaxPollInterval = SlowPoll });

        var ms = new List<double>();
        for (var i = 0; i < 4; i++)
        {
            var started = Stopwatch.GetTimestamp();
            // The first call also waits for the agent to start; after it, a few seconds is plenty for push and far short of a poll.
            var result = await client.CallAsync(new ExecArgs { Argv = ["echo", $"n{i}"] },
                new CallOptions { Timeout = TimeSpan.FromSeconds(i == 0 ? 20 : 5) });
            ms.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Assert.True(result.Succeeded, result.Final.Error?.Message);
            Assert.Equal($"n{i}\n", result.StdoutText);
        }
        output.WriteLine($"call round trips with push (ms): {string.Join(", ", ms.Select(m => m.ToString("F0")))}");
        Assert.True(client.Stats.PushLive);
        Assert.True(client.Stats.Announcements > 0);
    }

    [Fact]
    public async Task Calls_go_on_by_polling_while_the_websocket_server_is_down_and_by_push_after_it_returns()
    {
        var tenant = NewTenant();
        using var agent = AgentProcess.Start(_bed, [tenant]);
        var pushErrors = new ConcurrentQueue<Exception>();
        await using var client = Client(tenant,
            new GuestClientOptions { MinPollInterval = TimeSpan.FromMilliseconds(100), MaxPollInterval = TimeSpan.FromMilliseconds(500) },
            pushErrors.Enqueue);

        var results = new ConcurrentQueue<(int N, CallResult Result)>();
        using var stopCalls = new CancellationTokenSource();
        var calls = Task.Run(async () =>
        {
            for (var i = 0; !stopCalls.IsCancellationRequested; i++)
            {
                var result = await client.CallAsync(new ExecArgs { Argv = ["echo", $"c{i}"] }, new CallOptions { Timeout = Wait });
                results.Enqueue((i, result));
            }
        });

        async Task CallsDone(int atLeast, string what)
        {
            var deadline = DateTime.UtcNow + Wait;
            while (results.Count < atLeast)
            {
                Assert.False(calls.IsFaulted, $"a call failed: {calls.Exception}");
                Assert.True(DateTime.UtcNow < deadline, $"only {results.Count} calls done {what}");
                await Task.Delay(50);
            }
        }

        await WaitForAsync(() => client.Stats.PushLive, "push to come up");
        await CallsDone(3, "with push");

        _bed.Stop("ws");
        await WaitForAsync(() => !client.Stats.PushLive, "push to go down after the WebSocket server stopped");
        var whileDown = results.Count;
        await CallsDone(whileDown + 3, "while the WebSocket server is down");

        _bed.RestartWebSocketServer();
        await WaitForAsync(() => client.Stats.PushLive, "push to come back");
        var announced = client.Stats.Announcements;
        var whenBack = results.Count;
        await CallsDone(whenBack + 3, "after the WebSocket server returned");
        await stopCalls.CancelAsync();
        await calls;

        output.WriteLine($"{results.Count} calls; push down from call {whileDown}, back from {whenBack}; " +
                         $"announcements {client.Stats.Announcements}; push errors: {string.Join(" | ", pushErrors.Select(e => e.Message))}");
        var all = results.OrderBy(r => r.N).ToList();
        Assert.Equal(Enumerable.Range(0, all.Count), all.Select(r => r.N));
        foreach (var (n, result) in all)
        {
            Assert.True(result.Succeeded, result.Final.Error?.Message);
            Assert.Equal($"c{n}\n", result.StdoutText);
        }
        // The replies after the return were announced: push brought them again.
        Assert.True(client.Stats.Announcements > announced);
        Assert.NotEmpty(pushErrors);
        var stats = client.Stats;
        Assert.Equal(0, stats.Duplicates);
        Assert.Equal(0, stats.Unknown);
        Assert.Equal(0, stats.Invalid);
        Assert.Equal(0, stats.Unverified);
    }

    [Fact]
    public async Task Start_listening_returns_once_push_is_live_so_the_first_call_is_answered_by_push()
    {
        var tenant = NewTenant();
        using var agent = AgentProcess.Start(_bed, [tenant]);
        await agent.WaitForLogAsync("ready: claiming commands", Wait);
        await using var client = Client(tenant, new GuestClientOptions { MinPollInterval = SlowPoll, MaxPollInterval = SlowPoll });

        Assert.True(await client.StartListeningAsync(TimeSpan.FromSeconds(10)), "push did not come up within 10 s");
        Assert.True(client.Stats.PushLive);
        // Replies are polled only every half minute: a first call answered within seconds came by push.
        var result = await client.CallAsync(new ExecArgs { Argv = ["echo", "first"] }, new CallOptions { Timeout = TimeSpan.FromSeconds(10) });
        Assert.True(result.Succeeded, result.Final.Error?.Message);
        Assert.Equal("first\n", result.StdoutText);

        // Without a WebSocket endpoint there is nothing to wait for: false at once, and calls are polled.
        await using var polling = new GuestClient(new ZaqarTransport(_bed.Client(tenant.Project)), tenant.CommandQueue, tenant.ReplyQueue,
            new GuestClientOptions { SigningKeys = [TestKeys.K1] });
        var started = Stopwatch.GetTimestamp();
        Assert.False(await polling.StartListeningAsync(TimeSpan.FromSeconds(10)));
        Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(5), $"took {Stopwatch.GetElapsedTime(started)}");
    }

    [Fact]
    public async Task Guestctl_with_websocket_runs_exec_and_prints_the_output()
    {
        var tenant = NewTenant();
        using var agent = AgentProcess.Start(_bed, [tenant]);
        var home = Directory.CreateTempSubdirectory("guestctl-push-").FullName;
        try
        {
            var env = new Dictionary<string, string>
            {
                ["ZAQAR_URL"] = _bed.Url,
                ["ZAQAR_PROJECT"] = tenant.Project,
                ["GUESTAGENT_QUEUE"] = tenant.CommandQueue,
                ["GUESTAGENT_SIGNING_KEYS"] = $"{TestKeys.K1.Id}={Convert.ToBase64String(TestKeys.K1.Secret)}",
                ["HOME"] = home,
            };
            var (code, stdout, stderr) = await Guestctl.RunAsync(
                ["exec", "--websocket", _bed.WebSocketUrl!, "--reply-queue", tenant.ReplyQueue, "--wait", "30", "--", "echo", "pushed"], env);
            Assert.True(code == 0, $"exit {code}: {stderr}");
            Assert.Equal("pushed\n", stdout);
            Assert.DoesNotContain("warning", stderr);

            // From the environment, naming a port nobody listens on: a warning, and the reply comes by polling.
            env["ZAQAR_WS_URL"] = $"ws://127.0.0.1:{ClosedPort()}";
            (code, stdout, stderr) = await Guestctl.RunAsync(
                ["exec", "--reply-queue", tenant.ReplyQueue, "--wait", "30", "--", "echo", "polled"], env);
            Assert.True(code == 0, $"exit {code}: {stderr}");
            Assert.Equal("polled\n", stdout);
        }
        finally
        {
            Directory.Delete(home, true);
        }
    }

    [Fact]
    public async Task With_many_calls_waiting_the_reply_subscription_is_dropped_and_made_again_once_they_are_answered()
    {
        var tenant = NewTenant();
        using var agent = AgentProcess.Start(_bed, [tenant]);
        var zaqar = _bed.Client(tenant.Project);
        await using var client = Client(tenant, new GuestClientOptions { PushPauseCalls = 4 });
        Assert.True((await client.CallAsync(new ExecArgs { Argv = ["true"] }, new CallOptions { Timeout = Wait })).Succeeded);
        Assert.True(client.Stats.PushLive);
        Assert.Single(await zaqar.ListSubscriptionsAsync(tenant.ReplyQueue));

        // Six calls waiting at once (at least PushPauseCalls): replies are polled for, and Zaqar has no subscription to notify.
        var calls = Enumerable.Range(0, 6)
            .Select(i => client.CallAsync(new ExecArgs { Shell = $"sleep 3; echo n{i}" }, new CallOptions { Timeout = Wait }))
            .ToList();
        var dropped = false;
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2.5); DateTime.UtcNow < deadline && !dropped; await Task.Delay(100))
        {
            dropped = !client.Stats.PushLive && (await zaqar.ListSubscriptionsAsync(tenant.ReplyQueue)).Count == 0;
        }
        Assert.True(dropped, "the reply queue's subscription was still there with six calls waiting");
        var results = await Task.WhenAll(calls);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Final.Error?.Message));
        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"n{i}\n"), results.Select(r => r.StdoutText));

        // Answered, they no longer wait: subscribed again, and the next reply comes by push.
        await WaitForAsync(() => client.Stats.PushLive, "push to come back");
        Assert.Single(await zaqar.ListSubscriptionsAsync(tenant.ReplyQueue));
        var announced = client.Stats.Announcements;
        Assert.True((await client.CallAsync(new ExecArgs { Argv = ["true"] }, new CallOptions { Timeout = Wait })).Succeeded);
        Assert.True(client.Stats.Announcements > announced);
    }

    private static TestTenant NewTenant() =>
        new("t1", ZaqarBed.NewProject(), ZaqarBed.NewQueue("cmd"), ZaqarBed.NewQueue("rep"));

    private GuestClient Client(TestTenant tenant, GuestClientOptions options, Action<Exception>? onPushError = null) =>
        new(new ZaqarTransport(_bed.Client(tenant.Project), new ZaqarTransportOptions
            {
                WebSocketUrl = new Uri(_bed.WebSocketUrl!),
                // Only push or polling may explain a reply here, never the safety net.
                PushSafetyPoll = TimeSpan.FromMinutes(10),
                PushMaxReconnectDelay = TimeSpan.FromSeconds(2),
                OnPushError = onPushError,
            }),
            tenant.CommandQueue, tenant.ReplyQueue, options with { SigningKeys = [TestKeys.K1] });

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>A loopback port that was free a moment ago: connecting to it is refused.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
