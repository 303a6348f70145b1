using System.Collections.Concurrent;
using System.Text.Json;
using GuestAgent.Client.Transport;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace GuestAgent.Client.Transports.Amqp;

/// <summary>
/// One reply queue's consumer (manual acks, the transport's prefetch). Deliveries wait in memory
/// until the reply listener receives them, and each is announced as it comes. Every (re)start of
/// consuming is a new generation: a close (broker restart, a forced close) makes the broker requeue
/// what this consumer held unacknowledged, so deliveries and acks of an ended generation are
/// dropped, and the copies the broker delivers again are the duplicates the client drops.
/// </summary>
internal sealed class AmqpReplyConsumer : IChannelWatch
{
    private readonly AmqpTransport _transport;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentQueue<Delivery> _buffer = new();
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IChannel? _channel;
    private int _generation;
    private volatile bool _live;
    private long _announcements;
    private volatile bool _disposed;

    public AmqpReplyConsumer(AmqpTransport transport, string channel, string queue)
    {
        _transport = transport;
        Channel = channel;
        Queue = queue;
    }

    /// <summary>The protocol's name of the reply queue.</summary>
    public string Channel { get; }

    /// <summary>The broker's name of it.</summary>
    public string Queue { get; }

    public bool IsLive => _live;

    public TimeSpan SafetyPollInterval => _transport.Settings.SafetyPollInterval;

    public Task Changed => Volatile.Read(ref _changed).Task;

    public long Announcements => Interlocked.Read(ref _announcements);

