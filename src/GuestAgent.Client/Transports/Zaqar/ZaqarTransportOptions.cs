using GuestAgent.Zaqar;

namespace GuestAgent.Client.Transports.Zaqar;

/// <summary>Settings of a <see cref="ZaqarTransport"/> that only Zaqar has.</summary>
public sealed record ZaqarTransportOptions
{
    /// <summary>Metadata of a reply queue when the transport creates it (e.g. a dead-letter queue, a default TTL).</summary>
    public QueueOptions? ReplyQueueOptions { get; init; }

    /// <summary>
    /// Zaqar's WebSocket endpoint (e.g. ws://127.0.0.1:9000). When set, a client's reply listener
    /// subscribes its reply queue there and reads the queue as soon as Zaqar announces a message,
    /// polling only every <see cref="PushSafetyPoll"/>; whenever the socket is down it polls as
    /// without it. Ignored with pre-signed URL auth (see <see cref="ZaqarTransport.WatchReplyChannel"/>).
    /// </summary>
    public Uri? WebSocketUrl { get; init; }

    /// <summary>How often the reply queue is read anyway while push is up: a notification can be lost.</summary>
    public TimeSpan PushSafetyPoll { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The subscription's TTL. Renewed over HTTP every <see cref="PushRenewInterval"/> (no socket
    /// action does, and an expired one stops pushes silently); kept short because a controller
    /// that dies uncleanly leaves it behind until it runs out.
    /// </summary>
    public int PushSubscriptionTtlSeconds { get; init; } = 600;

    /// <summary>How often the subscription's TTL is renewed; well within <see cref="PushSubscriptionTtlSeconds"/>.</summary>
    public TimeSpan PushRenewInterval { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>Reconnecting after a failure waits 1 s, doubling up to this.</summary>
    public TimeSpan PushMaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Told when push fails to connect or subscribe, or stops (the listener polls meanwhile); its exceptions are swallowed.</summary>
    public Action<Exception>? OnPushError { get; init; }
}
