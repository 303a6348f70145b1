using System.Text.Json.Nodes;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Metrics;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Agent.Transport;
using Serilog;

namespace GuestAgent.Agent.Outbox;

public static class OutboxProtocol
{
    /// <summary>
    /// Replies built already (accepted, rejected), to post in order; when <paramref name="HasFinal"/> the
    /// sender hears of the last one's delivery. With <paramref name="KeyId"/> (the key that signed the
    /// command) each reply is signed.
    /// </summary>
    public sealed record Deliver(Guid CommandId, string Queue, IReadOnlyList<Reply> Replies, bool HasFinal, string? KeyId = null);

    /// <summary>
    /// A finished command's chunk replies and final reply, described rather than built: the outbox reads
    /// the chunks from the outcome's spool files (<paramref name="ChunkBytes"/> each) a few at a time, then
    /// builds the final reply; the sender hears when that is posted. Signed as <see cref="Deliver"/>.
    /// </summary>
    public sealed record DeliverFinished(Guid CommandId, string Queue, OutcomeV1 Outcome, int ChunkBytes, string? KeyId = null);

    internal sealed record Posted(int Count);

    internal sealed record PostFailed(Exception Cause);

    internal sealed record Retry;

    internal sealed record LingerOver;

    /// <summary>Asks the outbox for its <see cref="Stats"/>.</summary>
    internal sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    /// <summary>
    /// Chunk replies held now (posted or waiting, plus one being read) and their encoded bytes, the most
    /// ever held, and the deliveries not yet done.
    /// </summary>
    internal sealed record Stats(int HeldChunks, long HeldChunkBytes, int PeakHeldChunks, long PeakHeldChunkBytes, int Deliveries);
}

/// <summary>
/// Posts one tenant's replies until its transport takes them, in order, packing several into one post
/// where they fit. Transport faults are retried with backoff for as long as it takes; what is still
/// here when the agent stops is posted again from the ledger after the restart.
/// </summary>
/// <remarks>
/// Deliveries are handled one after the other. A finished command's chunk replies are read from its
/// spool files lazily, by one read task at a time off the actor's thread (the read, encoding and
/// signing of one reply, piped back), and only while fewer than two POST batches wait
/// (<see cref="WindowReplies"/>, <see cref="WindowBytes"/>): output of any size costs at most
/// <see cref="MaxHeldChunkReplies"/> replies of at most <see cref="MaxHeldChunkBytesFor"/> bytes here.
/// </remarks>
public sealed class ReplyOutbox : ReceiveActor, IWithTimers
{
    /// <summary>Most replies per POST.</summary>
    internal const int MaxBatch = 20;

    /// <summary>Chunk replies are read ahead only while fewer replies than this wait: one POST batch in flight, the next ready.</summary>
    internal const int WindowReplies = 2 * MaxBatch;

    /// <summary>... and while their encoded messages take fewer bytes than this: two of the transport's largest posts.</summary>
    internal int WindowBytes => 2 * _channel.MaxPostBytes;

    /// <summary>Most chunk replies held at once (waiting, in flight, or being read).</summary>
    internal const int MaxHeldChunkReplies = WindowReplies;

    /// <summary>Most bytes of encoded chunk replies held at once: the window and one more reply, which fits one post.</summary>
    internal static long MaxHeldChunkBytesFor(int maxPostBytes) => 3L * maxPostBytes;

    /// <summary>
    /// How long an accepted reply waits for company: a quick run's final reply is usually ready within
    /// it, and both then go in one post (one request to the transport instead of two, and the final
    /// one does not queue behind the accepted one's post).
    /// </summary>
    internal static readonly TimeSpan AcceptedLinger = TimeSpan.FromMilliseconds(25);

    private readonly TimeSpan _acceptedLinger;

    private sealed record Item(Guid CommandId, string Queue, OutboundReply Message, int Size, bool IsChunk, bool IsFinal, IActorRef Notify)
    {
        /// <summary>An accepted reply, which may wait <see cref="AcceptedLinger"/> for the final one.</summary>
        public bool Lingers { get; init; }

        public long AddedAt { get; init; }
    }

