using System.Diagnostics;
using System.Text.RegularExpressions;
using GuestAgent.Agent.Tests.E2E;
using GuestAgent.Protocol;
using GuestAgent.Testing;
using Xunit.Abstractions;

namespace GuestAgent.Agent.Tests.Transports.Zaqar;

/// <summary>A bed of its own with Zaqar's WebSocket server, for the push tests (they stop and start it).</summary>
public sealed class PushBedFixture : IDisposable
{
    public ZaqarBed Bed { get; } = ZaqarBed.StartPrivate(webSocket: true);

    public void Dispose() => Bed.Dispose();
}

/// <summary>
/// A real agent whose binding names the bed's WebSocket endpoint: commands are claimed when Zaqar
/// announces them, not when a poll comes round. Polling is set to 30 s here (and the safety net to
/// 10 min), so an answer within a few seconds can only come from push.
/// </summary>
public sealed class PushTests(PushBedFixture fixture, ITestOutputHelper output) : IClassFixture<PushBedFixture>
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(4);
    private const string Subscribed = "push: subscribed to";
    private readonly ZaqarBed _bed = fixture.Bed;

    private E2EContext Agent(string push = "", string poll = "poll { min-interval = 30s, max-interval = 30s }") =>
        new(bed: _bed, extraConfig: poll, tenant: t => t with
        {
            ExtraConfig = $"push {{ websocket = \"{_bed.WebSocketUrl}\", safety-poll = 10m {push} }}",
        });

    [Fact]
    public async Task Calls_are_answered_at_once_while_the_next_poll_is_half_a_minute_away()
    {
        using var e2e = Agent();
        await e2e.Agent.WaitForLogAsync(Subscribed, E2EContext.Wait);
        // The first claims (at start, and draining after subscribing) are done: from now on only a push brings a claim.
        await Task.Delay(500);

        var ms = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Argv = ["echo", $"n{i}"] }));
            var final = await e2e.Controller.FinalAsync(cmd.Id, Prompt);
            ms.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Assert.Equal(ReplyStatus.Succeeded, final.Status);
            Assert.Equal($"n{i}\n", final.ResultAs<ExecResult>()!.Stdout.Data);
        }
        output.WriteLine($"call round trips with push (ms): {string.Join(", ", ms.Select(m => m.ToString("F0")))}");
    }

    [Fact]
    public async Task Commands_posted_before_the_agent_subscribed_are_run_without_waiting_for_a_poll()
    {
        var tenant = E2EContext.NewTenant("t1");
        var early = RawController.For(_bed, tenant);
        var cmd = await early.SendAsync(early.Exec(new ExecArgs { Argv = ["echo", "early"] }));

        using var agent = AgentProcess.Start(_bed, [tenant with
        {
            ExtraConfig = $"push {{ websocket = \"{_bed.WebSocketUrl}\", safety-poll = 10m }}",
        }], extraConfig: "poll { min-interval = 30s, max-interval = 30s }");

        var final = await early.FinalAsync(cmd.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal("early\n", final.ResultAs<ExecResult>()!.Stdout.Data);
    }

    [Fact]
    public async Task Calls_go_on_by_polling_while_the_websocket_server_is_down_and_by_push_after_it_returns()
    {
        // Polling as the other tests have it: calls must go on while push is down.
        using var e2e = Agent(push: ", max-reconnect-delay = 2s", poll: "");
        await e2e.Agent.WaitForLogAsync(Subscribed, E2EContext.Wait);
        var marks = new List<string>();

        async Task CallsAsync(string phase, int count)
        {
            for (var i = 0; i < count; i++)
            {
                var mark = $"{phase}-{i}";
                marks.Add(mark);
                var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
                {
                    Argv = ["/bin/sh", "-c", $"echo {mark} >> {Path.Combine(e2e.Dir, "marks")}"],
                }));
                Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait)).Status);
            }
        }

        await CallsAsync("before", 5);
        _bed.Stop("ws");
        await e2e.Agent.WaitForLogAsync("the binding polls until it is back", E2EContext.Wait);
        await CallsAsync("down", 5);
        _bed.RestartWebSocketServer();
        await e2e.Agent.WaitForLogAsync(Subscribed, E2EContext.Wait, times: 2);
        await CallsAsync("after", 5);

        // Each ran exactly once: none lost while push was down, none claimed twice around the switches.
        Assert.Equal(marks, e2e.MarkLines("marks"));
    }

    [Fact]
    public async Task Websocket_server_that_stops_answering_is_noticed_by_pings_and_calls_go_on_by_polling()
    {
        using var e2e = Agent(push: ", ping-interval = 1s, ping-timeout = 1s, max-reconnect-delay = 2s", poll: "");
        await e2e.Agent.WaitForLogAsync(Subscribed, E2EContext.Wait);
        var pid = File.ReadAllText(Path.Combine(_bed.RunDir, "ws.pid")).Trim();

        // A paused server keeps the connection open and says nothing: only the pings can tell.
        BedScripts.Run("kill", ["-STOP", pid]);
        try
        {
            await e2e.Agent.WaitForLogAsync("the binding polls until it is back", TimeSpan.FromSeconds(15));
            var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Argv = ["echo", "polled"] }));
            Assert.Equal("polled\n", (await e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait)).ResultAs<ExecResult>()!.Stdout.Data);
        }
        finally
        {
            BedScripts.Run("kill", ["-CONT", pid]);
        }
        await e2e.Agent.WaitForLogAsync(Subscribed, E2EContext.Wait, times: 2);
    }

    [Fact]
    public async Task Subscription_deleted_behind_the_agents_back_is_noticed_and_made_again()
    {
        using var e2e = Agent(push: ", renew-interval = 2s, subscription-ttl = 60s");
        await e2e.Agent.WaitForLogAsync(Subscribed, E2EContext.Wait);
        var zaqar = e2e.Controller.Zaqar;
        var ids = await zaqar.ListSubscriptionsAsync(e2e.Tenant.CommandQueue);
        Assert.Single(ids);

        await zaqar.DeleteSubscriptionAsync(e2e.Tenant.CommandQueue, ids[0]);

        await e2e.Agent.WaitForLogAsync("is gone (expired or deleted); subscribing again", E2EContext.Wait);
        await e2e.Agent.WaitForLogAsync("push: subscribed to " + e2e.Tenant.CommandQueue + " again", E2EContext.Wait);
        var again = await zaqar.ListSubscriptionsAsync(e2e.Tenant.CommandQueue);
        Assert.Single(again);
        Assert.NotEqual(ids[0], again[0]);
        await Task.Delay(500);
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Argv = ["true"] }));
        Assert.Equal(ReplyStatus.Succeeded, (await e2e.Controller.FinalAsync(cmd.Id, Prompt)).Status);
    }

    [Fact]
    public async Task Forged_notifications_run_nothing_and_cost_at_most_one_claim_each()
    {
        using var e2e = Agent();
        await e2e.Agent.WaitForLogAsync(Subscribed, E2EContext.Wait);
        var subscriber = await SubscriberUrlAsync(e2e.Tenant.Project, e2e.Tenant.CommandQueue);
        await Task.Delay(500);
        var claimsBefore = Claims(e2e.Tenant.CommandQueue);
        var mark = Path.Combine(e2e.Dir, "forged");
        // What a notification of a real command looks like, body included: the agent must not run it.
        var command = e2e.Controller.Signed(System.Text.Json.Nodes.JsonNode.Parse(e2e.Controller.Exec(new ExecArgs { Argv = ["touch", mark] }).ToJson()));
        var body = new System.Text.Json.Nodes.JsonObject
        {
            ["Message_Type"] = "Notification",
            ["queue_name"] = e2e.Tenant.CommandQueue,
            ["ttl"] = 300,
            ["body"] = command,
        }.ToJsonString();

        const int forged = 30;
        using var http = new HttpClient();
        for (var i = 0; i < forged; i++)
        {
            using var r = await http.PostAsync(subscriber, new StringContent(body));
            Assert.True(r.IsSuccessStatusCode, $"the notification port answered {r.StatusCode}");
        }
        await Task.Delay(TimeSpan.FromSeconds(2));

        Assert.False(File.Exists(mark), "a pushed body ran");
        Assert.Empty(await e2e.Controller.SeenAsync(Guid.Parse(command!["id"]!.GetValue<string>())));
        var claims = Claims(e2e.Tenant.CommandQueue) - claimsBefore;
        output.WriteLine($"{forged} forged notifications cost {claims} claim(s)");
        Assert.InRange(claims, 1, forged);
    }

    /// <summary>Claims Zaqar served on <paramref name="queue"/>, from the bed server's request log.</summary>
    private int Claims(string queue) =>
        Regex.Matches(ReadShared(Path.Combine(_bed.RunDir, "zaqar.log")), $"\"POST /v2/queues/{Regex.Escape(queue)}/claims").Count;

    private static string ReadShared(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(s).ReadToEnd();
    }

    private async Task<string> SubscriberUrlAsync(string project, string queue)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{_bed.Url}/v2/queues/{queue}/subscriptions");
        request.Headers.Add("Client-ID", Guid.NewGuid().ToString());
        request.Headers.Add("X-Project-ID", project);
        using var response = await http.SendAsync(request);
        var json = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return json["subscriptions"]![0]!["subscriber"]!.GetValue<string>();
    }
}
