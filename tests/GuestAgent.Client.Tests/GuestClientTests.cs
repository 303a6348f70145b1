using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using GuestAgent.Client.Transports.Zaqar;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Client.Tests;

public sealed class GuestClientTests : IAsyncLifetime
{
    private static readonly GuestClientOptions FastOptions = new()
    {
        DefaultCallTimeout = TimeSpan.FromSeconds(30),
        MinPollInterval = TimeSpan.FromMilliseconds(50),
        MaxPollInterval = TimeSpan.FromMilliseconds(300),
        MaxErrorBackoff = TimeSpan.FromSeconds(2),
    };

    private readonly ZaqarBed _bed = ZaqarBed.Shared;
    private readonly string _project = ZaqarBed.NewProject("gc");
    private readonly string _commandQueue = ZaqarBed.NewQueue("cmd");
    private readonly string _replyQueue = ZaqarBed.NewQueue("rep");
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

    private GuestClient NewClient(string? replyQueue = null, GuestClientOptions? options = null)
    {
        var client = new GuestClient(_controllerZaqar, _commandQueue, replyQueue ?? _replyQueue, options ?? FastOptions);
        _clients.Add(client);
        return client;
    }

    private static ExecResult ExecResultFor(byte[] stdout, int stdoutInline, int stdoutChunks, byte[] stderr, int exitCode = 0) =>
        new(Attempt: 1, DurationMs: 12,
            Stdout: StreamOutput.From(stdout, stdoutInline, stdoutChunks),
            Stderr: StreamOutput.From(stderr, stderr.Length, 0),
            ExitCode: exitCode);

    [Fact]
    public async Task Call_round_trip_returns_the_final_reply_and_its_typed_result()
    {
        var client = NewClient();
        var served = _agent.ServeAsync(1, c =>
        [
            _agent.Reply(c, 0, ReplyStatus.Accepted),
            _agent.Reply(c, 1, ReplyStatus.Succeeded, FakeAgent.Ping(_agent.Name)),
        ]);

        var result = await client.CallAsync(new PingArgs());
        await served;

        Assert.True(result.Succeeded);
        Assert.Equal(Ops.Ping, result.Op);
        Assert.Equal([0L, 1L], result.Replies.Select(r => r.Seq));
        Assert.Equal(ReplyStatus.Accepted, result.Replies[0].Status);
        Assert.All(result.Replies, r => Assert.Equal(result.CommandId, r.Id));
        var ping = result.ResultAs<PingResult>();
        Assert.NotNull(ping);
        Assert.Equal("fake-vm", ping.Agent);
        Assert.Contains("exec", ping.Capabilities);
        Assert.Equal(2, client.Stats.Routed);
    }

    [Fact]
    public async Task Command_on_the_wire_is_a_call_with_reply_to_expiry_and_message_ttl()
    {
        var client = NewClient();
        var id = Guid.NewGuid();
        var call = client.CallAsync(new ExecArgs { Argv = ["/bin/true"], TimeoutSeconds = 5 },
            new CallOptions { CommandId = id, TimeToLive = TimeSpan.FromMinutes(5), Timeout = TimeSpan.FromSeconds(30) });

        var command = await _agent.NextAsync();
        await _agent.SendAsync(command, _agent.Reply(command, 0, ReplyStatus.Succeeded, ExecResultFor([], 0, 0, [])));
        var result = await call;

        Assert.Equal(id, command.Id);
        Assert.Equal(CommandMode.Call, command.Mode);
        Assert.Equal(_replyQueue, command.ReplyTo);
        Assert.Equal(InterruptPolicy.Fail, command.OnInterrupt);
        Assert.NotNull(command.ExpiresAt);
        Assert.InRange((command.ExpiresAt!.Value - command.IssuedAt).TotalSeconds, 299, 301);
        Assert.Equal(["/bin/true"], ((ExecArgs)command.Args).Argv!);
        Assert.Equal(0, result.ExitCode);
        Assert.Empty(result.Stdout);
        Assert.Equal("", result.StdoutText);
    }

