using System.Text.Json.Nodes;
using GuestAgent.Client.Transport;
using GuestAgent.Zaqar;

namespace GuestAgent.Client.Transports.Zaqar;

/// <summary>
/// The controller's transport over Zaqar: a channel is a queue, sending posts a message, receiving
/// claims messages and acknowledging deletes one under its claim. Several clients (one per guest)
/// may share it, each with a reply queue of its own.
/// </summary>
public sealed class ZaqarTransport : IControllerTransport
{
    private readonly ZaqarClient _zaqar;
    private readonly ZaqarTransportOptions _options;

    public ZaqarTransport(ZaqarClient zaqar, ZaqarTransportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(zaqar);
        _zaqar = zaqar;
        _options = options ?? new ZaqarTransportOptions();
        if (_options.WebSocketUrl is { } url && (!url.IsAbsoluteUri || url.Scheme is not ("ws" or "wss")))
        {
            throw new ArgumentException($"WebSocketUrl must be a ws:// or wss:// URL; got '{url}'.", nameof(options));
        }
        if (_options.PushSafetyPoll <= TimeSpan.Zero || _options.PushMaxReconnectDelay <= TimeSpan.Zero || _options.PushRenewInterval <= TimeSpan.Zero
            || _options.PushRenewInterval >= TimeSpan.FromSeconds(_options.PushSubscriptionTtlSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(options),
                "Push intervals must be positive and the renew interval shorter than the subscription TTL.");
        }
    }

    /// <summary>The Zaqar client this transport talks through.</summary>
    public ZaqarClient Client => _zaqar;

    public void CheckChannelName(string channel) => ZaqarLimits.CheckQueueName(channel);

    public void CheckReceiveSettings(ReceiveSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.MaxMessages is < ZaqarLimits.MinClaimLimit or > ZaqarLimits.MaxClaimLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(GuestClientOptions.ReplyClaimLimit), settings.MaxMessages,
                $"Zaqar claims {ZaqarLimits.MinClaimLimit}..{ZaqarLimits.MaxClaimLimit} messages.");
        }
        if (Seconds(settings.Lease) is < ZaqarLimits.MinClaimTtlSeconds or > ZaqarLimits.MaxClaimTtlSeconds
            || Seconds(settings.Grace) is < ZaqarLimits.MinClaimGraceSeconds or > ZaqarLimits.MaxClaimGraceSeconds)
        {
            throw new ArgumentOutOfRangeException(nameof(GuestClientOptions.ReplyClaimTtlSeconds),
                $"Zaqar accepts claim ttl and grace of {ZaqarLimits.MinClaimTtlSeconds} .. {ZaqarLimits.MaxClaimTtlSeconds} s.");
        }
    }

    public async Task EnsureReplyChannelAsync(string channel, CancellationToken ct) =>
        await _zaqar.CreateQueueAsync(channel, _options.ReplyQueueOptions, ct).ConfigureAwait(false);

    public async Task SendAsync(string channel, JsonNode body, TimeSpan timeToLive, CancellationToken ct)
    {
        // Zaqar keeps a message 60 s .. 14 days: a shorter command still expires by its expires_at.
        var ttlSeconds = (int)Math.Clamp(Math.Ceiling(timeToLive.TotalSeconds), ZaqarLimits.MinMessageTtlSeconds, ZaqarLimits.MaxMessageTtlSeconds);
        await _zaqar.PostAsync(channel, new OutgoingMessage(body, ttlSeconds), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<TransportMessage>> ReceiveAsync(string channel, ReceiveSettings settings, CancellationToken ct)
    {
        var claim = await _zaqar.ClaimAsync(channel, settings.MaxMessages, Seconds(settings.Lease), Seconds(settings.Grace), ct)
            .ConfigureAwait(false);
        if (claim.IsEmpty)
        {
            return [];
        }
        var messages = new TransportMessage[claim.Messages.Count];
        for (var i = 0; i < messages.Length; i++)
        {
            messages[i] = new ClaimedMessage(_zaqar, channel, claim.Messages[i], claim.Id);
        }
        return messages;
    }

    /// <summary>Set once Zaqar refused a batch delete (a policy, or a pre-signed URL without it): one by one from then on.</summary>
    private volatile bool _batchDeleteRefused;

    /// <summary>
    /// Deletes the messages of one claim in requests of up to <see cref="ZaqarLimits.MaxPageSize"/>
    /// (<c>DELETE .../messages?ids=..&amp;claim_ids=..</c>) instead of one request each.
    /// </summary>
    public async Task<bool> TryAcknowledgeManyAsync(IReadOnlyList<TransportMessage> messages, CancellationToken ct)
    {
        if (_batchDeleteRefused || messages.Count < 2 || messages.Any(m => m is not ClaimedMessage))
        {
            return false;
        }
        try
        {
            foreach (var group in messages.Cast<ClaimedMessage>().GroupBy(m => m.Queue))
            {
                foreach (var batch in group.Chunk(ZaqarLimits.MaxPageSize))
                {
                    await _zaqar.DeleteManyAsync(group.Key, [.. batch.Select(m => m.Id)],
                        [.. batch.Select(m => m.ClaimId).OfType<string>().Distinct()], ct).ConfigureAwait(false);
                }
            }
            return true;
        }
        catch (ZaqarException e) when (ZaqarClient.RefusesDeleteMany(e))
        {
            _batchDeleteRefused = true;
            return false;
        }
    }

    /// <summary>
    /// Only <see cref="ZaqarException"/> is Zaqar's failure: no response and 5xx are transient,
    /// any other status (401, 403, 404 for a wrong or expired pre-signed URL ...) is not.
    /// </summary>
    public TransportErrorKind Classify(Exception error) => error switch
    {
        ZaqarException { IsTransient: true } => TransportErrorKind.Transient,
        ZaqarException => TransportErrorKind.Permanent,
        _ => TransportErrorKind.NotTransport,
    };

    /// <summary>
    /// A push subscription to the reply queue over <see cref="ZaqarTransportOptions.WebSocketUrl"/>;
    /// null without one. Null with pre-signed URL auth too: Zaqar refuses subscriptions made with
    /// them (403), and a signature sent over the socket is not confined to its queue, so it must
    /// never go there; such a client polls.
    /// </summary>
    public IChannelWatch? WatchReplyChannel(string channel) =>
        _options.WebSocketUrl is { } url && _zaqar.Options.Auth is not ZaqarAuth.PreSigned
            ? new ZaqarReplyPush(_zaqar, channel, url, _options)
            : null;

    private static int Seconds(TimeSpan t) => (int)Math.Ceiling(t.TotalSeconds);

    /// <summary>A message under a claim of this transport's reply queue.</summary>
    private sealed class ClaimedMessage(ZaqarClient zaqar, string queue, QueueMessage message, string? claimId)
        : TransportMessage(message.Id, message.Body, message.BodyError, TimeSpan.FromSeconds(message.AgeSeconds))
    {
        public string Queue => queue;

        public string? ClaimId => claimId ?? message.ClaimId;

        public override Task AcknowledgeAsync(CancellationToken ct) => zaqar.DeleteAsync(queue, message.Id, ClaimId, ct);

        /// <summary>
        /// Nothing to do: the message comes back when its claim expires. Releasing the claim itself
        /// would free the claim's other messages too, and hand this one straight back to the same
        /// loop that just left it.
        /// </summary>
        public override Task ReleaseAsync(CancellationToken ct) => Task.CompletedTask;
    }
}
