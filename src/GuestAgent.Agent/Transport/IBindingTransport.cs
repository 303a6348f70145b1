using System.Text.Json.Nodes;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Tenancy;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;

namespace GuestAgent.Agent.Transport;

/// <summary>
/// How one tenant binding's commands arrive and its replies leave: the one seam between the
/// agent's core (ledger, outbox, operations) and a message transport (Zaqar today). A transport
/// is made for a binding by its <see cref="ITransportFactory"/> and used by the binding's
/// <see cref="Tenancy.TenantSupervisor"/> only.
/// </summary>
public interface IBindingTransport
{
    /// <summary>The transport's name in configuration (a binding's <c>transport</c>).</summary>
    string Name { get; }

    /// <summary>
    /// The actor that receives the binding's commands: it offers each to the ledger
    /// (<see cref="CommandLedgerProtocol.Offer"/>, or <see cref="CommandLedgerProtocol.OfferRejected"/>
    /// for a body that does not parse), acknowledges (removes) a message only once the ledger has
    /// answered <see cref="CommandLedgerProtocol.Offered"/>, and releases what it received but could
    /// not offer, so that nothing is lost if the agent stops. It takes no more commands at a time
    /// than the binding's and the agent's free slots.
    /// </summary>
    Props ReceiverProps(ReceiverContext context);

    /// <summary>Where replies are posted.</summary>
    IReplyChannel Replies { get; }

    /// <summary>Further actors the transport needs beside the receiver (e.g. a watch on expiring credentials), by name.</summary>
    IReadOnlyList<(string Name, Props Props)> Companions { get; }

    /// <summary>
    /// The only reply queue this guest can post to, when its credentials reach no other (a command
    /// naming another reply_to is refused, and answered there); null when it can post anywhere.
    /// </summary>
    string? OnlyReplyQueue { get; }

    /// <summary>The guest's renewable credentials for this transport, when it has such (the <c>credentials</c> op); null otherwise.</summary>
    ICredentialsRenewal? Credentials { get; }
}

/// <summary>What a binding's receiver works with.</summary>
/// <param name="Ops">What the parser knows: the agent's block registry.</param>
/// <param name="Ledger">The binding's ledger: offers go there.</param>
/// <param name="TenantSlots">The binding's operation slots (the agent's are in <paramref name="Lifetime"/>).</param>
public sealed record ReceiverContext(TenantBinding Binding, PollSettings Poll, ProtocolLimits Limits, IOpCatalog Ops, IActorRef Ledger,
    AgentLifetime Lifetime, OperationSlots TenantSlots, string StateDir, TimeProvider Time);

/// <summary>One reply as the outbox hands it to a transport: its JSON and how long it may wait for its reader.</summary>
public sealed record OutboundReply(JsonNode Body, int TtlSeconds);

/// <summary>Posts replies to the transport, several at once where they fit.</summary>
public interface IReplyChannel
{
    /// <summary>The largest post the transport takes, in bytes of <see cref="SizeOf"/>: one reply never exceeds it.</summary>
    int MaxPostBytes { get; }

    /// <summary>The size of posting <paramref name="batch"/> at once, as the transport counts it against <see cref="MaxPostBytes"/>.</summary>
    int SizeOf(IReadOnlyList<OutboundReply> batch);

    /// <summary>
    /// Posts <paramref name="batch"/> to <paramref name="queue"/>, all or nothing. Throws
    /// <see cref="ReplyPostException"/>: <see cref="ReplyPostException.Permanent"/> when the
    /// transport will never take it (retrying cannot help), otherwise a fault worth retrying.
    /// </summary>
    Task PostAsync(string queue, IReadOnlyList<OutboundReply> batch, CancellationToken ct = default);
}

/// <summary>A post of replies failed; <see cref="Permanent"/>: the transport will refuse it every time.</summary>
public sealed class ReplyPostException(string message, bool permanent, Exception? inner = null) : Exception(message, inner)
{
    public bool Permanent { get; } = permanent;
}

/// <summary>A guest's credentials on its transport that a signed <c>credentials</c> command renews.</summary>
public interface ICredentialsRenewal
{
    /// <summary>When the credentials in use expire (the earliest of them); ping reports it.</summary>
    DateTimeOffset ExpiresAt { get; }

    /// <summary>
    /// Checks the new credentials, proves them on the transport, keeps them, then switches to them;
    /// until all of that succeeded the old ones stay in use.
    /// </summary>
    Task<CredentialsOutcome> RenewAsync(CredentialsArgs args, CancellationToken ct);
}

/// <summary>What a <c>credentials</c> command came to: the result, or a code and why the old credentials stay.</summary>
public sealed record CredentialsOutcome(CredentialsResult? Result, string? Code, string? Error);