    [Fact]
    public async Task Replies_out_of_order_and_duplicated_give_one_correct_result()
    {
        var client = NewClient();
        var stdout = Encoding.UTF8.GetBytes("hello world\n");
        var call = client.CallAsync(new ExecArgs { Shell = "echo hello world" });

        var c = await _agent.NextAsync();
        var accepted = _agent.Reply(c, 0, ReplyStatus.Accepted);
        var progress = _agent.Reply(c, 1, ReplyStatus.Progress);
        var final = _agent.Reply(c, 2, ReplyStatus.Succeeded, ExecResultFor(stdout, stdout.Length, 0, [], exitCode: 0));
        // The final reply first, everything twice, accepted last.
        await _agent.SendAsync(c, final, final, progress, accepted, progress, accepted);
        var result = await call;

        Assert.True(result.Succeeded);
        Assert.Equal([0L, 1L, 2L], result.Replies.Select(r => r.Seq));
        Assert.Equal([ReplyStatus.Accepted, ReplyStatus.Progress, ReplyStatus.Succeeded], result.Replies.Select(r => r.Status));
        Assert.Equal("hello world\n", result.StdoutText);
        Assert.Equal(0, result.ExitCode);

        // The duplicates that arrived with or after the last needed reply are deleted too.
        await WaitUntil(() => client.Stats.Duplicates + client.Stats.Late >= 3);
        Assert.Equal(0, client.Stats.Unknown);
        await WaitUntil(async () => (await _controllerZaqar.GetQueueStatsAsync(_replyQueue)).Total == 0);
    }

    [Fact]
    public async Task Exec_output_in_chunk_replies_is_reassembled_exactly()
    {
        var client = NewClient();
        var stdout = RandomNumberGenerator.GetBytes(500_000);
        var stderr = Encoding.UTF8.GetBytes("warning: ünïcode\n");
        const int inline = 1000;
        var chunks = Chunker.Split(stdout, ProtocolLimits.MaxChunkDataBytes(), ChunkStreams.Stdout, firstOffset: inline);
        Assert.Equal(3, chunks.Count);
        var call = client.CallAsync(new ExecArgs { Argv = ["/usr/bin/head", "-c", "500000", "/dev/urandom"] });

        var c = await _agent.NextAsync();
        var replies = new List<Reply> { _agent.Reply(c, 0, ReplyStatus.Accepted) };
        replies.AddRange(chunks.Select((ch, i) => _agent.Reply(c, 1 + i, ReplyStatus.Progress, chunk: ch)));
        replies.Add(_agent.Reply(c, 1 + chunks.Count, ReplyStatus.Failed, ExecResultFor(stdout, inline, chunks.Count, stderr, exitCode: 3)));
        // Chunks in reverse order, after the final reply.
        await _agent.SendAsync(c, [replies[0], replies[^1], .. replies.Skip(1).SkipLast(1).Reverse()]);
        var result = await call;

        Assert.Equal(ReplyStatus.Failed, result.Status);
        Assert.False(result.Succeeded);
        Assert.Equal(3, result.ExitCode);
        Assert.Equal(stdout, result.Stdout);
        Assert.False(result.StdoutTruncated);
        Assert.Equal(stderr, result.Stderr);
        Assert.Equal("warning: ünïcode\n", result.StderrText);
        Assert.Equal(5, result.Replies.Count);
    }

    [Fact]
    public async Task Corrupted_chunk_is_an_error_not_truncated_output()
    {
        var client = NewClient();
        var stdout = RandomNumberGenerator.GetBytes(90_000);
        var chunks = Chunker.Split(stdout, 30_000, ChunkStreams.Stdout, firstOffset: 100).ToList();
        var bad = chunks[1].Data.ToArray();
        bad[17] ^= 0xFF;
        chunks[1] = chunks[1] with { Data = bad };
        var call = client.CallAsync(new ExecArgs { Shell = "cat big" });

        var c = await _agent.NextAsync();
        await _agent.SendAsync(c,
        [
            .. chunks.Select((ch, i) => _agent.Reply(c, i, ReplyStatus.Progress, chunk: ch)),
            _agent.Reply(c, chunks.Count, ReplyStatus.Succeeded, ExecResultFor(stdout, 100, chunks.Count, [])),
        ]);
        var error = await Assert.ThrowsAsync<GuestOutputException>(() => call);

        Assert.Equal(ChunkStreams.Stdout, error.Stream);
        Assert.Equal(ChunkErrorKind.HashMismatch, error.Error.Kind);
        Assert.Equal(c.Id, error.CommandId);
        Assert.Contains(c.Id.ToString(), error.Message);
        Assert.Equal(ReplyStatus.Succeeded, error.Final.Status);
    }

