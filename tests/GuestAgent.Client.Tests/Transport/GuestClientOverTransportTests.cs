using System.Security.Cryptography;
using System.Text.Json;
using GuestAgent.Client.Files;
using GuestAgent.Client.Transport;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Client.Tests.Transport;

/// <summary>
/// The client over a transport that is not Zaqar (channels in memory): calls, chunk reassembly,
/// deduplication and the listener's handling of transport failures work through the seam alone.
/// </summary>
public sealed class GuestClientOverTransportTests : IAsyncLifetime
{
    private const string CommandChannel = "guest-commands";
    private const string ReplyChannel = "controller-replies";

    private static readonly GuestClientOptions FastOptions = new()
    {
        DefaultCallTimeout = TimeSpan.FromSeconds(10),
        MinPollInterval = TimeSpan.FromMilliseconds(10),
        MaxPollInterval = TimeSpan.FromMilliseconds(100),
        MaxErrorBackoff = TimeSpan.FromMilliseconds(200),
    };

    private readonly InMemoryTransport _transport = new();
    private GuestClient _client = null!;

    public Task InitializeAsync()
    {
        _client = new GuestClient(_transport, CommandChannel, ReplyChannel, FastOptions);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _client.DisposeAsync();

    [Fact]
    public async Task Ping_and_exec_with_chunked_output_round_trip_over_the_transport()
    {
        var ping = _client.PingAsync();
        var pingCommand = await NextCommandAsync();
        Answer(pingCommand, Plain(pingCommand, 0, ReplyStatus.Accepted),
            Reply.WithResult(pingCommand.Id, 1, ReplyStatus.Succeeded, "mem-vm", DateTimeOffset.UtcNow, FakeAgent.Ping("mem-vm")));
        Assert.Equal("mem-vm", (await ping).Agent);

        var stdout = RandomNumberGenerator.GetBytes(200_000);
        const int inline = 500;
        var chunks = Chunker.Split(stdout, 60_000, ChunkStreams.Stdout, firstOffset: inline);
        var exec = _client.CallAsync(new ExecArgs { Shell = "cat big" });
        var c = await NextCommandAsync();
        Assert.Equal(CommandMode.Call, c.Mode);
        Assert.Equal(ReplyChannel, c.ReplyTo);
        var final = Reply.WithResult(c.Id, 1 + chunks.Count, ReplyStatus.Succeeded, "mem-vm", DateTimeOffset.UtcNow,
            new ExecResult(Attempt: 1, DurationMs: 5, Stdout: StreamOutput.From(stdout, inline, chunks.Count),
                Stderr: StreamOutput.From([], 0, 0), ExitCode: 0));
        // The final reply first and twice, the chunks after it in reverse: the client reorders and deduplicates.
        Answer(c, [final, final, .. chunks.Select((ch, i) => Plain(c, 1 + i, ReplyStatus.Progress, ch)).Reverse(), Plain(c, 0, ReplyStatus.Accepted)]);
        var result = await exec;

        Assert.True(result.Succeeded);
        Assert.Equal(stdout, result.Stdout);
        Assert.Equal(Enumerable.Range(0, chunks.Count + 2).Select(i => (long)i), result.Replies.Select(r => r.Seq));
        // Every reply message is acknowledged, the duplicate too.
        await WaitUntil(() => _transport.Count(ReplyChannel) == 0);
        Assert.Equal(chunks.Count + 2 + 2 + 1, _transport.Acknowledged.Count);
        Assert.True(_client.Stats.Duplicates + _client.Stats.Late >= 1);
    }

    [Fact]
    public async Task Transient_receive_failures_are_ridden_out_and_a_permanent_one_fails_the_waiting_call()
    {
        var errors = new List<Exception>();
        await _client.DisposeAsync();
        _client = new GuestClient(_transport, CommandChannel, ReplyChannel, FastOptions with
        {
            OnListenerError = e =>
            {
                lock (errors)
                {
                    errors.Add(e);
                }
            },
        });
        _transport.FailReceives(new InMemoryTransportException("busy", transient: true), new InMemoryTransportException("busy", transient: true));

        var ping = _client.PingAsync();
        var c = await NextCommandAsync();
        Answer(c, Reply.WithResult(c.Id, 0, ReplyStatus.Succeeded, "mem-vm", DateTimeOffset.UtcNow, FakeAgent.Ping("mem-vm")));
        Assert.Equal("mem-vm", (await ping).Agent);
        Assert.Equal(2, _client.Stats.Errors);
        Assert.All(errors, e => Assert.Equal(TransportErrorKind.Transient, _client.Transport.Classify(e)));

        // Never answered; the transport then refuses for good, and the call hears of it at once.
        var call = _client.CallAsync(new PingArgs(), new CallOptions { Timeout = TimeSpan.FromSeconds(30) });
        await NextCommandAsync();
        _transport.FailReceives(new InMemoryTransportException("forbidden", transient: false));
        var error = await Assert.ThrowsAsync<GuestClientException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("forbidden", error.Message);
        Assert.IsType<InMemoryTransportException>(error.InnerException);
        Assert.True(_client.Stats.Running);
    }

    [Fact]
    public async Task A_failed_send_reaches_the_caller_as_the_transports_own_exception()
    {
        _transport.FailSends(new InMemoryTransportException("no route", transient: true));

        var error = await Assert.ThrowsAsync<InMemoryTransportException>(() => _client.PingAsync());
        Assert.Equal("no route", error.Message);
        Assert.Equal(0, _transport.Count(CommandChannel));
    }

    [Fact]
    public async Task File_transfers_send_again_after_transient_send_failures()
    {
        var guest = new AgentReplies("mem-vm");
        var files = new FakeFiles { GetChunkBytes = 20_000 };
        using var stop = new CancellationTokenSource();
        var serving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (await _transport.TakeAsync(CommandChannel, TimeSpan.FromMilliseconds(200)) is not { } body)
                {
                    continue;
                }
                var command = CommandParser.Parse(body, DateTimeOffset.UtcNow).Command!;
                Answer(command, files.Answer(guest, command));
            }
        });
        var content = RandomNumberGenerator.GetBytes(100_000);

        // Two chunk commands fail to go out, then the read does: each is sent again.
        _transport.FailSends(new InMemoryTransportException("busy", transient: true), new InMemoryTransportException("busy", transient: true));
        var put = await _client.PutFileAsync(new MemoryStream(content), "/srv/data.bin", new FilePutOptions { ChunkBytes = 30_000 });
        Assert.Equal(0, _transport.SendFailuresLeft);
        _transport.FailSends(new InMemoryTransportException("busy", transient: true));
        using var read = new MemoryStream();
        var get = await _client.GetFileAsync("/srv/data.bin", read);
        Assert.Equal(0, _transport.SendFailuresLeft);
        await stop.CancelAsync();
        await serving;

        Assert.Equal(content, files.Content["/srv/data.bin"]);
        Assert.Equal(4, put.ChunkCount);
        Assert.Equal(content, read.ToArray());
        Assert.Equal(put.Sha256, get.Sha256);
        // What failed to go out never reached the guest: each chunk and the read arrived once.
        Assert.Equal([0, 1, 2, 3], files.Puts.Select(p => p.Index).Order());
        Assert.Single(files.Gets);
    }

    [Fact]
    public async Task With_a_watch_replies_are_read_when_announced_also_when_stored_a_moment_after_and_at_once_when_it_goes_down()
    {
        var slow = TimeSpan.FromSeconds(30);
        var watch = new ManualWatch(safetyPoll: TimeSpan.FromMinutes(10));
        _transport.Watch = watch;
        await using var client = new GuestClient(_transport, CommandChannel, ReplyChannel,
            FastOptions with { MinPollInterval = slow, MaxPollInterval = slow, DefaultCallTimeout = TimeSpan.FromSeconds(5) });

        var ping = client.PingAsync();
        var command = await NextCommandAsync();
        await WaitUntil(() => _transport.Receives >= 1);
        await Task.Delay(100);
        // Announced before it can be read: the empty read is tried again a moment later.
        _transport.HideNextReceives(1);
        Answer(command, Reply.WithResult(command.Id, 0, ReplyStatus.Succeeded, "mem-vm", DateTimeOffset.UtcNow, FakeAgent.Ping("mem-vm")));
        watch.Announce();
        Assert.Equal("mem-vm", (await ping).Agent);
        Assert.Equal(1, client.Stats.Announcements);
        Assert.True(client.Stats.PushLive);

        // A reply nobody announced (a lost notification) is read the moment the watch goes down, not at the next poll.
        var second = client.PingAsync();
        command = await NextCommandAsync();
        Answer(command, Reply.WithResult(command.Id, 0, ReplyStatus.Succeeded, "mem-vm", DateTimeOffset.UtcNow, FakeAgent.Ping("mem-vm")));
        await Task.Delay(100);
        Assert.False(second.IsCompleted);
        watch.SetLive(false);
        Assert.Equal("mem-vm", (await second).Agent);
        Assert.False(client.Stats.PushLive);
        await client.DisposeAsync();
        Assert.True(watch.Disposed);
    }

    private async Task<Command> NextCommandAsync()
    {
        var body = await _transport.TakeAsync(CommandChannel, TimeSpan.FromSeconds(10))
                   ?? throw new TimeoutException("The client sent no command.");
        var parsed = CommandParser.Parse(body, DateTimeOffset.UtcNow);
        Assert.True(parsed.IsAccepted, $"The client sent a command the agent would reject: {parsed.Rejection}");
        return parsed.Command!;
    }

    private void Answer(Command command, params Reply[] replies)
    {
        foreach (var reply in replies)
        {
            _transport.Put(command.ReplyTo!, JsonDocument.Parse(reply.ToUtf8Bytes()).RootElement);
        }
    }

    private static Reply Plain(Command command, long seq, ReplyStatus status, Chunk? chunk = null) =>
        new(command.Id, seq, status, "mem-vm", DateTimeOffset.UtcNow, Chunk: chunk);

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(20);
        }
    }
}