    /// <summary>One delivery: replies built already, or a finished command whose replies are read from its spool.</summary>
    private sealed class Job(Guid commandId, string queue, SigningKey? key, IActorRef notify)
    {
        public Guid CommandId { get; } = commandId;
        public string Queue { get; } = queue;
        public SigningKey? Key { get; } = key;
        public IActorRef Notify { get; } = notify;
        public IReadOnlyList<Reply>? Ready { get; init; }
        public bool HasFinal { get; init; }
        public Func<SpoolReplyReader>? Open { get; init; }
        public SpoolReplyReader? Reader { get; set; }
    }

    private sealed record ReplyRead(Job Job, Item? Item);

    private sealed record ReadFailed(Job Job, Exception Cause);

    private readonly Queue<Job> _jobs = new();
    private readonly LinkedList<Item> _pending = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly IReplyChannel _channel;

    /// <summary>The size of a post of no replies: the envelope every post's size includes once.</summary>
    private readonly int _emptyPostBytes;
    private readonly ILogger _log;
    private readonly TimeSpan _maxBackoff;
    private readonly int _replyTtlSeconds;
    private TimeSpan _backoff = TimeSpan.Zero;
    private int _inFlight;
    private long _pendingBytes;
    private int _heldChunks;
    private long _heldChunkBytes;
    private int _peakChunks;
    private long _peakChunkBytes;
    private Task? _reading;

