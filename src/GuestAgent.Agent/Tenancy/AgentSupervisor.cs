using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tenancy;

/// <summary>/user/agent: one <see cref="TenantSupervisor"/> per configured binding.</summary>
public sealed class AgentSupervisor : ReceiveActor
{
    public AgentSupervisor(AgentSettings settings, TimeProvider time)
    {
        var clientId = ClientIdentity.LoadOrCreate(Path.Combine(settings.StateDir, "client-id"));
        var globalSlots = new OperationSlots(settings.MaxOperations);
        var runner = new ExecRunner();
        var startedAt = time.GetUtcNow();
        foreach (var binding in settings.Tenants)
        {
            Context.ActorOf(TenantSupervisor.Props(settings, binding, globalSlots, clientId, runner, startedAt, time), $"tenant-{binding.Name}");
        }
    }

    public static Props Props(AgentSettings settings, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new AgentSupervisor(settings, time));
}
