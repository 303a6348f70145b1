using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Platform;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tenancy;

/// <summary>/user/agent: one <see cref="TenantSupervisor"/> per configured binding.</summary>
public sealed class AgentSupervisor : ReceiveActor
{
    public AgentSupervisor(AgentSettings settings, AgentLifetime lifetime, GuestPlatform platform, TimeProvider time)
    {
        var clientId = ClientIdentity.LoadOrCreate(Path.Combine(settings.StateDir, "client-id"));
        var startedAt = time.GetUtcNow();
        foreach (var binding in settings.Tenants)
        {
            Context.ActorOf(TenantSupervisor.Props(settings, binding, lifetime, clientId, platform, startedAt, time), $"tenant-{binding.Name}");
        }
    }

    public static Props Props(AgentSettings settings, AgentLifetime lifetime, GuestPlatform platform, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new AgentSupervisor(settings, lifetime, platform, time));
}
