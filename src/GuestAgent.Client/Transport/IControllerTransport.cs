using System.Text.Json.Nodes;

namespace GuestAgent.Client.Transport;

/// <summary>
/// What a <see cref="GuestClient"/> needs from a message transport: put a command on a guest's
/// command channel, and take replies off this controller's reply channel, each acknowledged once
/// handled. Channels go by the protocol's queue names (a command's <c>reply_to</c> is one). The
/// client owns everything above this (signing, routing by command id, deduplication, chunk
/// reassembly, timeouts), so a transport only moves JSON bodies and says which of its failures
/// are worth retrying. One transport may serve many clients at once: implementations are thread-safe.
/// </summary>
public interface IControllerTransport
{
    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="channel"/> is no name this transport can send to.</summary>
    void CheckChannelName(string channel);

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> when this transport cannot receive with
    /// <paramref name="settings"/>; checked when a client is created, so bad options fail early.
    /// </summary>
    void CheckReceiveSettings(ReceiveSettings settings);

    /// <summary>Makes sure the reply channel exists (idempotent); called before the first command that asks for replies there.</summary>
    Task EnsureReplyChannelAsync(string channel, CancellationToken ct);

    /// <summary>
    /// Puts one command body on a guest's command channel. The transport drops it unread after
    /// about <paramref name="timeToLive"/> (rounded into what it supports); the command's own
    /// <c>expires_at</c> is what the agent goes by.
    /// </summary>
    Task SendAsync(string channel, JsonNode body, TimeSpan timeToLive, CancellationToken ct);

    /// <summary>
    /// Takes up to <see cref="ReceiveSettings.MaxMessages"/> messages off the reply channel without
    /// waiting for more; an empty list when there are none. Each message stays reserved for this
    /// receiver until it is acknowledged or released (or its lease runs out).
    /// </summary>
    Task<IReadOnlyList<TransportMessage>> ReceiveAsync(string channel, ReceiveSettings settings, CancellationToken ct);

    /// <summary>
    /// Acknowledges several messages one <see cref="ReceiveAsync"/> of this transport returned, in
    /// as few requests as the transport can; false (the default) when it cannot, and the caller
    /// acknowledges them one by one. A failure leaves the caller to do the same.
    /// </summary>
    Task<bool> TryAcknowledgeManyAsync(IReadOnlyList<TransportMessage> messages, CancellationToken ct) => Task.FromResult(false);

    /// <summary>
    /// What <paramref name="error"/>, thrown by this transport, means: a transient failure may
    /// succeed when tried again, a permanent one (refused credentials, a missing channel) will not.
    /// Exceptions that are not this transport's are <see cref="TransportErrorKind.NotTransport"/>.
    /// </summary>
    TransportErrorKind Classify(Exception error);

    /// <summary>
    /// Starts watching the reply channel (which exists by then) for new messages, e.g. over a push
    /// connection; called once by the reply listener, which disposes the watch when it stops. Null,
    /// the default, when the transport cannot announce messages: the listener then polls.
    /// </summary>
    IChannelWatch? WatchReplyChannel(string channel) => null;
}