    /// <summary>Starts consuming unless it does already; a failure is an <see cref="AmqpTransportException"/>.</summary>
    public async Task EnsureConsumingAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Consuming)
        {
            return;
        }
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        IChannel? channel = null;
        try
        {
            if (Consuming)
            {
                return;
            }
            // A close heard late (or not at all) still ends the generation.
            SetLive(false);
            await AmqpTransport.CloseQuietlyAsync(_channel).ConfigureAwait(false);
            _channel = null;
            var connection = await _transport.ConsumeConnectionAsync(ct).ConfigureAwait(false);
            var generation = Interlocked.Increment(ref _generation);
            channel = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
            channel.ChannelShutdownAsync += (_, _) =>
            {
                Lost(generation);
                return Task.CompletedTask;
            };
            await channel.BasicQosAsync(0, _transport.Settings.Prefetch, global: false, ct).ConfigureAwait(false);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, e) =>
            {
                Deliver(generation, e);
                return Task.CompletedTask;
            };
            // The broker cancels a consumer whose queue is deleted: consume again (and hear the 404) on the next receive.
            consumer.UnregisteredAsync += (_, _) =>
            {
                Lost(generation);
                return Task.CompletedTask;
            };
            await channel.BasicConsumeAsync(Queue, autoAck: false, consumer, ct).ConfigureAwait(false);
            _channel = channel;
            SetLive(true);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var closed = channel?.CloseReason;
            await AmqpTransport.CloseQuietlyAsync(channel).ConfigureAwait(false);
            var error = AmqpTransportException.From(e, $"consuming replies from queue '{Queue}' on {_transport.Settings.Describe()}", closed);
            throw error.ReplyCode == 404
                ? new AmqpTransportException($"{error.Message}: provision the guest's queues (tools/rabbitmq/provision.sh) or check the name prefix",
                    isTransient: false, 404, e)
                : error;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Up to <paramref name="max"/> deliveries of the current generation, without waiting.</summary>
    public IReadOnlyList<TransportMessage> Take(int max)
    {
        var taken = new List<TransportMessage>();
        var generation = Volatile.Read(ref _generation);
        while (taken.Count < max && _buffer.TryDequeue(out var d))
        {
            if (d.Generation != generation)
            {
                // Its channel is gone, so the broker has it again and delivers it anew.
                continue;
            }
            taken.Add(new AmqpMessage(this, d));
        }
        return taken;
    }

    private bool Consuming => _live && _channel is { IsOpen: true };

    public void ConnectionLost() => Lost(Volatile.Read(ref _generation));

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _live = false;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            // Closing the channel gives back what it held unacknowledged, for the next consumer.
            await AmqpTransport.CloseQuietlyAsync(_channel).ConfigureAwait(false);
            _channel = null;
        }
        finally
        {
            _gate.Release();
        }
        _transport.Forget(this);
    }

    private void Deliver(int generation, BasicDeliverEventArgs e)
    {
        // The library reuses the body's memory after the handler returns.
        _buffer.Enqueue(new Delivery(generation, e.DeliveryTag, e.Body.ToArray(),
            e.BasicProperties.IsTimestampPresent() ? DateTimeOffset.FromUnixTimeSeconds(e.BasicProperties.Timestamp.UnixTime) : null));
        Interlocked.Increment(ref _announcements);
        Announce();
    }

    private void Lost(int generation)
    {
        if (generation == Volatile.Read(ref _generation))
        {
            SetLive(false);
        }
    }

    private void SetLive(bool live)
    {
        if (_live != live)
        {
            _live = live;
            Announce();
        }
    }

    private void Announce() =>
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>The channel of <paramref name="generation"/>, if it is still the one consuming.</summary>
    private IChannel? ChannelOf(int generation) =>
        generation == Volatile.Read(ref _generation) && _channel is { IsOpen: true } c ? c : null;

    private async Task AckAsync(Delivery d, CancellationToken ct)
    {
        if (ChannelOf(d.Generation) is not { } channel)
        {
            // Requeued with its channel: the copy delivered again is a duplicate the client drops.
            return;
        }
        try
        {
            await channel.BasicAckAsync(d.Tag, multiple: false, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw AmqpTransportException.From(e, $"acknowledging a reply on queue '{Queue}'", channel.CloseReason);
        }
    }

    private void Release(Delivery d)
    {
        // Held a moment before it goes back: the broker could hand it straight back to this consumer.
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(_transport.Settings.ReleaseDelay, _stop.Token).ConfigureAwait(false);
                if (ChannelOf(d.Generation) is { } channel)
                {
                    await channel.BasicNackAsync(d.Tag, multiple: false, requeue: true, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Stopping, or the channel closed: either way the broker has the message back.
            }
        });
    }

    private sealed record Delivery(int Generation, ulong Tag, byte[] Body, DateTimeOffset? Timestamp);

    private sealed class AmqpMessage : TransportMessage
    {
        private readonly AmqpReplyConsumer _owner;
        private readonly Delivery _delivery;

        public AmqpMessage(AmqpReplyConsumer owner, Delivery d)
            : this(owner, d, Read(d.Body))
        {
        }

        private AmqpMessage(AmqpReplyConsumer owner, Delivery d, (JsonElement Body, string? Error) read)
            : base($"{owner.Queue}#{d.Generation}.{d.Tag}", read.Body, read.Error, AgeOf(d))
        {
            _owner = owner;
            _delivery = d;
        }

        public override Task AcknowledgeAsync(CancellationToken ct) => _owner.AckAsync(_delivery, ct);

        public override Task ReleaseAsync(CancellationToken ct)
        {
            _owner.Release(_delivery);
            return Task.CompletedTask;
        }

        private static (JsonElement, string?) Read(byte[] body)
        {
            try
            {
                using var doc = JsonDocument.Parse(body);
                return (doc.RootElement.Clone(), null);
            }
            catch (JsonException e)
            {
                return (default, $"not a JSON body ({body.Length} bytes): {e.Message}");
            }
        }

        /// <summary>From the message's timestamp (whole seconds; the agent sets it); zero without one.</summary>
        private static TimeSpan AgeOf(Delivery d) =>
            d.Timestamp is { } t && DateTimeOffset.UtcNow - t is var age && age > TimeSpan.Zero ? age : TimeSpan.Zero;
    }
}