    /// <param name="acceptedLinger">How long an accepted reply waits for company (<see cref="AcceptedLinger"/>; specs on a loaded machine: longer).</param>
    public ReplyOutbox(TenantBinding binding, IReplyChannel channel, ReplyFactory replies, int replyTtlSeconds, TimeSpan maxBackoff,
        AgentMetrics? metrics = null, TimeSpan? acceptedLinger = null)
    {
        _acceptedLinger = acceptedLinger ?? AcceptedLinger;
        metrics ??= new AgentMetrics();
        _channel = channel;
        _emptyPostBytes = channel.SizeOf([]);
        _maxBackoff = maxBackoff;
        _replyTtlSeconds = replyTtlSeconds;
        _log = Serilog.Log.ForContext("Tenant", binding.Name).ForContext("SourceContext", "ReplyOutbox");

        // The command's own key; if it left the configuration while the command was live
        // (rotation across a restart), the current key, which the controller also holds.
        SigningKey? KeyFor(string? keyId) => keyId is null ? null : binding.SigningPolicy.Find(keyId) ?? binding.SigningPolicy.Current;

        Receive<OutboxProtocol.Deliver>(d =>
        {
            _jobs.Enqueue(new Job(d.CommandId, d.Queue, KeyFor(d.KeyId), Sender) { Ready = d.Replies, HasFinal = d.HasFinal });
            Fill();
            Pump();
        });
        Receive<OutboxProtocol.DeliverFinished>(d =>
        {
            var log = _log;
            _jobs.Enqueue(new Job(d.CommandId, d.Queue, KeyFor(d.KeyId), Sender)
            {
                HasFinal = true,
                Open = () => new SpoolReplyReader(replies, d.CommandId, d.Outcome, d.ChunkBytes, log),
            });
            Fill();
            Pump();
        });
        Receive<ReplyRead>(r =>
        {
            if (!IsHead(r.Job))
            {
                return; // read for the instance before a restart, which closed its reader
            }
            _reading = null;
            if (r.Item is not null)
            {
                Add(r.Item);
            }
            if (r.Item is null or { IsFinal: true })
            {
                EndJob(r.Job);
            }
            Fill();
            Pump();
        });
        Receive<ReadFailed>(f =>
        {
            if (!IsHead(f.Job))
            {
                return;
            }
            _reading = null;
            var reader = f.Job.Reader!;
            var log = _log.ForContext("CommandId", f.Job.CommandId);
            if (reader.FinalRead)
            {
                // Nothing left to give up: the ledger posts it again after its next recovery.
                log.Error(f.Cause, "building the final reply failed; it is not posted now");
                EndJob(f.Job);
            }
            else
            {
                log.Error(f.Cause, "reading or encoding a chunk reply failed; the remaining chunks are skipped, the final reply follows");
                reader.SkipToFinal();
            }
            Fill();
            Pump();
        });
        Receive<OutboxProtocol.Posted>(p =>
        {
            _inFlight = 0;
            _backoff = TimeSpan.Zero;
            for (var i = 0; i < p.Count; i++)
            {
                var item = TakeFirst();
                if (item.IsFinal)
                {
                    item.Notify.Tell(new CommandLedgerProtocol.FinalReplyDelivered(item.CommandId));
                }
            }
            Fill();
            Pump();
        });
        Receive<OutboxProtocol.PostFailed>(f =>
        {
            var batch = _inFlight;
            _inFlight = 0;
            metrics.TransportError(binding.Name, binding.Transport, "post");
            if (f.Cause is ReplyPostException { Permanent: true })
            {
                // The transport will never take it (queue name refused, no right to post there):
                // retrying would stop every later reply. Say so loudly and move on.
                for (var i = 0; i < batch; i++)
                {
                    var item = TakeFirst();
                    _log.ForContext("CommandId", item.CommandId).Error("reply to queue {Queue} refused for good: {Error}; dropped",
                        item.Queue, f.Cause.Message);
                    if (item.IsFinal)
                    {
                        item.Notify.Tell(new CommandLedgerProtocol.FinalReplyDelivered(item.CommandId));
                    }
                }
                Fill();
                Pump();
                return;
            }
            metrics.RepliesRetried(binding.Name, batch);
            _backoff = _backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromTicks(Math.Min(_maxBackoff.Ticks, _backoff.Ticks * 2));
            _log.Warning("posting {Count} replies failed ({Error}); retrying in {Backoff}", batch, f.Cause.Message, _backoff);
            Timers.StartSingleTimer("retry", new OutboxProtocol.Retry(), _backoff);
        });
        Receive<OutboxProtocol.Retry>(_ => Pump());
        Receive<OutboxProtocol.LingerOver>(_ => Pump());
        Receive<OutboxProtocol.GetStats>(_ => Sender.Tell(new OutboxProtocol.Stats(
            HeldChunks, _heldChunkBytes, _peakChunks, _peakChunkBytes, _jobs.Count)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="metrics">Where failed posts are counted; none: counted nowhere.</param>
    public static Props Props(TenantBinding binding, IReplyChannel channel, ReplyFactory replies, int replyTtlSeconds, TimeSpan maxBackoff,
        AgentMetrics? metrics = null, TimeSpan? acceptedLinger = null) =>
        Akka.Actor.Props.Create(() => new ReplyOutbox(binding, channel, replies, replyTtlSeconds, maxBackoff, metrics, acceptedLinger));

    private int HeldChunks => _heldChunks + (_reading is null ? 0 : 1);

    protected override void PostStop()
    {
        _stopping.Cancel();
        if (_jobs.TryPeek(out var job) && job.Reader is { } reader)
        {
            // A read under way still uses the reader: close it once that read ends.
            if (_reading is { } reading)
            {
                reading.ContinueWith(_ => reader.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
            else
            {
                reader.Dispose();
            }
        }
        base.PostStop();
    }

    /// <summary>
    /// Moves deliveries into the pending list in order: built replies at once, a finished command's
    /// replies by reading the next one from its spool when the window has room.
    /// </summary>
    private void Fill()
    {
        while (_reading is null && _jobs.TryPeek(out var job))
        {
            if (job.Ready is { } ready)
            {
                _jobs.Dequeue();
                for (var i = 0; i < ready.Count; i++)
                {
                    Add(Prepare(_channel, job, ready[i], job.HasFinal && i == ready.Count - 1, _replyTtlSeconds, _log));
                }
                continue;
            }
            if (_pending.Count >= WindowReplies || _pendingBytes >= WindowBytes)
            {
                return;
            }
            var reader = job.Reader ??= job.Open!();
            var ttl = _replyTtlSeconds;
            var log = _log;
            var channel = _channel;
            var token = _stopping.Token;
            // Opening, reading, encoding and signing happen on the thread pool, one reply at a time.
            var read = Task.Run(async () =>
            {
                var reply = await reader.NextAsync(token).ConfigureAwait(false);
                return reply is null ? null : Prepare(channel, job, reply, reply.Final, ttl, log);
            }, token);
            _reading = read;
            read.PipeTo(Self, success: item => new ReplyRead(job, item), failure: ex => new ReadFailed(job, ex));
            Peak();
        }
    }

    private bool IsHead(Job job) => _jobs.TryPeek(out var head) && ReferenceEquals(head, job);

    /// <summary>The head delivery is done: its reader (if any) is closed.</summary>
    private void EndJob(Job job)
    {
        job.Reader?.Dispose();
        _jobs.Dequeue();
    }

    private void Add(Item item)
    {
        _pending.AddLast(item with { AddedAt = Environment.TickCount64 });
        _pendingBytes += item.Size;
        if (item.IsChunk)
        {
            _heldChunks++;
            _heldChunkBytes += item.Size;
        }
        Peak();
    }

    private Item TakeFirst()
    {
        var item = _pending.First!.Value;
        _pending.RemoveFirst();
        _pendingBytes -= item.Size;
        if (item.IsChunk)
        {
            _heldChunks--;
            _heldChunkBytes -= item.Size;
        }
        return item;
    }

    private void Peak()
    {
        _peakChunks = Math.Max(_peakChunks, HeldChunks);
        _peakChunkBytes = Math.Max(_peakChunkBytes, _heldChunkBytes);
    }

    /// <summary>
    /// The message for <paramref name="reply"/>, signed when the command was; a reply too large for one
    /// post of the transport is replaced by one that says so. Pure: also runs in read tasks.
    /// </summary>
    private static Item Prepare(IReplyChannel channel, Job job, Reply reply, bool isFinal, int ttlSeconds, ILogger log)
    {
        var message = Encode(reply, job.Key, ttlSeconds);
        var size = channel.SizeOf([message]);
        if (size > channel.MaxPostBytes)
        {
            // The transport would refuse it every time, and every later reply of the tenant would wait behind it.
            log.ForContext("CommandId", job.CommandId).Error(
                "reply seq {Seq} ({Status}) is {Size} bytes, more than one message of the transport takes; posting a failed reply in its place",
                reply.Seq, reply.Status, size);
            message = Encode(reply with
            {
                Status = reply.Status.IsFinal() ? ReplyStatus.Failed : ReplyStatus.Progress,
                Result = null,
                Chunk = null,
                Error = new ReplyError("internal_error",
                    $"the agent's {reply.Status.ToString().ToLowerInvariant()} reply was {size} bytes, more than the transport takes " +
                    $"({channel.MaxPostBytes}); it could not be posted (see the agent log)"),
            }, job.Key, ttlSeconds);
            size = channel.SizeOf([message]);
        }
        return new Item(job.CommandId, job.Queue, message, size, reply.Chunk is not null, isFinal, job.Notify)
        {
            Lingers = reply.Status == ReplyStatus.Accepted,
        };
    }

    private static OutboundReply Encode(Reply reply, SigningKey? key, int ttlSeconds) =>
        new(key is null ? JsonNode.Parse(reply.ToUtf8Bytes())! : Signatures.SignReply(reply, key), ttlSeconds);

    private void Pump()
    {
        if (_inFlight > 0 || _pending.Count == 0 || Timers.IsTimerActive("retry"))
        {
            return;
        }
        if (_pending.All(i => i.Lingers))
        {
            var waited = TimeSpan.FromMilliseconds(Environment.TickCount64 - _pending.First!.Value.AddedAt);
            if (waited < _acceptedLinger)
            {
                Timers.StartSingleTimer("linger", new OutboxProtocol.LingerOver(), _acceptedLinger - waited);
                return;
            }
        }
        var queue = _pending.First!.Value.Queue;
        var batch = new List<OutboundReply>();
        long size = _emptyPostBytes;
        foreach (var item in _pending)
        {
            // Each message adds its own post's size less the envelope, and a comma after the first:
            // packing by the sizes known already spares serializing large batches that cannot fit.
            var added = item.Size - _emptyPostBytes + (batch.Count > 0 ? 1 : 0);
            if (item.Queue != queue || batch.Count >= MaxBatch || (batch.Count > 0 && size + added > _channel.MaxPostBytes))
            {
                break;
            }
            batch.Add(item.Message);
            size += added;
        }
        // The sum holds for compact JSON; measuring a packed batch exactly keeps that an assumption checked.
        while (batch.Count > 1 && _channel.SizeOf(batch) > _channel.MaxPostBytes)
        {
            batch.RemoveAt(batch.Count - 1);
        }
        _inFlight = batch.Count;
        Task post;
        try
        {
            post = _channel.PostAsync(queue, batch);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A transport that fails before its task exists must not restart the outbox (and lose what it holds).
            post = Task.FromException(e);
        }
        post.PipeTo(Self,
            success: () => new OutboxProtocol.Posted(batch.Count),
            failure: ex => new OutboxProtocol.PostFailed(ex));
    }
}