    [Fact]
    public async Task Missing_chunk_reply_is_an_error_naming_the_missing_seq()
    {
        var client = NewClient(options: FastOptions with { MissingReplyGrace = TimeSpan.FromSeconds(1) });
        var stdout = RandomNumberGenerator.GetBytes(60_000);
        var chunks = Chunker.Split(stdout, 30_000, ChunkStreams.Stdout);
        var call = client.CallAsync(new ExecArgs { Shell = "cat big" }, new CallOptions { Timeout = TimeSpan.FromSeconds(20) });

        var c = await _agent.NextAsync();
        await _agent.SendAsync(c,
            _agent.Reply(c, 0, ReplyStatus.Accepted),
            _agent.Reply(c, 1, ReplyStatus.Progress, chunk: chunks[0]),
            // seq 2 (chunk 1) never comes
            _agent.Reply(c, 3, ReplyStatus.Succeeded, ExecResultFor(stdout, 0, 2, [])));
        var error = await Assert.ThrowsAsync<GuestTimeoutException>(() => call);

        Assert.Equal([2L], error.MissingSeqs);
        Assert.NotNull(error.Final);
        Assert.Contains("seq 2", error.Message);
        Assert.True(error.Waited < TimeSpan.FromSeconds(15), $"waited {error.Waited}");
    }

    [Fact]
    public async Task Call_timeout_names_command_op_queue_wait_and_that_nothing_was_accepted()
    {
        var client = NewClient();

        var error = await Assert.ThrowsAsync<GuestTimeoutException>(() =>
            client.CallAsync(new PingArgs(), new CallOptions { Timeout = TimeSpan.FromSeconds(1.5) }));

        Assert.NotNull(error.CommandId);
        Assert.Contains(error.CommandId.Value.ToString(), error.Message);
        Assert.Contains("ping", error.Message);
        Assert.Contains(_commandQueue, error.Message);
        Assert.Contains(_replyQueue, error.Message);
        // The time actually waited: 1.5 s, or a little more when the machine is busy.
        Assert.Contains($"{error.Waited.TotalSeconds:0.#} s", error.Message);
        Assert.Contains("no 'accepted' reply", error.Message);
        Assert.False(error.AcceptedSeen);
        Assert.Equal(Ops.Ping, error.Op);
        Assert.InRange(error.Waited.TotalSeconds, 1.4, 10);
        // The command is still there for an agent that comes later.
        Assert.Equal(error.CommandId, (await _agent.NextAsync()).Id);
    }

    [Fact]
    public async Task Call_timeout_after_acceptance_says_the_agent_has_the_command()
    {
        var client = NewClient();
        var call = client.CallAsync(new ExecArgs { Argv = ["/bin/sleep", "100"] }, new CallOptions { Timeout = TimeSpan.FromSeconds(3) });

        var c = await _agent.NextAsync();
        await _agent.SendAsync(c, _agent.Reply(c, 0, ReplyStatus.Accepted));
        var error = await Assert.ThrowsAsync<GuestTimeoutException>(() => call);

        Assert.True(error.AcceptedSeen);
        Assert.Contains("'accepted' reply was seen", error.Message);
        Assert.Contains("exec", error.Message);
        Assert.Equal(1, error.RepliesSeen);
    }

    [Fact]
    public async Task Rejected_call_is_returned_not_thrown()
    {
        var client = NewClient();
        var served = _agent.ServeAsync(1, c =>
            [_agent.Reply(c, 0, ReplyStatus.Rejected, error: new ReplyError(RejectCodes.InvalidValue, "args.cwd: nope"))]);

        var result = await client.CallAsync(new ExecArgs { Argv = ["/bin/true"], Cwd = "/nope" });
        await served;

        Assert.True(result.Rejected);
        Assert.False(result.Succeeded);
        Assert.Equal(ReplyStatus.Rejected, result.Status);
        Assert.Equal(RejectCodes.InvalidValue, result.Error!.Code);
        Assert.Null(result.ExitCode);
        Assert.Empty(result.Stdout);
        var thrown = Assert.Throws<GuestRejectedException>(() => result.EnsureSucceeded());
        Assert.Equal(RejectCodes.InvalidValue, thrown.Code);
    }

