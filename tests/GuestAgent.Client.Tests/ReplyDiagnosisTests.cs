using System.Collections.Concurrent;
using System.Diagnostics;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Client.Tests;

/// <summary>
/// What the client says about replies it cannot use: hostile messages on its reply queue are each
/// reported and the rest go on, and an unverifiable rejection of a command's signature ends the call
/// at once with a diagnosis instead of a timeout.
/// </summary>
public sealed class ReplyDiagnosisTests : IAsyncLifetime
{
    private static readonly SigningKey Key = new("k1", Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    private readonly ZaqarBed _bed = ZaqarBed.Shared;
    private readonly string _project = ZaqarBed.NewProject("gd");
    private readonly string _commandQueue = ZaqarBed.NewQueue("cmd");
    private readonly string _replyQueue = ZaqarBed.NewQueue("rep");
    private readonly ConcurrentQueue<DroppedMessage> _dropped = new();
    private readonly List<GuestClient> _clients = [];
    private ZaqarClient _controllerZaqar = null!;
    private FakeAgent _agent = null!;

    public Task InitializeAsync()
    {
        _controllerZaqar = _bed.Client(_project);
        _agent = new FakeAgent(_bed.Client(_project), _commandQueue);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var c in _clients)
        {
            await c.DisposeAsync();
        }
    }

    private GuestClient NewClient(bool signs = false)
    {
        var client = new GuestClient(_controllerZaqar, _commandQueue, _replyQueue, new GuestClientOptions
        {
            DefaultCallTimeout = TimeSpan.FromSeconds(30),
            MinPollInterval = TimeSpan.FromMilliseconds(50),
            MaxPollInterval = TimeSpan.FromMilliseconds(300),
            MaxErrorBackoff = TimeSpan.FromSeconds(2),
            SigningKeys = signs ? [Key] : null,
            OnDroppedMessage = _dropped.Enqueue,
        });
        _clients.Add(client);
        return client;
    }

