using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Tenancy;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Serilog;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Transports.Amqp;

public static class QueueConsumerProtocol
{
    /// <summary>Connect (again), unless a later connection attempt replaced the one this was scheduled for.</summary>
    internal sealed record Connect(int Generation);

    internal sealed record Connected(int Generation, IConnection Connection, IChannel Channel);

    internal sealed record ConnectFailed(int Generation, Exception Cause);

    /// <summary>The broker handed over a command; its body is copied (the client reuses the buffer).</summary>
    internal sealed record Delivered(int Generation, ulong Tag, byte[] Body, bool Redelivered);

    /// <summary>The consumer started: the binding is ready.</summary>
    internal sealed record Consuming(int Generation);

    /// <summary>The connection, the channel or the broker's side of the consumer is gone; its unacked deliveries are requeued by the broker.</summary>
    internal sealed record Lost(int Generation, string Reason);

    /// <summary>Look at the free slots again (prefetch, pause, resume).</summary>
    internal sealed record CheckSlots
    {
        public static readonly CheckSlots Instance = new();
    }

    /// <summary>The ledger has not answered deliveries of this round in time.</summary>
    internal sealed record OffersTimedOut(int Round);
}

/// <summary>
/// Consumes one binding's command queue on an AMQP broker with manual acks. Each delivery is
/// judged (<see cref="CommandParser"/> with the binding's signing policy) and offered to the ledger,
/// and acked only once the ledger answers <see cref="Offered"/>: its fate is in the journal. The
/// channel's prefetch (basic.qos, per channel) follows the free slots, tenant and global; with none
/// free the consumer is cancelled, so the broker keeps the commands, and it consumes again when a
/// slot frees (while the ledger recovers its slots read 0: nothing is consumed before recovery).
/// A lost connection or channel is reconnected with backoff (1 s doubling to
/// <c>amqp.max-reconnect-delay</c>, with jitter): the broker requeues every unacked delivery, and the
/// ledger drops those it already recorded as duplicates.
/// With <c>amqp.query-queue</c>, a child consumer of the same kind takes that queue, whatever the
/// free slots (prefetch <see cref="AmqpSettings.QueryPrefetch"/>): queries need no slot, and AMQP
/// cannot look past the commands waiting at the head of the command queue for them. A command that
/// is not a query is rejected there, and runs nothing.
/// </summary>
public sealed class QueueConsumer : ReceiveActor, IWithTimers
{
    /// <summary>How often a paused consumer looks whether the ledger has recovered (no request to the broker).</summary>
    private static readonly TimeSpan RecoveryRecheck = TimeSpan.FromMilliseconds(50);

    /// <summary>Wakes the consumer when it waits for slots (paused, or a prefetch below its slots) and one is given back.</summary>
    private SlotWaiter? _slots;


    /// <summary>A connection that lived this long was fine: the next loss starts the backoff afresh.</summary>
    private static readonly TimeSpan HealthyUptime = TimeSpan.FromSeconds(30);

    /// <summary>How long deliveries wait for the ledger before they are handed back to the broker.</summary>
    private static readonly TimeSpan OfferTimeout = TimeSpan.FromSeconds(30);

    private readonly TenantBinding _binding;
    private readonly AmqpSettings _settings;
    private readonly ReconnectBackoff _reconnect;
    private readonly PollSettings _poll;
    private readonly IActorRef _ledger;
    private readonly AgentLifetime _lifetime;
    private readonly OperationSlots _tenant;
    private readonly PoisonWatch _watch;
    private readonly Func<ConnectionFactory> _factory;
    private readonly Func<byte[], DateTimeOffset, CommandParseResult> _parse;
    private readonly TimeProvider _time;
    private readonly ILogger _log;

    /// <summary>This consumer takes the binding's query queue (queries only, no slot needed), not its command queue.</summary>
    private readonly bool _queries;

    /// <summary>The broker's name of the queue consumed.</summary>
    private readonly string _queue;

    /// <summary>The query consumer's watch: kept across that child's restarts.</summary>
    private readonly PoisonWatch _queryWatch = new();

    private readonly ProtocolLimits _limits;
    private readonly IOpCatalog _opCatalog;
    private readonly Func<byte[], DateTimeOffset, CommandParseResult>? _parseGiven;

    /// <summary>Offered deliveries of the current channel the ledger has not answered yet: message id to delivery tag.</summary>
    private readonly Dictionary<string, ulong> _outstanding = [];