    [Fact]
    public async Task Cast_without_acknowledgement_posts_and_returns_the_id()
    {
        var client = NewClient();

        var id = await client.CastAsync(new ExecArgs { Argv = ["/bin/true"] });
        var c = await _agent.NextAsync();

        Assert.Equal(id, c.Id);
        Assert.Equal(CommandMode.Cast, c.Mode);
        Assert.Null(c.ReplyTo);
        Assert.Equal(InterruptPolicy.Rerun, c.OnInterrupt);
    }

    [Fact]
    public async Task Cast_with_acknowledgement_waits_for_accepted()
    {
        var client = NewClient();
        var cast = client.CastAsync(new ExecArgs { Argv = ["/bin/sleep", "5"] }, new CastOptions { WaitForAcceptance = true });

        var c = await _agent.NextAsync();
        await Task.Delay(500);
        Assert.False(cast.IsCompleted);
        await _agent.SendAsync(c, _agent.Reply(c, 0, ReplyStatus.Accepted));
        var id = await cast;

        Assert.Equal(c.Id, id);
        Assert.Equal(CommandMode.Cast, c.Mode);
        Assert.Equal(_replyQueue, c.ReplyTo);

        // The cast's later replies are nobody's business now: deleted as late, not unknown.
        await _agent.SendAsync(c, _agent.Reply(c, 1, ReplyStatus.Succeeded, ExecResultFor([], 0, 0, [])));
        await WaitUntil(() => client.Stats.Late == 1);
        Assert.Equal(0, client.UnknownReplies);
    }

    [Fact]
    public async Task Rejected_cast_throws_with_code_and_message()
    {
        var client = NewClient();
        var served = _agent.ServeAsync(1, c =>
            [_agent.Reply(c, 0, ReplyStatus.Rejected, error: new ReplyError(RejectCodes.UnknownOp, "op 'exec' is disabled here"))]);

        var error = await Assert.ThrowsAsync<GuestRejectedException>(() =>
            client.CastAsync(new ExecArgs { Argv = ["/bin/true"] }, new CastOptions { WaitForAcceptance = true }));
        await served;

        Assert.Equal(RejectCodes.UnknownOp, error.Code);
        Assert.Equal("op 'exec' is disabled here", error.ErrorMessage);
        Assert.Contains("unknown_op", error.Message);
        Assert.Contains("fake-vm", error.Message);
    }

    [Fact]
    public async Task Unacknowledged_cast_times_out_with_a_clear_error()
    {
        var client = NewClient();

        var error = await Assert.ThrowsAsync<GuestTimeoutException>(() => client.CastAsync(new PingArgs(),
            new CastOptions { WaitForAcceptance = true, AcceptanceTimeout = TimeSpan.FromSeconds(1) }));

        Assert.False(error.AcceptedSeen);
        Assert.Contains(_commandQueue, error.Message);
    }

    [Fact]
    public async Task Status_cancel_and_ping_return_typed_results()
    {
        var client = NewClient();
        var target = Guid.NewGuid();
        var served = _agent.ServeAsync(3, c => c.Args switch
        {
            StatusArgs s => [_agent.Reply(c, 0, ReplyStatus.Succeeded, new StatusResult(s.CommandId, CommandState.Replied, 1, ReplyStatus.TimedOut))],
            CancelArgs x => [_agent.Reply(c, 0, ReplyStatus.Succeeded, new StatusResult(x.CommandId, CommandState.Started, 1))],
            _ => [_agent.Reply(c, 0, ReplyStatus.Succeeded, FakeAgent.Ping(_agent.Name))],
        });

        var status = await client.StatusAsync(target);
        var cancel = await client.CancelAsync(target);
        var ping = await client.PingAsync();
        await served;

        Assert.Equal(new StatusResult(target, CommandState.Replied, 1, ReplyStatus.TimedOut), status);
        Assert.Equal(ReplyStatus.Succeeded, cancel.Status);
        Assert.Equal(CommandState.Started, cancel.ResultAs<StatusResult>()!.State);
        Assert.Equal("vm1.example", ping.Hostname);
    }

