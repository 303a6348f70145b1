using GuestAgent.Protocol;
using Akka.Actor;
using GuestAgent.Zaqar;
using Serilog;

namespace GuestAgent.Agent.Transports.Zaqar.Push;

public static class CommandQueuePushProtocol
{
    /// <summary>From the poller: a safety-net claim found commands no push announced; the subscription may be gone.</summary>
    public sealed record Check
    {
        public static readonly Check Instance = new();
    }

    internal sealed record Connect(int Generation);

    internal sealed record Subscribed(ZaqarPushSocket Socket, string SubscriptionId, int Generation);

    internal sealed record ConnectFailed(Exception Cause, int Generation);

    internal sealed record Notified(int Generation);

    internal sealed record Ended(ZaqarSocketEnd End, int Generation);

    internal sealed record Renew;

    internal sealed record Renewed(bool Exists, int Generation);

    internal sealed record RenewFailed(Exception Cause, int Generation);

    internal sealed record Resubscribed(string SubscriptionId, int Generation);
}

/// <summary>
/// Keeps a WebSocket subscription to one binding's command queue and tells its parent, the
/// <see cref="QueuePoller"/>, when push is up (<see cref="QueuePollerProtocol.PushUp"/>: drain, then
/// poll only as a safety net), down (<see cref="QueuePollerProtocol.PushDown"/>: poll as without push)
/// and when a message was announced (<see cref="QueuePollerProtocol.Pushed"/>: claim now).
/// A notification is a hint, never a command: its body is not read (anyone who reaches Zaqar's
/// notification port can forge one); what runs is only what the poller claims over HTTP.
/// It subscribes with a short notification retry policy, renews the subscription over HTTP before
/// its TTL runs out (no socket action does, and an expired one stops pushes silently), which also
/// notices one deleted behind its back, pings (a half-dead connection loses pushes silently), and
/// reconnects with backoff.
/// </summary>
public sealed class CommandQueuePush : ReceiveActor, IWithTimers
{

    /// <summary>Checks asked for by the poller are at most this frequent.</summary>
    private static readonly TimeSpan MinCheckInterval = TimeSpan.FromSeconds(30);

    private readonly string _queue;
    private readonly ZaqarPush _push;
    private readonly ZaqarClient _zaqar;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private int _generation;
    private ZaqarPushSocket? _socket;
    private string? _subscriptionId;
    private readonly ReconnectBackoff _reconnect;
    private int _failures;
    private bool _renewing;
    private DateTimeOffset _lastCheck = DateTimeOffset.MinValue;

