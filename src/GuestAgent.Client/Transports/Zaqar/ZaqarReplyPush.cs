using GuestAgent.Protocol;
using GuestAgent.Client.Transport;
using GuestAgent.Zaqar;

namespace GuestAgent.Client.Transports.Zaqar;

/// <summary>
/// Keeps a WebSocket subscription to one reply queue and announces each notification to the reply
/// listener (<see cref="IChannelWatch"/>). A notification is only a hint to read the queue over
/// HTTP: its body is never looked at (Zaqar's notification port takes anyone's posts), so replies
/// are only what a claim returns, checked and deduplicated as without push.
/// Zaqar does not replay: a message posted while no subscription exists is never pushed, so coming
/// up (after subscribing) is announced too, and the listener reads what waited. The subscription's
/// TTL is renewed over HTTP (the one way; an expired one stops pushes silently), which also notices
/// one deleted behind its back. When the socket cannot connect, is refused or closes, it is down
/// (the listener polls) and reconnects with backoff; a keystone token's expiry (close 4003) is
/// routine and reconnects at once with the token source's current token.
/// </summary>
internal sealed class ZaqarReplyPush : IChannelWatch
{

    private readonly ZaqarClient _zaqar;
    private readonly string _queue;
    private readonly Uri _url;
    private readonly ZaqarTransportOptions _options;
    private readonly ReconnectBackoff _reconnect;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _live;
    private volatile bool _wanted = true;
    private TaskCompletionSource _wantedChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>How a socket closed on purpose, because announcements are not wanted for now, ends.</summary>
    private static readonly ZaqarSocketEnd Paused = new(null, "not wanted while many calls are in flight");
    private long _announcements;
    private long _lastImmediate = -10_000;

    public ZaqarReplyPush(ZaqarClient zaqar, string queue, Uri url, ZaqarTransportOptions options)
    {
        _zaqar = zaqar;
        _queue = queue;
        _url = url;
        _options = options;
        _reconnect = new ReconnectBackoff(options.PushMaxReconnectDelay);
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    public bool IsLive => _live;

    public TimeSpan SafetyPollInterval => _options.PushSafetyPoll;

    public Task Changed => Volatile.Read(ref _changed).Task;

    public long Announcements => Interlocked.Read(ref _announcements);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>
    /// Unwanted: the socket is closed (which makes Zaqar delete the subscription at once, so its
    /// notifier stops posting this queue's messages) and the listener polls; wanted again: it
    /// subscribes anew and announces coming up, so that the listener reads what came meanwhile.
    /// </summary>
    public void SetWanted(bool wanted)
    {
        if (_wanted != wanted)
        {
            _wanted = wanted;
            Interlocked.Exchange(ref _wantedChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    private void Announce() =>
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private void SetLive(bool live)
    {
        if (_live != live)
        {
            _live = live;
            Announce();
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            ZaqarSocketEnd? end = null;
            try
            {
                var wantedChanged = Volatile.Read(ref _wantedChanged).Task;
                if (!_wanted)
                {
                    await wantedChanged.WaitAsync(stop).ConfigureAwait(false);
                    continue;
                }
                end = await SubscribeAndWatchAsync(stop).ConfigureAwait(false);
                if (ReferenceEquals(end, Paused))
                {
                    // On purpose, not a fault: no back-off, and subscribing again as soon as it is wanted.
                    continue;
                }
                Tell(new ZaqarException("WebSocket", _url.ToString(), null, "Push stopped", end.Reason));
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Refused, unreachable, or subscribing failed: poll meanwhile.
                Tell(e);
            }
            finally
            {
                SetLive(false);
            }
            if (end?.CloseCode == ZaqarSocketEnd.TokenExpired && Environment.TickCount64 - _lastImmediate > 10_000)
            {
                // Routine: the next connection authenticates with the token source's current token.
                // Not twice within 10 s, though: a token that keeps expiring at once must not spin.
                _lastImmediate = Environment.TickCount64;
                continue;
            }
            try
            {
                await Task.Delay(_reconnect.Next(), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Connects, subscribes and announces until the socket ends; returns how it ended.</summary>
    private async Task<ZaqarSocketEnd> SubscribeAndWatchAsync(CancellationToken stop)
    {
        // Disposing closes the socket cleanly, which makes Zaqar delete its subscription at once.
        await using var socket = await ZaqarPushSocket.ConnectAsync(new ZaqarPushSocketOptions
        {
            Url = _url,
            ClientId = _zaqar.Options.ClientId,
            Auth = _zaqar.Options.Auth,
        }, stop).ConfigureAwait(false);
        var id = await socket.SubscribeAsync(_queue, _options.PushSubscriptionTtlSeconds, ct: stop).ConfigureAwait(false);
        _reconnect.Reset();
        SetLive(true);
        var pump = PumpAsync(socket);
        var renewAt = Environment.TickCount64 + (long)_options.PushRenewInterval.TotalMilliseconds;
        while (true)
        {
            using var renew = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var due = Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, renewAt - Environment.TickCount64)), renew.Token);
            var wantedChanged = Volatile.Read(ref _wantedChanged).Task;
            if (!_wanted)
            {
                SetLive(false);
                return Paused; // disposing the socket deletes the subscription
            }
            var first = await Task.WhenAny(socket.Closed, due, wantedChanged).ConfigureAwait(false);
            await renew.CancelAsync().ConfigureAwait(false);
            stop.ThrowIfCancellationRequested();
            if (first == socket.Closed)
            {
                await pump.ConfigureAwait(false);
                return await socket.Closed.ConfigureAwait(false);
            }
            if (first == wantedChanged)
            {
                continue;
            }
            renewAt = Environment.TickCount64 + (long)_options.PushRenewInterval.TotalMilliseconds;
            bool exists;
            try
            {
                exists = await _zaqar.RenewSubscriptionAsync(_queue, id, _options.PushSubscriptionTtlSeconds, stop).ConfigureAwait(false);
            }
            catch (ZaqarException e)
            {
                // Zaqar's HTTP side is down or refuses: the next renewal tries again, well within the TTL.
                Tell(e);
                continue;
            }
            if (!exists)
            {
                // Expired or deleted behind our back: pushes stopped, so read what came meanwhile once subscribed again.
                id = await socket.SubscribeAsync(_queue, _options.PushSubscriptionTtlSeconds, ct: stop).ConfigureAwait(false);
                Announce();
            }
        }
    }

    private async Task PumpAsync(ZaqarPushSocket socket)
    {
        // Ends when the socket does.
        await foreach (var _ in socket.Notifications.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            Interlocked.Increment(ref _announcements);
            Announce();
        }
    }

    private void Tell(Exception e)
    {
        try
        {
            _options.OnPushError?.Invoke(e);
        }
        catch (Exception)
        {
            // A faulty handler must not stop push.
        }
    }
}