    [Fact]
    public async Task Status_that_is_rejected_throws()
    {
        var client = NewClient();
        var served = _agent.ServeAsync(1, c => [_agent.Reply(c, 0, ReplyStatus.Rejected, error: new ReplyError(RejectCodes.UnknownOp, "no status here"))]);

        var error = await Assert.ThrowsAsync<GuestRejectedException>(() => client.StatusAsync(Guid.NewGuid()));
        await served;

        Assert.Equal(Ops.Status, error.Op);
    }

    [Fact]
    public async Task Unknown_replies_and_garbage_are_deleted_and_counted_and_the_listener_carries_on()
    {
        var client = NewClient();
        await _controllerZaqar.CreateQueueAsync(_replyQueue);
        var stranger = new Reply(Guid.NewGuid(), 0, ReplyStatus.Succeeded, "old-vm", DateTimeOffset.UtcNow);
        await _controllerZaqar.PostAsync(_replyQueue,
        [
            new OutgoingMessage(JsonNode.Parse(stranger.ToUtf8Bytes())),
            new OutgoingMessage(JsonValue.Create("just a string")),
            new OutgoingMessage(JsonNode.Parse("""{"v":1,"id":"x","seq":0,"status":"succeeded"}""")),
            new OutgoingMessage(JsonNode.Parse("""{"v":2,"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","seq":0,"status":"succeeded"}""")),
            new OutgoingMessage(JsonNode.Parse("""[1,2,3]""")),
            new OutgoingMessage(null),
        ]);
        var served = _agent.ServeAsync(1, c => [_agent.Reply(c, 0, ReplyStatus.Succeeded, FakeAgent.Ping(_agent.Name))]);

        var ping = await client.PingAsync();
        await served;

        Assert.Equal("fake-vm", ping.Agent);
        await WaitUntil(() => client.UnknownReplies == 1 && client.InvalidMessages == 5);
        Assert.NotNull(client.Stats.LastInvalidReason);
        Assert.True(client.Stats.Running);
        await WaitUntil(async () => (await _controllerZaqar.GetQueueStatsAsync(_replyQueue)).Total == 0);

        // More garbage later does not stop it either.
        await _controllerZaqar.PostAsync(_replyQueue, new OutgoingMessage(JsonNode.Parse("""{"hello":"world"}""")));
        var second = _agent.ServeAsync(1, c => [_agent.Reply(c, 0, ReplyStatus.Succeeded, FakeAgent.Ping("again"))]);
        Assert.Equal("again", (await client.PingAsync()).Agent);
        await second;
        await WaitUntil(() => client.InvalidMessages == 6);
    }

    [Fact]
    public async Task Young_foreign_replies_are_left_for_their_owner_when_sharing_a_reply_queue()
    {
        var client = NewClient(options: FastOptions with { ForeignReplyGrace = TimeSpan.FromMinutes(5) });
        await _controllerZaqar.CreateQueueAsync(_replyQueue);
        var foreign = new Reply(Guid.NewGuid(), 0, ReplyStatus.Succeeded, "vm", DateTimeOffset.UtcNow);
        await _controllerZaqar.PostAsync(_replyQueue, new OutgoingMessage(JsonNode.Parse(foreign.ToUtf8Bytes())));
        var served = _agent.ServeAsync(1, c => [_agent.Reply(c, 0, ReplyStatus.Succeeded, FakeAgent.Ping(_agent.Name))]);

        await client.PingAsync();
        await served;

        await WaitUntil(() => client.Stats.Deferred >= 1);
        Assert.Equal(0, client.UnknownReplies);
        // The ping's reply is deleted, the foreign one stays.
        await WaitUntil(async () => (await _controllerZaqar.GetQueueStatsAsync(_replyQueue)).Total == 1);
        await Task.Delay(500);
        Assert.Equal(1, (await _controllerZaqar.GetQueueStatsAsync(_replyQueue)).Total);
    }