    public CommandQueuePush(string tenant, string queue, ZaqarPush push, ZaqarClient zaqar, TimeProvider time)
    {
        _queue = queue;
        _push = push;
        _reconnect = new ReconnectBackoff(push.MaxReconnectDelay);
        _zaqar = zaqar;
        _time = time;
        _log = Serilog.Log.ForContext("Tenant", tenant).ForContext("SourceContext", "CommandQueuePush");

        Receive<CommandQueuePushProtocol.Connect>(c =>
        {
            if (c.Generation == _generation && _socket is null)
            {
                ConnectAndSubscribeAsync(_generation).PipeTo(Self, failure: e => new CommandQueuePushProtocol.ConnectFailed(e, c.Generation));
            }
        });
        Receive<CommandQueuePushProtocol.Subscribed>(s =>
        {
            if (s.Generation != _generation)
            {
                _ = s.Socket.DisposeAsync().AsTask();
                return;
            }
            _socket = s.Socket;
            _subscriptionId = s.SubscriptionId;
            _reconnect.Reset();
            _log.Information("push: subscribed to {Queue} over {Url}{Again}; claims follow each announced message, with a safety-net poll every {SafetyPoll}",
                _queue, _push.Url, _failures > 0 ? $" (after {_failures} failed attempt(s))" : "", _push.SafetyPoll);
            _failures = 0;
            Context.Parent.Tell(new QueuePollerProtocol.PushUp());
            Pump(s.Socket, s.Generation);
            Timers.StartPeriodicTimer("renew", new CommandQueuePushProtocol.Renew(), _push.RenewInterval);
        });
        Receive<CommandQueuePushProtocol.ConnectFailed>(f =>
        {
            if (f.Generation != _generation)
            {
                return;
            }
            _failures++;
            ScheduleReconnect();
            var why = f.Cause is ZaqarException z ? z.Message : $"{f.Cause.GetType().Name}: {f.Cause.Message}";
            if (_failures == 1)
            {
                _log.Warning("push over {Url} is unavailable ({Error}); the binding polls meanwhile; next try in {Delay}", _push.Url, why, _reconnect.Current);
            }
            else
            {
                _log.Debug("push over {Url} still unavailable ({Error}, attempt {Attempt}); next try in {Delay}", _push.Url, why, _failures, _reconnect.Current);
            }
        });
        Receive<CommandQueuePushProtocol.Notified>(n =>
        {
            if (n.Generation == _generation)
            {
                Context.Parent.Tell(QueuePollerProtocol.Pushed.Instance);
            }
        });
        Receive<CommandQueuePushProtocol.Ended>(e =>
        {
            if (e.Generation != _generation)
            {
                return;
            }
            var expired = e.End.CloseCode == ZaqarSocketEnd.TokenExpired;
            _log.Warning("push over {Url} stopped: {Reason}{Token}; the binding polls until it is back", _push.Url, e.End.Reason,
                expired ? " (the keystone token expired: authenticating again)" : "");
            Down();
            // Token expiry is routine: come back at once with the current token; anything else backs off.
            if (expired)
            {
                Self.Tell(new CommandQueuePushProtocol.Connect(_generation));
            }
            else
            {
                ScheduleReconnect();
            }
        });
        Receive<CommandQueuePushProtocol.Renew>(_ => RenewNow());
        Receive<CommandQueuePushProtocol.Check>(_ =>
        {
            if (_socket is not null && _time.GetUtcNow() - _lastCheck >= MinCheckInterval)
            {
                _lastCheck = _time.GetUtcNow();
                _log.Debug("a safety-net claim on {Queue} found commands no push announced: checking the subscription", _queue);
                RenewNow();
            }
        });
        Receive<CommandQueuePushProtocol.Renewed>(r =>
        {
            _renewing = false;
            if (r.Generation != _generation || _socket is not { } socket || r.Exists)
            {
                return;
            }
            _log.Warning("push: the subscription to {Queue} is gone (expired or deleted); subscribing again", _queue);
            Context.Parent.Tell(new QueuePollerProtocol.PushDown("the subscription is gone"));
            var generation = _generation;
            socket.SubscribeAsync(_queue, _push.SubscriptionTtlSeconds).PipeTo(Self,
                success: id => new CommandQueuePushProtocol.Resubscribed(id, generation),
                failure: e => new CommandQueuePushProtocol.Ended(new ZaqarSocketEnd(null, $"subscribing again failed: {e.Message}"), generation));
        });
        Receive<CommandQueuePushProtocol.Resubscribed>(r =>
        {
            if (r.Generation == _generation && _socket is not null)
            {
                _subscriptionId = r.SubscriptionId;
                _log.Information("push: subscribed to {Queue} again", _queue);
                Context.Parent.Tell(new QueuePollerProtocol.PushUp());
            }
        });
        Receive<CommandQueuePushProtocol.RenewFailed>(f =>
        {
            _renewing = false;
            if (f.Generation == _generation)
            {
                // Zaqar's HTTP side is down or refuses: the next renewal tries again, well within the TTL.
                _log.Warning("push: renewing the subscription to {Queue} failed ({Error}); trying again in {Interval}",
                    _queue, f.Cause.Message, _push.RenewInterval);
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string tenant, string queue, ZaqarPush push, ZaqarClient zaqar, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new CommandQueuePush(tenant, queue, push, zaqar, time));

    protected override void PreStart() => Self.Tell(new CommandQueuePushProtocol.Connect(_generation));

    protected override void PostStop()
    {
        // A clean close makes Zaqar delete the subscription at once.
        _socket?.DisposeAsync().AsTask();
        _socket = null;
    }

    private async Task<CommandQueuePushProtocol.Subscribed> ConnectAndSubscribeAsync(int generation)
    {
        var socket = await ZaqarPushSocket.ConnectAsync(new ZaqarPushSocketOptions
        {
            Url = _push.Url,
            ClientId = _zaqar.Options.ClientId,
            Auth = _zaqar.Options.Auth,
            PingInterval = _push.PingInterval,
            PingTimeout = _push.PingTimeout,
        }).ConfigureAwait(false);
        try
        {
            var id = await socket.SubscribeAsync(_queue, _push.SubscriptionTtlSeconds).ConfigureAwait(false);
            return new CommandQueuePushProtocol.Subscribed(socket, id, generation);
        }
        catch
        {
            await socket.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Turns the socket's notifications, then its end, into messages of this generation.</summary>
    private void Pump(ZaqarPushSocket socket, int generation)
    {
        var self = Self;
        _ = Task.Run(async () =>
        {
            await foreach (var _ in socket.Notifications.ReadAllAsync().ConfigureAwait(false))
            {
                self.Tell(new CommandQueuePushProtocol.Notified(generation));
            }
            self.Tell(new CommandQueuePushProtocol.Ended(await socket.Closed.ConfigureAwait(false), generation));
        });
    }

    private void RenewNow()
    {
        if (_socket is null || _subscriptionId is not { } id || _renewing)
        {
            return;
        }
        _renewing = true;
        var generation = _generation;
        _zaqar.RenewSubscriptionAsync(_queue, id, _push.SubscriptionTtlSeconds).PipeTo(Self,
            success: exists => new CommandQueuePushProtocol.Renewed(exists, generation),
            failure: e => new CommandQueuePushProtocol.RenewFailed(e, generation));
    }

    /// <summary>Drops the socket (its messages are ignored from now on) and tells the poller to poll.</summary>
    private void Down()
    {
        _generation++;
        Timers.Cancel("renew");
        _renewing = false;
        if (_socket is { } socket)
        {
            _socket = null;
            _subscriptionId = null;
            _ = socket.DisposeAsync().AsTask();
        }
        Context.Parent.Tell(new QueuePollerProtocol.PushDown("the socket closed"));
    }

    private void ScheduleReconnect()
    {
        Timers.StartSingleTimer("reconnect", new CommandQueuePushProtocol.Connect(_generation), _reconnect.Next());
    }
}
