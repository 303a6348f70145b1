using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using GuestAgent.Client.Transport;
using GuestAgent.Protocol;
using RabbitMQ.Client;

namespace GuestAgent.Client.Transports.Amqp;

/// <summary>
/// The controller's transport over an AMQP 0-9-1 broker (RabbitMQ). A channel is the protocol's
/// queue name; <see cref="AmqpTransportOptions.BrokerName"/> gives the broker's. Sending publishes
/// the command (persistent, mandatory, the command's TTL as expiration) to the command queue's
/// exchange and waits for the broker's publisher confirm; receiving takes replies a consumer of the
/// reply queue (manual acks) has been handed, and announces each delivery to the reply listener
/// (<see cref="IChannelWatch"/>), so replies are read as they come, not polled for.
/// Publishing and consuming use a connection each: a publish blocked by a broker alarm must not hold
/// up the consumer's acks. Both reconnect on the next use after a close. Dispose the transport
/// after the clients that use it.
/// </summary>
/// <remarks>
/// A guest can publish replies to its own reply queue only, so every controller of that guest
/// consumes the same queue and the broker hands each reply to one of them: clients that share it
/// set <see cref="GuestClientOptions.ForeignReplyGrace"/> so that each leaves the others' replies
/// (released back to the queue after <see cref="AmqpTransportOptions.ReleaseDelay"/>) instead of
/// deleting them.
/// </remarks>
public sealed class AmqpTransport : IControllerTransport, IAsyncDisposable
{
    private static readonly CreateChannelOptions Confirms = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    private readonly AmqpTransportOptions _options;
    private readonly SemaphoreSlim _publishGate = new(1, 1);
    private readonly SemaphoreSlim _consumeGate = new(1, 1);
    private readonly ConcurrentDictionary<string, AmqpReplyConsumer> _consumers = new();
    private IConnection? _publishConnection;
    private IChannel? _publishChannel;
    private IConnection? _consumeConnection;
    private volatile bool _disposed;