    [Fact]
    public async Task Two_clients_on_different_reply_queues_do_not_steal_each_others_replies()
    {
        var replyA = ZaqarBed.NewQueue("repa");
        var replyB = ZaqarBed.NewQueue("repb");
        var a = NewClient(replyA);
        var b = NewClient(replyB);
        var served = _agent.ServeAsync(6, c =>
            [_agent.Reply(c, 0, ReplyStatus.Accepted), _agent.Reply(c, 1, ReplyStatus.Succeeded, FakeAgent.Ping(c.ReplyTo!))]);

        var calls = Enumerable.Range(0, 3).SelectMany(_ => new[] { (a, replyA), (b, replyB) })
            .Select(async x => (x.Item2, await x.Item1.PingAsync()))
            .ToList();
        var results = await Task.WhenAll(calls);
        await served;

        Assert.All(results, r => Assert.Equal(r.Item1, r.Item2.Agent));
        Assert.Equal(0, a.UnknownReplies);
        Assert.Equal(0, b.UnknownReplies);
        Assert.Equal(6, a.Stats.Routed);
        Assert.Equal(6, b.Stats.Routed);
    }

    [Fact]
    public async Task Disposing_stops_the_listener_and_fails_waiting_calls()
    {
        var client = new GuestClient(_controllerZaqar, _commandQueue, _replyQueue, FastOptions);
        var call = client.CallAsync(new PingArgs());
        await _agent.NextAsync();
        Assert.True(client.Stats.Running);

        await client.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => call);
        Assert.False(client.Stats.Running);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.CallAsync(new PingArgs()));
    }

    [Fact]
    public async Task Posting_fails_to_the_caller_when_zaqar_is_unreachable()
    {
        await using var client = new GuestClient(Unreachable(), _commandQueue, _replyQueue, FastOptions);

        // Creating the reply queue fails before anything is posted, and the caller hears of it.
        await Assert.ThrowsAsync<ZaqarException>(() => client.CallAsync(new PingArgs()));
    }

    [Fact]
    public async Task Listener_backs_off_on_transient_errors_and_keeps_running()
    {
        var errors = 0;
        var options = FastOptions with { OnListenerError = _ => Interlocked.Increment(ref errors) };
        var listener = new ReplyListener(new ZaqarTransport(Unreachable()), _replyQueue, options, _ => Task.CompletedTask);
        var waiter = listener.Register(Guid.NewGuid(), Ops.Ping);
        listener.EnsureStarted();

        await WaitUntil(() => Volatile.Read(ref errors) >= 3);
        var stats = listener.Stats;
        Assert.True(stats.Running);
        Assert.IsType<ZaqarException>(stats.LastError);
        // Transient: the waiter keeps waiting (its own timeout decides).
        Assert.False(waiter.Completed.Task.IsCompleted);
        // Backing off: nowhere near one attempt per poll interval.
        await Task.Delay(1000);
        Assert.InRange(listener.Stats.Errors - stats.Errors, 0, 6);

        await listener.DisposeAsync();
        Assert.False(listener.Stats.Running);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiter.Completed.Task);
    }

    [Fact]
    public async Task Listener_fails_waiters_on_a_permanent_error_and_keeps_running()
    {
        var listener = new ReplyListener(new ZaqarTransport(_controllerZaqar), _replyQueue, FastOptions,
            _ => throw new ZaqarException("PUT", "/v2/queues/x", 403, "Forbidden", "not yours"));
        var waiter = listener.Register(Guid.NewGuid(), Ops.Ping);
        listener.EnsureStarted();

        var error = await Assert.ThrowsAsync<GuestClientException>(() => waiter.Completed.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(_replyQueue, error.Message);
        Assert.Contains("403", error.Message);
        Assert.True(listener.Stats.Running);
        await listener.DisposeAsync();
    }

    private ZaqarClient Unreachable() => new(new ZaqarClientOptions
    {
        Endpoint = "http://127.0.0.1:9",
        ClientId = Guid.NewGuid(),
        Auth = new ZaqarAuth.None(_project),
        MaxAttempts = 1,
    });

    [Fact]
    public void Constructor_refuses_bad_queue_names_and_options()
    {
        Assert.Throws<ArgumentException>(() => new GuestClient(_controllerZaqar, "cmd", "bad.name"));
        Assert.Throws<ArgumentException>(() => new GuestClient(_controllerZaqar, "same", "same"));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new GuestClient(_controllerZaqar, "cmd", "rep", new GuestClientOptions { ReplyClaimLimit = 21 }));
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
