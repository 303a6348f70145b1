using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tenancy;

/// <summary>/user/agent: one <see cref="TenantSupervisor"/> per configured binding.</summary>
public sealed class AgentSupervisor : ReceiveActor
{
    public AgentSupervisor(AgentSettings settings, AgentLifetime lifetime, TimeProvider time)
    {
        var clientId = ClientIdentity.LoadOrCreate(Path.Combine(settings.StateDir, "client-id"));
        var runner = new ExecRunner();
        var startedAt = time.GetUtcNow();
        foreach (var binding in settings.Tenants)
        {
            Context.ActorOf(TenantSupervisor.Props(settings, binding, lifetime, clientId, runner, startedAt, time), $"tenant-{binding.Name}");
        }
    }

    public static Props Props(AgentSettings settings, AgentLifetime lifetime, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new AgentSupervisor(settings, lifetime, time));
}
