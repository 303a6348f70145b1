using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Platform;

namespace GuestAgent.Agent.Tenancy;

/// <summary>/user/agent: one <see cref="TenantSupervisor"/> per configured binding.</summary>
public sealed class AgentSupervisor : ReceiveActor
{
    public AgentSupervisor(AgentSettings settings, AgentLifetime lifetime, GuestPlatform platform, TimeProvider time)
    {
        var startedAt = time.GetUtcNow();
        foreach (var binding in settings.Tenants)
        {
            Context.ActorOf(TenantSupervisor.Props(settings, binding, lifetime, platform, startedAt, time), $"tenant-{binding.Name}");
        }
    }

    public static Props Props(AgentSettings settings, AgentLifetime lifetime, GuestPlatform platform, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new AgentSupervisor(settings, lifetime, platform, time));
}