    private int _generation;
    private IConnection? _connection;
    private IChannel? _channel;
    private ChannelOps? _ops;
    private DateTimeOffset _connectedAt;
    private bool _readyLogged;
    private int _round;

    /// <summary>The prefetch set on the channel (0: none yet).</summary>
    private int _prefetch;

    /// <summary>A consume is requested on the channel (and no cancel since).</summary>
    private bool _consuming;

    /// <param name="parse">Judges a body; CommandParser with the binding's limits and signing policy unless a test replaces it.</param>
    public QueueConsumer(TenantBinding binding, PollSettings poll, ProtocolLimits limits, IOpCatalog ops, IActorRef ledger, AgentLifetime lifetime,
        OperationSlots tenant, PoisonWatch watch, Func<ConnectionFactory> factory, TimeProvider time,
        Func<byte[], DateTimeOffset, CommandParseResult>? parse = null, bool queries = false)
    {
        _binding = binding;
        _settings = AmqpTransport.SettingsOf(binding);
        _queries = queries;
        _queue = queries
            ? _settings.QueryQueue ?? throw new InvalidOperationException($"binding {binding.Name} has no amqp.query-queue")
            : _settings.CommandQueue;
        (_limits, _opCatalog, _parseGiven) = (limits, ops, parse);
        _reconnect = new ReconnectBackoff(_settings.MaxReconnectDelay);
        _poll = poll;
        _ledger = ledger;
        _lifetime = lifetime;
        _tenant = tenant;
        _watch = watch;
        _factory = factory;
        _time = time;
        var judge = parse ?? ((body, now) => CommandParser.Parse(body, now, limits, binding.SigningPolicy, ops));
        _parse = queries ? (body, now) => QueriesOnly(judge(body, now), _queue) : judge;
        _log = Serilog.Log.ForContext("Tenant", binding.Name).ForContext("SourceContext", queries ? "QueryConsumer" : "QueueConsumer");

        Receive<QueueConsumerProtocol.Connect>(c =>
        {
            if (c.Generation == _generation && _channel is null)
            {
                ConnectNow();
            }
        });
        Receive<QueueConsumerProtocol.Connected>(OnConnected);
        Receive<QueueConsumerProtocol.ConnectFailed>(f =>
        {
            if (f.Generation == _generation)
            {
                _lifetime.Metrics.TransportError(_binding.Name, AmqpTransport.TransportName, "connect");
                Reconnect($"connecting failed: {Connections.Describe(_settings, f.Cause)}");
            }
        });
        Receive<QueueConsumerProtocol.Consuming>(c =>
        {
            if (c.Generation == _generation && !_readyLogged)
            {
                // Readiness is otherwise invisible: the broker took the consumer, the binding works end to end.
                _readyLogged = true;
                if (_queries)
                {
                    _log.Information("ready: consuming status, cancel and ping from {Queue} on {Broker}, whatever the free slots",
                        _queue, $"{_settings.Host}:{_settings.Port}/{_settings.VirtualHost}");
                    return;
                }
                _log.Information("ready: consuming commands from {Queue} on {Broker}, replies to {ReplyExchange}, up to {Slots} at once",
                    _queue, $"{_settings.Host}:{_settings.Port}/{_settings.VirtualHost}", _settings.ReplyExchange,
                    _binding.MaxOperations);
            }
        });
        Receive<QueueConsumerProtocol.Delivered>(OnDelivered);
        Receive<Offered>(o =>
        {
            if (_outstanding.Remove(o.MessageId, out var tag) && _ops is { } channelOps && GenerationOf(o.MessageId) == _generation)
            {
                // Prefetch first: the ack lets the broker send more, up to what is free now.
                AdjustFlow();
                channelOps.OnChannel(c => c.BasicAckAsync(tag, multiple: false).AsTask(), "ack");
                if (_outstanding.Count == 0)
                {
                    Timers.Cancel("offers");
                }
            }
        });
        Receive<QueueConsumerProtocol.Lost>(l =>
        {
            if (l.Generation == _generation && _channel is not null)
            {
                Reconnect(l.Reason);
            }
        });
        Receive<QueueConsumerProtocol.CheckSlots>(_ =>
        {
            _slots?.Woken();
            AdjustFlow();
        });
        Receive<QueueConsumerProtocol.OffersTimedOut>(t =>
        {
            if (t.Round == _round && _outstanding.Count > 0 && _ops is { } channelOps)
            {
                _log.Warning("the ledger did not answer for {Count} deliveries; they go back to the queue", _outstanding.Count);
                foreach (var tag in _outstanding.Values)
                {
                    channelOps.OnChannel(c => c.BasicNackAsync(tag, multiple: false, requeue: true).AsTask(), "nack");
                }
                _outstanding.Clear();
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TenantBinding binding, PollSettings poll, ProtocolLimits limits, IOpCatalog ops, IActorRef ledger,
        AgentLifetime lifetime, OperationSlots tenant, PoisonWatch watch, Func<ConnectionFactory> factory, TimeProvider time,
        Func<byte[], DateTimeOffset, CommandParseResult>? parse = null, bool queries = false) =>
        Akka.Actor.Props.Create(() => new QueueConsumer(binding, poll, limits, ops, ledger, lifetime, tenant, watch, factory, time, parse, queries));

    /// <summary>A command on the query queue that is not a query: rejected (with its id and reply_to, so its issuer hears why).</summary>
    internal static CommandParseResult QueriesOnly(CommandParseResult judged, string queue) =>
        judged.Command is { } command && !Ops.IsQuery(command.Op)
            ? CommandParseResult.Rejected(new CommandRejection(RejectCodes.InvalidValue,
                $"op '{command.Op}' may not be sent to the query queue '{queue}', which takes status, cancel and ping only; " +
                "send it to the command queue", "op", command.Id, command.ReplyTo, command.Signature?.KeyId))
            : judged;

    protected override void PreStart()
    {
        _slots = new SlotWaiter(Self, QueueConsumerProtocol.CheckSlots.Instance, _tenant, _lifetime.GlobalSlots);
        if (_watch.Restarted() is { } died)
        {
            _log.Error("the consumer of {Queue} failed while judging message {MessageId} ({Strikes} time(s)); " +
                       "at {Limit} it is dead-lettered instead of judged again", _queue, died.MessageId, died.Strikes, _watch.Limit);
        }
        if (!_queries && _settings.QueryQueue is not null)
        {
            Context.ActorOf(Props(_binding, _poll, _limits, _opCatalog, _ledger, _lifetime, _tenant, _queryWatch, _factory, _time, _parseGiven,
                queries: true), "queries");
        }
        ConnectNow();
    }

    protected override void PostStop()
    {
        _slots?.Dispose();
        // Closing gives every unacked delivery back to the broker, which delivers it again to the next consumer.
        Close();
    }

    private void ConnectNow()
    {
        var generation = _generation;
        var self = Self;
        ConnectAsync(generation, self).PipeTo(self,
            success: r => new QueueConsumerProtocol.Connected(generation, r.Connection, r.Channel),
            failure: e => new QueueConsumerProtocol.ConnectFailed(generation, e));
    }

    private async Task<(IConnection Connection, IChannel Channel)> ConnectAsync(int generation, IActorRef self)
    {
        var connection = await _factory().CreateConnectionAsync().ConfigureAwait(false);
        try
        {
            connection.ConnectionShutdownAsync += (_, e) =>
            {
                self.Tell(new QueueConsumerProtocol.Lost(generation, $"connection closed: {e.ReplyCode} {e.ReplyText}"));
                return Task.CompletedTask;
            };
            // A refused vhost (530) shows only here: the connection call does not wait for connection.open-ok.
            var channel = await connection.CreateChannelAsync().ConfigureAwait(false);
            channel.ChannelShutdownAsync += (_, e) =>
            {
                self.Tell(new QueueConsumerProtocol.Lost(generation, $"channel closed: {e.ReplyCode} {e.ReplyText}"));
                return Task.CompletedTask;
            };
            if (!channel.IsOpen || !connection.IsOpen)
            {
                throw new InvalidOperationException($"closed at once: {(channel.CloseReason ?? connection.CloseReason)?.ReplyText}");
            }
            return (connection, channel);
        }
        catch
        {
            await DisposeQuietly(connection).ConfigureAwait(false);
            throw;
        }
    }

    private void OnConnected(QueueConsumerProtocol.Connected c)
    {
        if (c.Generation != _generation || _channel is not null)
        {
            // A stale attempt (the actor moved on meanwhile): not ours to keep.
            _ = DisposeQuietly(c.Connection);
            return;
        }
        _connection = c.Connection;
        _channel = c.Channel;
        _connectedAt = _time.GetUtcNow();
        _prefetch = 0;
        _consuming = false;
        var generation = _generation;
        var self = Self;
        var consumer = new AsyncEventingBasicConsumer(c.Channel);
        consumer.ReceivedAsync += (_, e) =>
        {
            self.Tell(new QueueConsumerProtocol.Delivered(generation, e.DeliveryTag, e.Body.ToArray(), e.Redelivered));
            return Task.CompletedTask;
        };
        _ops = new ChannelOps(c.Channel, _queue, consumer, generation, self, _log);
        _log.Information("connected to {Broker} as {User}", $"{_settings.Host}:{_settings.Port}/{_settings.VirtualHost}", _settings.User);
        AdjustFlow();
    }

    /// <summary>
    /// Sets the channel's prefetch to the free slots and consumes, or cancels the consumer when no
    /// slot is free (AMQP's prefetch 0 would mean no limit) and looks again shortly.
    /// </summary>
    private void AdjustFlow()
    {
        if (_ops is not { } ops)
        {
            return;
        }
        // Queries take no slot: the query queue's prefetch is fixed. (While the ledger recovers they wait in its stash.)
        var free = _lifetime.Draining ? 0
            : _queries ? _settings.QueryPrefetch
            : Math.Min(_settings.MaxPrefetch, Math.Min(_tenant.Free, _lifetime.GlobalSlots.Free));
        _slots!.Wants = !_lifetime.Draining && !_queries
            && free < Math.Min(_settings.MaxPrefetch, Math.Min(_binding.MaxOperations, _lifetime.GlobalSlots.Capacity));
        if (free == 0)
        {
            if (_consuming)
            {
                _consuming = false;
                ops.Run(o => o.CancelAsync(), "cancel");
            }
            if (!_lifetime.Draining)
            {
                // The ledger recovering (slots closed) or every slot busy: nothing tells when that ends.
                Timers.StartSingleTimer("slot-check", QueueConsumerProtocol.CheckSlots.Instance, _tenant.IsOpen ? _poll.MinInterval : RecoveryRecheck);
            }
            return;
        }
        if (free != _prefetch)
        {
            _prefetch = free;
            // Global (per channel): one limit for every delivery in hand, changed in place without a new consume.
            ops.OnChannel(c => c.BasicQosAsync(0, (ushort)free, global: true), "qos");
        }
        if (!_consuming)
        {
            _consuming = true;
            ops.Run(o => o.ConsumeAsync(), "consume");
        }
        if (!_queries && free < _settings.MaxPrefetch && free < Math.Min(_binding.MaxOperations, _lifetime.GlobalSlots.Capacity))
        {
            // Slots in use free up without a word to the consumer: grow the prefetch when they do.
            Timers.StartSingleTimer("slot-check", QueueConsumerProtocol.CheckSlots.Instance, _poll.MinInterval);
        }
    }

    private void OnDelivered(QueueConsumerProtocol.Delivered d)
    {
        if (d.Generation != _generation || _ops is not { } ops)
        {
            // From a channel that is gone: the broker has requeued it.
            return;
        }
        if (_lifetime.Draining)
        {
            // Shutting down: left unacked, it goes back to the queue when the connection closes.
            return;
        }
        // The same on every redelivery, unlike the delivery tag: what the poison watch counts.
        var bodyId = Convert.ToHexString(SHA256.HashData(d.Body), 0, 16);
        if (_watch.IsPoison(bodyId, out var strikes))
        {
            DeadLetter(d, bodyId, strikes);
            return;
        }
        var messageId = $"{d.Generation}:{d.Tag}:{bodyId}";
        _outstanding[messageId] = d.Tag;
        var (parsed, raw) = Judge(bodyId, d.Body);
        if (parsed.Command is { } command)
        {
            _ledger.Tell(new Offer(command, raw, messageId));
        }
        else
        {
            _ledger.Tell(new OfferRejected(parsed.Rejection!, messageId));
        }
        _round++;
        // If the ledger is down (restarting after a journal fault) the deliveries go back to the queue.
        Timers.StartSingleTimer("offers", new QueueConsumerProtocol.OffersTimedOut(_round), OfferTimeout);
        AdjustFlow();
    }

    /// <summary>The message's verdict (<see cref="PoisonWatch.Judge"/>).</summary>
    private (CommandParseResult Result, ReadOnlyMemory<byte> Raw) Judge(string bodyId, byte[] body) =>
        _watch.Judge(bodyId, () => (_parse(body, _time.GetUtcNow()), body), _log, _queue);

    /// <summary>Ends a message that made the consumer fail <see cref="PoisonWatch.Limit"/> times: logged with the start of its body, and acked unjudged.</summary>
    private void DeadLetter(QueueConsumerProtocol.Delivered d, string bodyId, int strikes)
    {
        var text = Encoding.UTF8.GetString(d.Body, 0, Math.Min(d.Body.Length, 512));
        _log.Error("dead-lettered message {MessageId} of {Queue}: the consumer failed {Strikes} time(s) while judging it; " +
                   "it is removed unjudged. Its body ({Length} bytes) begins: {Preview}",
            bodyId, _queue, strikes, d.Body.Length, text);
        _ops?.OnChannel(c => c.BasicAckAsync(d.Tag, multiple: false).AsTask(), "ack");
    }

    /// <summary>Drops the connection (the broker requeues what was not acked) and connects again after the backoff.</summary>
    private void Reconnect(string reason)
    {
        var uptime = _channel is null ? TimeSpan.Zero : _time.GetUtcNow() - _connectedAt;
        Close();
        if (uptime >= HealthyUptime)
        {
            _reconnect.Reset();
        }
        var delay = _reconnect.Next();
        _log.Warning("consuming {Queue} stopped ({Reason}); reconnecting in {Delay}", _queue, reason, delay);
        Timers.StartSingleTimer("connect", new QueueConsumerProtocol.Connect(_generation), delay);
    }

    /// <summary>Forgets the channel: every message about it from now on carries an older generation.</summary>
    private void Close()
    {
        _generation++;
        _outstanding.Clear();
        Timers.Cancel("offers");
        _consuming = false;
        _prefetch = 0;
        var (connection, ops) = (_connection, _ops);
        (_connection, _channel, _ops) = (null, null, null);
        if (connection is not null)
        {
            // After the ops queued so far (acks among them), so that nothing recorded is handed back for nothing.
            ops?.Run(_ => Task.CompletedTask, "close");
            var closing = ops?.Tail ?? Task.CompletedTask;
            _ = closing.ContinueWith(_ => DisposeQuietly(connection), TaskScheduler.Default).Unwrap();
        }
    }

    private static int GenerationOf(string messageId) => int.Parse(messageId.AsSpan(0, messageId.IndexOf(':')), System.Globalization.CultureInfo.InvariantCulture);

    private static async Task DisposeQuietly(IConnection connection)
    {
        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Serilog.Log.Debug("closing an AMQP connection failed ({Error})", e.Message);
        }
    }

    /// <summary>
    /// Runs one channel's operations one after the other, off the actor's thread, in the order the
    /// actor asked for them (prefetch before the ack it covers, cancel before a new consume). A
    /// failed operation means the channel is unusable: the actor hears <see cref="QueueConsumerProtocol.Lost"/>.
    /// </summary>
    private sealed class ChannelOps(IChannel channel, string queue, AsyncEventingBasicConsumer consumer, int generation, IActorRef self, ILogger log)
    {
        /// <summary>The consumer's tag while the broker delivers to it; touched only by the operations, which never overlap.</summary>
        private string? _tag;

        public Task Tail { get; private set; } = Task.CompletedTask;

        public void OnChannel(Func<IChannel, Task> op, string what) => Run(_ => op(channel), what);

        public void Run(Func<ChannelOps, Task> op, string what)
        {
            Tail = Tail.ContinueWith(async _ =>
            {
                try
                {
                    await op(this).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    log.Debug("{Operation} on the command channel failed ({Error})", what, e.Message);
                    self.Tell(new QueueConsumerProtocol.Lost(generation, $"{what} failed: {e.Message}"));
                }
            }, TaskScheduler.Default).Unwrap();
        }

        public async Task ConsumeAsync()
        {
            if (_tag is not null || !channel.IsOpen)
            {
                return;
            }
            consumer.UnregisteredAsync += OnUnregistered;
            _tag = await channel.BasicConsumeAsync(queue, autoAck: false, consumer).ConfigureAwait(false);
            self.Tell(new QueueConsumerProtocol.Consuming(generation));
        }

        public async Task CancelAsync()
        {
            if (_tag is not { } tag || !channel.IsOpen)
            {
                return;
            }
            // Cleared first: the unregistration that follows is ours, not the broker's.
            _tag = null;
            consumer.UnregisteredAsync -= OnUnregistered;
            await channel.BasicCancelAsync(tag).ConfigureAwait(false);
        }

        private Task OnUnregistered(object sender, ConsumerEventArgs e)
        {
            if (_tag is { } tag && e.ConsumerTags.Contains(tag))
            {
                // The broker cancelled the consumer (queue deleted, failover): consume again on a fresh channel.
                self.Tell(new QueueConsumerProtocol.Lost(generation, "the broker cancelled the consumer"));
            }
            return Task.CompletedTask;
        }
    }
}
