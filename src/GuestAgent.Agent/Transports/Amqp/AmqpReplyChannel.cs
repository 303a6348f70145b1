using System.Text;
using GuestAgent.Agent.Transport;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Serilog;

namespace GuestAgent.Agent.Transports.Amqp;

/// <summary>
/// Replies as persistent AMQP messages on the guest's reply exchange, each confirmed by the broker
/// (publisher confirms) before the post counts as done. A post the broker refuses (403: the guest's
/// user may not write there) is permanent; everything else (connection lost, channel closed, no
/// confirm in time, a disk alarm holding the publish) is worth retrying, on a fresh channel.
/// </summary>
public sealed class AmqpReplyChannel(string binding, string replyQueue, AmqpSettings settings, Func<ConnectionFactory> factory)
    : IReplyChannel, IAsyncDisposable
{
    /// <summary>Replies are sized for the protocol's 256 KiB message (chunks, inline output): the same bound keeps them portable.</summary>
    public const int MaxReplyBytes = 262_144;

    private static readonly CreateChannelOptions Confirms = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ILogger _log = Serilog.Log.ForContext("Tenant", binding).ForContext("SourceContext", "AmqpReplyChannel");
    private IConnection? _connection;
    private IChannel? _channel;

    public int MaxPostBytes => MaxReplyBytes;

    public int SizeOf(IReadOnlyList<OutboundReply> batch) => batch.Sum(r => Encoding.UTF8.GetByteCount(Wire(r)));

    /// <summary>
    /// A reply's body as published: base64 unescaped, as chunk sizes assume (ProtocolLimits.MaxChunkDataBytes);
    /// the default encoder writes each '+' as six bytes, which pushed file chunks past the limit.
    /// </summary>
    private static string Wire(OutboundReply reply) => reply.Body.ToJsonString(GuestAgent.Protocol.ProtocolJson.Options);

    public async Task PostAsync(string queue, IReadOnlyList<OutboundReply> batch, CancellationToken ct = default)
    {
        if (queue != replyQueue)
        {
            // The ledger sends every reply of this binding to its reply queue (OnlyReplyQueue): another name is a defect.
            throw new ReplyPostException($"replies of this binding go to {replyQueue} only, not {queue}", permanent: true);
        }
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var channel = await ChannelAsync(ct).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(settings.PublishTimeout);
            var confirms = new List<Task>(batch.Count);
            foreach (var reply in batch)
            {
                var props = new BasicProperties
                {
                    Persistent = true,
                    ContentType = "application/json",
                    // The reply's TTL: a controller that never reads it does not fill the broker's disk.
                    Expiration = ((long)reply.TtlSeconds * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    // When it was posted: a controller sharing the reply queue tells a reply's age by it (AMQP keeps none of its own).
                    Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
                };
                var body = Encoding.UTF8.GetBytes(Wire(reply));
                // Mandatory: an exchange bound to nothing returns the reply rather than drop it.
                confirms.Add(channel.BasicPublishAsync(settings.ReplyExchange, settings.ReplyRoutingKey, mandatory: true, props, body, timeout.Token)
                    .AsTask());
            }
            await Task.WhenAll(confirms).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var closed = Find<OperationInterruptedException>(e)?.ShutdownReason ?? _channel?.CloseReason;
            var timedOut = e is OperationCanceledException && !ct.IsCancellationRequested;
            if (!timedOut)
            {
                // Whatever state the channel is in, the next post starts from a fresh one.
                await DropAsync(closeConnection: _connection is not { IsOpen: true }).ConfigureAwait(false);
            }
            if (closed is { ReplyCode: 403 })
            {
                throw new ReplyPostException($"refused by the broker ({closed.ReplyCode} {closed.ReplyText}): the guest's user may not " +
                                             $"publish to {settings.ReplyExchange}", permanent: true, e);
            }
            if (ct.IsCancellationRequested)
            {
                throw;
            }
            var why = timedOut ? $"not confirmed within {settings.PublishTimeout} (a broker alarm may hold it)"
                : e is PublishReturnException r ? $"returned by the broker ({r.ReplyCode} {r.ReplyText}): nothing bound to {settings.ReplyExchange} " +
                                                  $"takes routing key {settings.ReplyRoutingKey}"
                : closed is not null ? $"{closed.ReplyCode} {closed.ReplyText}"
                : settings.Certificates?.Explain(e) ?? e.Message;
            throw new ReplyPostException($"publishing {batch.Count} repl(ies) to {settings.ReplyExchange} failed: {why}", permanent: false, e);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IChannel> ChannelAsync(CancellationToken ct)
    {
        if (_channel is { IsOpen: true } open)
        {
            return open;
        }
        await DropAsync(closeConnection: _connection is not { IsOpen: true }).ConfigureAwait(false);
        if (_connection is null)
        {
            _connection = await factory().CreateConnectionAsync(ct).ConfigureAwait(false);
            _connection.ConnectionBlockedAsync += (_, e) =>
            {
                _log.Warning("the broker blocks replies ({Reason}): they wait until it lifts the block", e.Reason);
                return Task.CompletedTask;
            };
            _connection.ConnectionUnblockedAsync += (_, _) =>
            {
                _log.Information("the broker takes replies again");
                return Task.CompletedTask;
            };
        }
        // The first channel is where a refused vhost shows (530): the connection call does not wait for it.
        _channel = await _connection.CreateChannelAsync(Confirms, ct).ConfigureAwait(false);
        return _channel;
    }

    private async Task DropAsync(bool closeConnection)
    {
        var (channel, connection) = (_channel, closeConnection ? _connection : null);
        _channel = null;
        if (closeConnection)
        {
            _connection = null;
        }
        foreach (var d in new IAsyncDisposable?[] { channel, connection })
        {
            if (d is null)
            {
                continue;
            }
            try
            {
                await d.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _log.Debug("closing a reply channel or connection failed ({Error})", e.Message);
            }
        }
    }

    private static T? Find<T>(Exception e) where T : Exception => e switch
    {
        T t => t,
        AggregateException a => a.InnerExceptions.Select(Find<T>).FirstOrDefault(x => x is not null),
        { InnerException: { } inner } => Find<T>(inner),
        _ => null,
    };

    public async ValueTask DisposeAsync()
    {
        await DropAsync(closeConnection: true).ConfigureAwait(false);
        _gate.Dispose();
    }
}
