using Akka.Actor;
using Akka.Pattern;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Credentials;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Outbox;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Polling;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tenancy;

/// <summary>
/// One tenant binding: its Zaqar client, ledger, poller and outbox. Everything of one tenant
/// lives under this actor, so a failing or slow tenant never touches another.
/// </summary>
public sealed class TenantSupervisor : ReceiveActor
{
    public TenantSupervisor(AgentSettings settings, TenantBinding binding, AgentLifetime lifetime, Guid clientId,
        GuestPlatform platform, DateTimeOffset startedAt, TimeProvider time)
    {
        var globalSlots = lifetime.GlobalSlots;
        // Pre-signed: one client holds both URLs; it picks, per request, the one whose paths and
        // methods cover it (claims and deletes: the command queue's, reply posts: the reply queue's).
        // A credentials command swaps them while the client is in use.
        var credentials = binding.Auth.Mode == "presigned"
            ? new GuestCredentials(binding.Auth.CommandQueueUrl!, binding.Auth.ReplyQueueUrl!)
            : null;
        ZaqarAuth auth = binding.Auth.Mode switch
        {
            "keystone" => ZaqarAuth.Keystone.WithToken(binding.Auth.Token!, binding.Project),
            "presigned" => new ZaqarAuth.PreSigned(credentials!.Zaqar),
            _ => new ZaqarAuth.None(binding.Project),
        };
        var zaqar = new ZaqarClient(new ZaqarClientOptions
        {
            Endpoint = binding.Endpoint,
            ClientId = clientId,
            Auth = auth,
            MaxAttempts = 3,
            RequestTimeout = TimeSpan.FromSeconds(20),
            TimeProvider = time,
            MaxConnections = settings.ZaqarConnections,
        });
        var tenantSlots = new OperationSlots(binding.MaxOperations);
        var replies = new ReplyFactory(settings.Name, time);
        var outbox = Context.ActorOf(ReplyOutbox.Props(binding, zaqar, replies, settings.ReplyTtlSeconds, settings.Poll.MaxFaultBackoff), "outbox");
        var context = new LedgerContext(settings, binding, globalSlots, tenantSlots, replies, platform, startedAt, time)
        {
            Zaqar = zaqar,
            Credentials = credentials,
        };
        if (credentials is not null)
        {
            Context.ActorOf(CredentialsWatch.Props(binding, credentials, time), "credentials-watch");
        }
        // A persistence failure stops the ledger (Akka cannot know whether the write landed);
        // the backoff supervisor starts it again and recovery takes it from the journal.
        var ledger = Context.ActorOf(BackoffSupervisor.Props(Backoff.OnStop(
            CommandLedger.Props(context, outbox), "ledger", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, -1)), "ledger");
        Context.ActorOf(BackoffSupervisor.Props(Backoff.OnFailure(
            QueuePoller.Props(binding, settings.Poll, settings.CommandLimitsFor(binding), settings.Blocks, zaqar, ledger, lifetime, tenantSlots,
                new OpenClaims(OpenClaims.PathFor(settings.StateDir, binding.Name), time), new PoisonWatch(), time),
            "poller", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, -1)), "poller");
    }

    public static Props Props(AgentSettings settings, TenantBinding binding, AgentLifetime lifetime, Guid clientId,
        GuestPlatform platform, DateTimeOffset startedAt, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new TenantSupervisor(settings, binding, lifetime, clientId, platform, startedAt, time));
}
