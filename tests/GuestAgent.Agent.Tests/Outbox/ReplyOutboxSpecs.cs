using System.Security.Cryptography;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Outbox;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Testing;
using GuestAgent.Zaqar;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;
using GuestAgent.Agent.Transports.Zaqar;

namespace GuestAgent.Agent.Tests.Outbox;

/// <summary>
/// The outbox alone, on a real Zaqar queue, with a probe as its ledger: a finished command's replies
/// are read from its spool files a few at a time, posted in seq order with the final last, and the
/// outbox never holds more chunk replies than its window, whatever the output's size or Zaqar's state.
/// </summary>
public sealed class ReplyOutboxSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("ga-outbox-").FullName;
    private readonly ReplyFactory _replies = new("test-agent", TimeProvider.System);

    public new void Dispose()
    {
        base.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static TenantBinding Binding(string project, string replies) =>
        new("t1", ZaqarBed.Shared.Url, project, new TenantAuth("none", null), "cmd", replies, 4, new HashSet<string>(OpCatalog.Standard.OpNames),
            new Dictionary<string, object?>());

    private IActorRef StartOutbox(TenantBinding binding, ZaqarClient zaqar) =>
        Sys.ActorOf(ReplyOutbox.Props(binding, new ZaqarReplyChannel(zaqar), _replies, 600, TimeSpan.FromSeconds(1)));

    /// <summary>A spool file of <paramref name="bytes"/> random bytes, the first <paramref name="inline"/> of them inline.</summary>
    private SpooledStreamV1 Spool(string stream, long bytes, int inline, int chunkBytes)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}-{stream}");
        var data = RandomNumberGenerator.GetBytes((int)bytes);
        File.WriteAllBytes(path, data);
        var chunks = (int)((bytes - inline + chunkBytes - 1) / chunkBytes);
        return new SpooledStreamV1(stream, path, bytes, inline, Convert.ToHexStringLower(SHA256.HashData(data)), chunks);
    }

    private static OutcomeV1 Succeeded(params SpooledStreamV1[] spools) => new("succeeded", "{\"exit_code\":0}", null, null, [.. spools]);

    private static async Task<List<Reply>> ListRepliesAsync(ZaqarClient zaqar, string queue)
    {
        var replies = new List<Reply>();
        await foreach (var m in zaqar.ListAllAsync(queue, new ListOptions { Limit = 20 }))
        {
            Assert.True(ReplyParser.TryParse(m.Body, out var reply, out var error), error);
            replies.Add(reply);
        }
        return replies;
    }

    private async Task<OutboxProtocol.Stats> StatsAsync(IActorRef outbox) =>
        await outbox.Ask<OutboxProtocol.Stats>(OutboxProtocol.GetStats.Instance, Wait);

    [Theory]
    [InlineData(4_096, 300)] // many replies per POST: the window's count binds
    [InlineData(12_000, 60)] // several per POST, packed up to Zaqar's limit
    [InlineData(0, 12)] // the largest chunks, one per POST: its bytes bind
    public async Task A_spool_of_many_chunks_is_posted_in_seq_order_then_the_final_once_with_at_most_the_window_held(int chunkBytes, int chunks)
    {
        chunkBytes = chunkBytes == 0 ? ProtocolLimits.MaxChunkDataBytes() : chunkBytes;
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue("rep");
        var zaqar = ZaqarBed.Shared.Client(project);
        var outbox = StartOutbox(Binding(project, queue), ZaqarBed.Shared.Client(project));
        var ledger = CreateTestProbe();
        var stdout = Spool(ChunkStreams.Stdout, 100L + chunks * (long)chunkBytes - 7, 100, chunkBytes);
        var stderr = Spool(ChunkStreams.Stderr, 3L * chunkBytes, 0, chunkBytes);
        Guid id = Guid.NewGuid(), next = Guid.NewGuid();

        outbox.Tell(new OutboxProtocol.DeliverFinished(id, queue, Succeeded(stdout, stderr), chunkBytes), ledger.Ref);
        // Delivered after it, so posted after its final reply.
        outbox.Tell(new OutboxProtocol.Deliver(next, queue, [_replies.Accepted(next)], HasFinal: false), ledger.Ref);

        Assert.Equal(id, ledger.ExpectMsg<FinalReplyDelivered>(Wait).CommandId);
        ledger.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        var stats = await StatsAsync(outbox);
        var replies = await ListRepliesAsync(zaqar, queue);

        Assert.Equal((chunks, 3), (stdout.Chunks, stderr.Chunks));
        var total = chunks + 3;
        Assert.Equal([.. Enumerable.Range(1, total + 1).Select(s => (id, (long)s)), (next, 0L)], replies.Select(r => (r.Id, r.Seq)));
        Assert.All(replies.Take(total), r => Assert.Equal(ReplyStatus.Progress, r.Status));
        Assert.Equal(ReplyStatus.Succeeded, replies[total].Status);
        foreach (var spool in new[] { stdout, stderr })
        {
            var data = File.ReadAllBytes(spool.Path);
            var assembler = new ChunkAssembler(data.AsMemory(0, spool.InlineBytes), spool.Chunks, spool.Sha256, spool.Bytes);
            foreach (var reply in replies.Where(r => r.Chunk?.Stream == spool.Stream))
            {
                assembler.Add(reply.Chunk!);
            }
            var whole = assembler.Assemble();
            Assert.Null(whole.Error);
            Assert.Equal(data, whole.Data);
        }
        Assert.True(stats.PeakHeldChunks <= ReplyOutbox.MaxHeldChunkReplies, $"held {stats.PeakHeldChunks} chunk replies at once");
        Assert.True(stats.PeakHeldChunkBytes <= ReplyOutbox.MaxHeldChunkBytesFor(ZaqarLimits.MaxPostBodyBytes), $"held {stats.PeakHeldChunkBytes} bytes of chunk replies at once");
        Assert.Equal((0, 0L, 0), (stats.HeldChunks, stats.HeldChunkBytes, stats.Deliveries));
    }

    [Fact]
    public async Task A_spool_file_missing_at_send_time_skips_its_seqs_and_the_final_still_follows()
    {
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue("rep");
        var outbox = StartOutbox(Binding(project, queue), ZaqarBed.Shared.Client(project));
        var ledger = CreateTestProbe();
        var lost = Spool(ChunkStreams.Stdout, 10_000, 0, 4_096);
        var kept = Spool(ChunkStreams.Stderr, 5_000, 1_000, 4_096);
        File.Delete(lost.Path);
        var id = Guid.NewGuid();

        outbox.Tell(new OutboxProtocol.DeliverFinished(id, queue, Succeeded(lost, kept), 4_096), ledger.Ref);

        ledger.ExpectMsg<FinalReplyDelivered>(Wait);
        var replies = await ListRepliesAsync(ZaqarBed.Shared.Client(project), queue);
        // stdout's three chunks (seq 1-3) are gone; stderr's one is seq 4, the final 5.
        Assert.Equal([(4L, ReplyStatus.Progress), (5L, ReplyStatus.Succeeded)], replies.Select(r => (r.Seq, r.Status)));
        Assert.Equal((ChunkStreams.Stderr, 1_000L), (replies[0].Chunk!.Stream, replies[0].Chunk!.Offset));
    }

    [Fact]
    public async Task While_Zaqar_is_unreachable_the_outbox_reads_no_further_than_its_window_and_stopping_it_closes_the_spool()
    {
        var unreachable = new ZaqarClient(new ZaqarClientOptions
        {
            Endpoint = "http://127.0.0.1:9", // discard: nothing listens
            ClientId = Guid.NewGuid(),
            Auth = new ZaqarAuth.None("p"),
            MaxAttempts = 1,
            RequestTimeout = TimeSpan.FromSeconds(2),
        });
        var outbox = StartOutbox(Binding("p", "rep"), unreachable);
        var ledger = CreateTestProbe();
        var spool = Spool(ChunkStreams.Stdout, 200 * 4_096, 0, 4_096);

        outbox.Tell(new OutboxProtocol.DeliverFinished(Guid.NewGuid(), "rep", Succeeded(spool), 4_096), ledger.Ref);

        await AwaitAssertAsync(async () => Assert.Equal(ReplyOutbox.WindowReplies, (await StatsAsync(outbox)).HeldChunks), Wait);
        await Task.Delay(1_500); // a few failed posts and retries later
        var stats = await StatsAsync(outbox);
        Assert.Equal(ReplyOutbox.WindowReplies, stats.HeldChunks);
        Assert.True(stats.PeakHeldChunks <= ReplyOutbox.MaxHeldChunkReplies, $"held {stats.PeakHeldChunks} chunk replies at once");
        Assert.True(OpenBySelf(spool.Path), "the spool file is open while its replies are read");
        ledger.ExpectNoMsg(TimeSpan.Zero);

        Watch(outbox);
        Sys.Stop(outbox);
        ExpectTerminated(outbox, Wait);
        await AwaitAssertAsync(() => Assert.False(OpenBySelf(spool.Path), "the spool file is still open after the outbox stopped"), Wait);
    }

    /// <summary>Whether this process holds <paramref name="path"/> open.</summary>
    private static bool OpenBySelf(string path) =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Any(fd =>
        {
            try
            {
                return fd.LinkTarget == path;
            }
            catch (IOException)
            {
                return false; // closed while we looked
            }
        });
}
