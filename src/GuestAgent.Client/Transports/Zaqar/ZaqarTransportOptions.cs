using GuestAgent.Zaqar;

namespace GuestAgent.Client.Transports.Zaqar;

/// <summary>Settings of a <see cref="ZaqarTransport"/> that only Zaqar has.</summary>
public sealed record ZaqarTransportOptions
{
    /// <summary>Metadata of a reply queue when the transport creates it (e.g. a dead-letter queue, a default TTL).</summary>
    public QueueOptions? ReplyQueueOptions { get; init; }
}