    /// <exception cref="ArgumentException">No amqp:// URL, no user, a bad exchange name, or a CA file that cannot be read or is not for amqps.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Timeouts, heartbeat or prefetch out of range.</exception>
    public AmqpTransport(AmqpTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        try
        {
            Certificates = options.Tls ? new BrokerCertificateCheck(options.Endpoint.Host, options.CaFile) : null;
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"{nameof(AmqpTransportOptions.CaFile)} ({AmqpTransportOptions.CaFileVariable}): {e.Message}", e);
        }
    }

    public AmqpTransportOptions Options => _options;

    /// <summary>An AMQP queue, exchange or routing key name as the guests' broker setup uses them: 1..255 of letters, digits and <c>-_.:</c>.</summary>
    public static bool IsBrokerName(string name) =>
        name.Length is > 0 and <= 255 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':');

    public void CheckChannelName(string channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var name = _options.BrokerName(channel);
        if (channel.Length == 0 || !IsBrokerName(name) || name.StartsWith("amq.", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Queue '{channel}' names broker queue '{name}', which is no AMQP queue name a guest can have " +
                                        "(1..255 of letters, digits, '-', '_', '.', ':', not starting with 'amq.').", nameof(channel));
        }
    }

    /// <summary>Any number of messages per receive; the lease does not apply (a reply is held until acknowledged or the connection closes).</summary>
    public void CheckReceiveSettings(ReceiveSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.MaxMessages < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(GuestClientOptions.ReplyClaimLimit), settings.MaxMessages, "At least one message per receive.");
        }
    }

    /// <summary>
    /// Checks that the reply queue exists (a passive declare): it is provisioned with the guest,
    /// since the guest's reply exchange must be bound to it, so the controller does not make it.
    /// </summary>
    public async Task EnsureReplyChannelAsync(string channel, CancellationToken ct)
    {
        CheckChannelName(channel);
        var queue = _options.BrokerName(channel);
        var what = $"checking reply queue '{queue}' on {_options.Describe()}";
        IChannel? probe = null;
        try
        {
            var connection = await ConsumeConnectionAsync(ct).ConfigureAwait(false);
            probe = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
            await probe.QueueDeclarePassiveAsync(queue, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var error = AmqpTransportException.From(e, what, probe?.CloseReason);
            throw error.ReplyCode == 404
                ? new AmqpTransportException($"{what}: there is no such queue: provision the guest's queues (tools/rabbitmq/provision.sh) " +
                                             $"or check the name prefix ('{_options.NamePrefix}')", isTransient: false, 404, e)
                : error;
        }
        finally
        {
            await CloseQuietlyAsync(probe).ConfigureAwait(false);
        }
    }

    public async Task SendAsync(string channel, JsonNode body, TimeSpan timeToLive, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(body);
        CheckChannelName(channel);
        var queue = _options.BrokerName(channel);
        var exchange = _options.CommandExchange ?? queue;
        var where = exchange.Length == 0 ? $"queue '{queue}'" : $"exchange '{exchange}' (routing key '{queue}')";
        var props = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/json",
            // The broker drops it unread once it could no longer be run; at least a second, as the broker counts whole milliseconds.
            Expiration = Math.Max(1000, (long)Math.Ceiling(timeToLive.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture),
            Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
            MessageId = body is JsonObject o && o["id"] is JsonValue id && id.TryGetValue<string>(out var text) ? text : null,
        };
        // As the protocol writes JSON: a file chunk's base64 unescaped ('+' would be six bytes otherwise).
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString(ProtocolJson.Options));
        IChannel? used = null;
        try
        {
            used = await PublishChannelAsync(ct).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.PublishTimeout);
            // Mandatory: a command that reaches no queue comes back as an error instead of vanishing.
            await used.BasicPublishAsync(exchange, queue, mandatory: true, props, bytes, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new AmqpTransportException($"publishing a command to {where} on {_options.Describe()}: not confirmed within " +
                                             $"{_options.PublishTimeout.TotalSeconds:0.#} s (a broker alarm may hold publishers)", isTransient: true);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var closed = used?.CloseReason;
            await DropPublishChannelAsync(used).ConfigureAwait(false);
            throw AmqpTransportException.From(e, $"publishing a command to {where} on {_options.Describe()}", closed, Certificates);
        }
    }

    public async Task<IReadOnlyList<TransportMessage>> ReceiveAsync(string channel, ReceiveSettings settings, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var consumer = Consumer(channel);
        await consumer.EnsureConsumingAsync(ct).ConfigureAwait(false);
        return consumer.Take(settings.MaxMessages);
    }

    /// <summary>Only <see cref="AmqpTransportException"/> is this transport's failure; its <see cref="AmqpTransportException.IsTransient"/> decides.</summary>
    public TransportErrorKind Classify(Exception error) => error switch
    {
        AmqpTransportException { IsTransient: true } => TransportErrorKind.Transient,
        AmqpTransportException => TransportErrorKind.Permanent,
        _ => TransportErrorKind.NotTransport,
    };

    /// <summary>The reply queue's consumer: it announces each delivery, and is live while it consumes.</summary>
    public IChannelWatch? WatchReplyChannel(string channel) => Consumer(channel);

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (var consumer in _consumers.Values)
        {
            await consumer.DisposeAsync().ConfigureAwait(false);
        }
        await CloseQuietlyAsync(_publishChannel).ConfigureAwait(false);
        await CloseQuietlyAsync(_publishConnection).ConfigureAwait(false);
        await CloseQuietlyAsync(_consumeConnection).ConfigureAwait(false);
    }

    internal AmqpTransportOptions Settings => _options;

    /// <summary>With amqps: the broker certificate's check, which keeps why it last refused one.</summary>
    internal BrokerCertificateCheck? Certificates { get; }

    internal void Forget(AmqpReplyConsumer consumer) =>
        _consumers.TryRemove(new KeyValuePair<string, AmqpReplyConsumer>(consumer.Channel, consumer));

    /// <summary>The connection reply consumers open their channels on; a new one after a close.</summary>
    internal async Task<IConnection> ConsumeConnectionAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _consumeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_consumeConnection is { IsOpen: true } open)
            {
                return open;
            }
            await CloseQuietlyAsync(_consumeConnection).ConfigureAwait(false);
            _consumeConnection = null;
            try
            {
                var connection = await _options.Factory("replies", Certificates).CreateConnectionAsync(ct).ConfigureAwait(false);
                connection.ConnectionShutdownAsync += (_, _) =>
                {
                    foreach (var consumer in _consumers.Values)
                    {
                        consumer.ConnectionLost();
                    }
                    return Task.CompletedTask;
                };
                _consumeConnection = connection;
                return connection;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                throw AmqpTransportException.From(e, $"connecting to {_options.Describe()}", certificates: Certificates);
            }
        }
        finally
        {
            _consumeGate.Release();
        }
    }

    private AmqpReplyConsumer Consumer(string channel)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckChannelName(channel);
        return _consumers.GetOrAdd(channel, c => new AmqpReplyConsumer(this, c, _options.BrokerName(c)));
    }

    private async Task<IChannel> PublishChannelAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_publishChannel is { IsOpen: true } ready)
        {
            return ready;
        }
        await _publishGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_publishChannel is { IsOpen: true } open)
            {
                return open;
            }
            await CloseQuietlyAsync(_publishChannel).ConfigureAwait(false);
            _publishChannel = null;
            if (_publishConnection is not { IsOpen: true })
            {
                await CloseQuietlyAsync(_publishConnection).ConfigureAwait(false);
                _publishConnection = null;
                _publishConnection = await _options.Factory("commands", Certificates).CreateConnectionAsync(ct).ConfigureAwait(false);
            }
            // A refused vhost (530) shows here, not when connecting: the library does not wait for open-ok.
            _publishChannel = await _publishConnection.CreateChannelAsync(Confirms, ct).ConfigureAwait(false);
            return _publishChannel;
        }
        finally
        {
            _publishGate.Release();
        }
    }

    private async Task DropPublishChannelAsync(IChannel? failed)
    {
        await _publishGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (failed is not null && ReferenceEquals(failed, _publishChannel))
            {
                _publishChannel = null;
                await CloseQuietlyAsync(failed).ConfigureAwait(false);
            }
            if (_publishConnection is { IsOpen: false })
            {
                await CloseQuietlyAsync(_publishConnection).ConfigureAwait(false);
                _publishConnection = null;
            }
        }
        finally
        {
            _publishGate.Release();
        }
    }

    internal static async Task CloseQuietlyAsync(IAsyncDisposable? d)
    {
        if (d is null)
        {
            return;
        }
        try
        {
            await d.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Already gone with the broker or the connection: nothing left to close.
        }
    }
}
