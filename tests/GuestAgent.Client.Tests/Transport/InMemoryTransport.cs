using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Client.Transport;

namespace GuestAgent.Client.Tests.Transport;

/// <summary>
/// A transport that keeps its channels in memory, with leases and at-least-once redelivery like a
/// queue service, and failures on demand: the client over it needs no queue service at all.
/// </summary>
internal sealed class InMemoryTransport : IControllerTransport
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<Stored>> _channels = [];
    private readonly Queue<Exception> _receiveFailures = new();
    private readonly Queue<Exception> _sendFailures = new();
    private long _nextId;
    private int _hiddenReceives;
    private int _receives;

    /// <summary>What <see cref="WatchReplyChannel"/> hands the listener; null: it polls.</summary>
    public ManualWatch? Watch { get; set; }

    /// <summary>Receives so far.</summary>
    public int Receives => Volatile.Read(ref _receives);

    /// <summary>The next <paramref name="count"/> receives find nothing, as when a message is announced before it is stored.</summary>
    public void HideNextReceives(int count) => Volatile.Write(ref _hiddenReceives, count);

    public IChannelWatch? WatchReplyChannel(string channel) => Watch;

    /// <summary>Ids of the messages received and acknowledged so far.</summary>
    public List<string> Acknowledged { get; } = [];

    /// <summary>The next receives throw these, one each, in order.</summary>
    public void FailReceives(params Exception[] errors)
    {
        lock (_lock)
        {
            foreach (var e in errors)
            {
                _receiveFailures.Enqueue(e);
            }
        }
    }

    /// <summary>The next sends throw these, one each, in order, sending nothing.</summary>
    public void FailSends(params Exception[] errors)
    {
        lock (_lock)
        {
            foreach (var e in errors)
            {
                _sendFailures.Enqueue(e);
            }
        }
    }

    /// <summary>Failures given to <see cref="FailSends"/> that no send has met yet.</summary>
    public int SendFailuresLeft
    {
        get
        {
            lock (_lock)
            {
                return _sendFailures.Count;
            }
        }
    }

    /// <summary>Messages waiting on <paramref name="channel"/>, leased or not.</summary>
    public int Count(string channel)
    {
        lock (_lock)
        {
            return _channels.TryGetValue(channel, out var list) ? list.Count : 0;
        }
    }

    public void CheckChannelName(string channel) => ArgumentException.ThrowIfNullOrEmpty(channel);

    public void CheckReceiveSettings(ReceiveSettings settings) => ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxMessages, 1);

    public Task EnsureReplyChannelAsync(string channel, CancellationToken ct)
    {
        lock (_lock)
        {
            _channels.TryAdd(channel, []);
        }
        return Task.CompletedTask;
    }

    public Task SendAsync(string channel, JsonNode body, TimeSpan timeToLive, CancellationToken ct)
    {
        lock (_lock)
        {
            if (_sendFailures.TryDequeue(out var failure))
            {
                throw failure;
            }
        }
        Put(channel, JsonSerializer.SerializeToElement(body));
        return Task.CompletedTask;
    }

    /// <summary>Puts a message on a channel, as the guest's side of the transport does.</summary>
    public void Put(string channel, JsonElement body)
    {
        lock (_lock)
        {
            if (!_channels.TryGetValue(channel, out var list))
            {
                _channels[channel] = list = [];
            }
            list.Add(new Stored($"m{++_nextId}", body.Clone(), DateTimeOffset.UtcNow));
        }
    }

    public Task<IReadOnlyList<TransportMessage>> ReceiveAsync(string channel, ReceiveSettings settings, CancellationToken ct)
    {
        lock (_lock)
        {
            _receives++;
            if (_receiveFailures.TryDequeue(out var failure))
            {
                throw failure;
            }
            if (_hiddenReceives > 0)
            {
                _hiddenReceives--;
                return Task.FromResult<IReadOnlyList<TransportMessage>>([]);
            }
            var now = DateTimeOffset.UtcNow;
            var taken = new List<TransportMessage>();
            if (_channels.TryGetValue(channel, out var list))
            {
                foreach (var stored in list.Where(s => s.LeasedUntil <= now).Take(settings.MaxMessages))
                {
                    stored.LeasedUntil = now + settings.Lease;
                    taken.Add(new Received(this, channel, stored, now - stored.Posted));
                }
            }
            return Task.FromResult<IReadOnlyList<TransportMessage>>(taken);
        }
    }

    public TransportErrorKind Classify(Exception error) => error switch
    {
        InMemoryTransportException { Transient: true } => TransportErrorKind.Transient,
        InMemoryTransportException => TransportErrorKind.Permanent,
        _ => TransportErrorKind.NotTransport,
    };

    /// <summary>
    /// Takes the next unleased message off a channel for good, as the guest's side of the
    /// transport does with a command; null when there is none within <paramref name="timeout"/>.
    /// </summary>
    public async Task<JsonElement?> TakeAsync(string channel, TimeSpan timeout)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (DateTimeOffset.UtcNow < deadline)
        {
            lock (_lock)
            {
                if (_channels.TryGetValue(channel, out var list) && list.FirstOrDefault(s => s.LeasedUntil <= DateTimeOffset.UtcNow) is { } first)
                {
                    list.Remove(first);
                    return first.Body;
                }
            }
            await Task.Delay(10);
        }
        return null;
    }

    private sealed class Stored(string id, JsonElement body, DateTimeOffset posted)
    {
        public string Id { get; } = id;
        public JsonElement Body { get; } = body;
        public DateTimeOffset Posted { get; } = posted;
        public DateTimeOffset LeasedUntil { get; set; } = DateTimeOffset.MinValue;
    }

    private sealed class Received(InMemoryTransport transport, string channel, Stored stored, TimeSpan age)
        : TransportMessage(stored.Id, stored.Body, null, age)
    {
        public override Task AcknowledgeAsync(CancellationToken ct)
        {
            lock (transport._lock)
            {
                transport._channels[channel].Remove(stored);
                transport.Acknowledged.Add(stored.Id);
            }
            return Task.CompletedTask;
        }

        public override Task ReleaseAsync(CancellationToken ct)
        {
            lock (transport._lock)
            {
                stored.LeasedUntil = DateTimeOffset.MinValue;
            }
            return Task.CompletedTask;
        }
    }
}

/// <summary>A failure of <see cref="InMemoryTransport"/>.</summary>
/// <summary>A watch the test drives: announcements and going up or down on demand.</summary>
internal sealed class ManualWatch(TimeSpan safetyPoll) : IChannelWatch
{
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _announcements;
    private volatile bool _live = true;

    public bool IsLive => _live;

    public TimeSpan SafetyPollInterval => safetyPoll;

    public Task Changed => Volatile.Read(ref _changed).Task;

    public long Announcements => Interlocked.Read(ref _announcements);

    public bool Disposed { get; private set; }

    public void Announce()
    {
        Interlocked.Increment(ref _announcements);
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public void SetLive(bool live)
    {
        _live = live;
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }
}

internal sealed class InMemoryTransportException(string message, bool transient) : Exception(message)
{
    public bool Transient { get; } = transient;
}
