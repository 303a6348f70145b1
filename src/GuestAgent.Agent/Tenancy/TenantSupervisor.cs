using Akka.Actor;
using Akka.Pattern;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Outbox;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Transport;
using GuestAgent.Agent.Transports;

namespace GuestAgent.Agent.Tenancy;

/// <summary>
/// One tenant binding: its transport, ledger, receiver and outbox. Everything of one tenant
/// lives under this actor, so a failing or slow tenant never touches another.
/// </summary>
public sealed class TenantSupervisor : ReceiveActor
{
    public TenantSupervisor(AgentSettings settings, TenantBinding binding, AgentLifetime lifetime,
        GuestPlatform platform, DateTimeOffset startedAt, TimeProvider time)
    {
        var transport = (TransportRegistry.Find(binding.Transport)
                ?? throw new InvalidOperationException($"binding {binding.Name} names transport '{binding.Transport}', which this agent does not have"))
            .Create(binding, settings, platform, time);
        lifetime.Metrics.Bind(binding.Name);
        // Closed until the ledger has recovered: its recovered commands come first.
        var tenantSlots = new OperationSlots(binding.MaxOperations, open: false);
        var replies = new ReplyFactory(settings.Name, time);
        var outbox = Context.ActorOf(ReplyOutbox.Props(binding, transport.Replies, replies, settings.ReplyTtlSeconds, settings.Poll.MaxFaultBackoff,
            lifetime.Metrics), "outbox");
        var context = new LedgerContext(settings, binding, lifetime.GlobalSlots, tenantSlots, replies, platform, startedAt, time)
        {
            OnlyReplyQueue = transport.OnlyReplyQueue,
            Credentials = transport.Credentials,
            Metrics = lifetime.Metrics,
        };
        foreach (var (name, props) in transport.Companions)
        {
            Context.ActorOf(props, name);
        }
        // A persistence failure stops the ledger (Akka cannot know whether the write landed);
        // the backoff supervisor starts it again and recovery takes it from the journal.
        var ledger = Context.ActorOf(BackoffSupervisor.Props(Backoff.OnStop(
            CommandLedger.Props(context, outbox), "ledger", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, -1)), "ledger");
        // The receiver restarts after a fault with backoff; what it had received and not offered
        // is released (or redelivered) by its transport.
        var receiver = transport.ReceiverProps(new ReceiverContext(binding, settings.Poll, settings.CommandLimitsFor(binding), settings.Blocks,
            ledger, lifetime, tenantSlots, settings.StateDir, time));
        Context.ActorOf(BackoffSupervisor.Props(Backoff.OnFailure(receiver, "poller", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, -1)), "poller");
    }

    public static Props Props(AgentSettings settings, TenantBinding binding, AgentLifetime lifetime,
        GuestPlatform platform, DateTimeOffset startedAt, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new TenantSupervisor(settings, binding, lifetime, platform, startedAt, time));
}