    [Fact]
    public async Task Each_hostile_message_on_the_reply_queue_is_reported_by_id_and_the_call_still_completes()
    {
        var client = NewClient();
        await _controllerZaqar.CreateQueueAsync(_replyQueue);
        var ids = await _bed.PostRawBodiesAsync(_project, _replyQueue,
            """{"x":NaN}""", "[Infinity]", ZaqarBed.Nested(100), "\"just a string\"", "[1,2,3]");
        var served = _agent.ServeAsync(1, c => [_agent.Reply(c, 0, ReplyStatus.Succeeded, FakeAgent.Ping(_agent.Name))]);

        var ping = await client.PingAsync();
        await served;

        Assert.Equal("fake-vm", ping.Agent);
        await WaitUntil(() => _dropped.Count == ids.Count);
        var byId = _dropped.ToDictionary(d => d.MessageId);
        Assert.Equal(ids.Order(), byId.Keys.Order());
        // Bodies Zaqar took but that are not JSON say so, in the Zaqar client's words.
        Assert.Contains("not JSON", byId[ids[0]].Reason);
        Assert.Contains("not JSON", byId[ids[1]].Reason);
        Assert.Contains("depth", byId[ids[2]].Reason, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("not a JSON object", byId[ids[3]].Reason);
        Assert.Contains("not a JSON object", byId[ids[4]].Reason);
        Assert.All(byId.Values, d => Assert.False(d.Unverified));
        Assert.Equal(ids.Count, client.InvalidMessages);
        Assert.DoesNotContain("no body", client.Stats.LastInvalidReason);
        Assert.True(client.Stats.Running);
        await WaitUntil(async () => (await _controllerZaqar.GetQueueStatsAsync(_replyQueue)).Total == 0);
    }

    [Fact]
    public async Task Garbage_naming_a_command_id_is_reported_with_that_id()
    {
        var client = NewClient();
        await _controllerZaqar.CreateQueueAsync(_replyQueue);
        var named = Guid.NewGuid();
        var ids = await _bed.PostRawBodiesAsync(_project, _replyQueue, $$"""{"v":1,"id":"{{named}}","seq":"zero","status":"succeeded"}""");
        var served = _agent.ServeAsync(1, c => [_agent.Reply(c, 0, ReplyStatus.Succeeded, FakeAgent.Ping(_agent.Name))]);

        await client.PingAsync();
        await served;

        await WaitUntil(() => !_dropped.IsEmpty);
        var dropped = Assert.Single(_dropped);
        Assert.Equal(ids[0], dropped.MessageId);
        Assert.Equal(named, dropped.CommandId);
        Assert.StartsWith($"message {ids[0]}: ", dropped.ToString());
    }

    [Theory]
    [InlineData(RejectCodes.BadSignature)]
    [InlineData(RejectCodes.UnknownKey)]
    [InlineData(RejectCodes.Unsigned)]
    public async Task Unsigned_rejection_of_the_signature_ends_the_call_at_once_with_a_diagnosis(string code)
    {
        var client = NewClient(signs: true);
        var watch = Stopwatch.StartNew();
        var call = client.CallAsync(new ExecArgs { Shell = "true" }, new CallOptions { Timeout = TimeSpan.FromSeconds(60) });

        var command = await _agent.NextAsync();
        await _agent.SendAsync(command, _agent.Reply(command, 0, ReplyStatus.Rejected, error: new ReplyError(code, "sig.mac does not match\u001b[2J")));
        var error = await Assert.ThrowsAsync<GuestSigningMismatchException>(() => call);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
        Assert.Equal(command.Id, error.CommandId);
        Assert.Equal(code, error.Code);
        Assert.Equal("k1", error.KeyId);
        Assert.Equal(SignatureStatus.Unsigned, error.SignatureStatus);
        Assert.Contains($"UNSIGNED rejection claiming \"{code}: sig.mac does not match", error.Message);
        Assert.Contains("key id 'k1'", error.Message);
        Assert.Contains("cannot be trusted", error.Message);
        // The agent's words are shown, but not as terminal control sequences.
        Assert.DoesNotContain('\u001b', error.Message);
        Assert.Equal(1, client.Stats.Unverified);
        Assert.Equal(0, client.Stats.Routed);
        // The call reports it; it is not reported a second time as a dropped message.
        Assert.Empty(_dropped);
    }

    [Fact]
    public async Task Unsigned_rejection_of_the_signature_ends_an_acknowledged_cast_at_once()
    {
        var client = NewClient(signs: true);
        var cast = client.CastAsync(new ExecArgs { Shell = "sleep 1" },
            new CastOptions { WaitForAcceptance = true, AcceptanceTimeout = TimeSpan.FromSeconds(60) });

        var command = await _agent.NextAsync();
        await _agent.SendAsync(command, _agent.Reply(command, 0, ReplyStatus.Rejected, error: new ReplyError(RejectCodes.UnknownKey, "no key k1")));
        var error = await Assert.ThrowsAsync<GuestSigningMismatchException>(() => cast).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(RejectCodes.UnknownKey, error.Code);
        Assert.Contains("the binding has no key with id 'k1'", error.Message);
    }

    [Fact]
    public async Task Unsigned_signature_rejection_after_a_verified_reply_is_dropped_as_forged()
    {
        var client = NewClient(signs: true);
        var call = client.CallAsync(new PingArgs(), new CallOptions { Timeout = TimeSpan.FromSeconds(30) });

        var command = await _agent.NextAsync();
        await _agent.SendSignedAsync(command, Key, _agent.Reply(command, 0, ReplyStatus.Accepted));
        await WaitUntil(() => client.Stats.Routed == 1);
        await _agent.SendAsync(command, _agent.Reply(command, 1, ReplyStatus.Rejected, error: new ReplyError(RejectCodes.BadSignature, "forged")));
        await WaitUntil(() => client.Stats.Unverified == 1);
        await _agent.SendSignedAsync(command, Key, _agent.Reply(command, 1, ReplyStatus.Succeeded, FakeAgent.Ping(_agent.Name)));
        var result = await call;

        Assert.True(result.Succeeded);
        var dropped = Assert.Single(_dropped);
        Assert.True(dropped.Unverified);
        Assert.Equal(command.Id, dropped.CommandId);
        Assert.Contains("bad_signature", dropped.Reason);
    }

    [Fact]
    public async Task Unsigned_rejection_for_another_reason_is_not_taken_as_an_answer_and_the_timeout_names_it()
    {
        var client = NewClient(signs: true);
        var call = client.CallAsync(new PingArgs(), new CallOptions { Timeout = TimeSpan.FromSeconds(3) });

        var command = await _agent.NextAsync();
        await _agent.SendAsync(command, _agent.Reply(command, 0, ReplyStatus.Rejected, error: new ReplyError(RejectCodes.Forbidden, "forged")));

        var timeout = await Assert.ThrowsAsync<GuestTimeoutException>(() => call);
        Assert.Equal(0, timeout.RepliesSeen);
        Assert.Equal(1, timeout.UnverifiedReplies);
        Assert.Contains("1 reply(ies) for it did not verify", timeout.Message);
        Assert.Contains("forbidden: forged", timeout.Message);
        Assert.DoesNotContain("Is an agent consuming", timeout.Message);
        var dropped = Assert.Single(_dropped);
        Assert.True(dropped.Unverified);
        Assert.Contains("forbidden", dropped.Reason);
    }

    [Fact]
    public async Task Cast_carries_the_on_interrupt_policy_it_was_given_and_rerun_by_default()
    {
        var client = NewClient();

        await client.CastAsync(new ExecArgs { Shell = "true" }, new CastOptions { OnInterrupt = InterruptPolicy.Fail });
        var fail = await _agent.NextAsync();
        await client.CastAsync(new ExecArgs { Shell = "true" });
        var byDefault = await _agent.NextAsync();

        Assert.Equal(InterruptPolicy.Fail, fail.OnInterrupt);
        Assert.Equal(Command.DefaultInterruptPolicy(CommandMode.Cast), byDefault.OnInterrupt);
        Assert.Equal(InterruptPolicy.Rerun, byDefault.OnInterrupt);
    }

    private static Task WaitUntil(Func<bool> condition) => WaitUntil(() => Task.FromResult(condition()));

    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 15 s");
            await Task.Delay(100);
        }
    }
}
