using Akka.Configuration;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Diagnosis;
using GuestAgent.Agent.Platform;

namespace GuestAgent.Agent.Transport;

/// <summary>
/// One kind of transport: reads a binding's transport settings from its HOCON when the agent
/// starts, and makes the binding's <see cref="IBindingTransport"/> when the binding starts.
/// </summary>
public interface ITransportFactory
{
    /// <summary>Its name in a binding's <c>transport</c>.</summary>
    string Name { get; }

    /// <summary>
    /// The transport's settings of one binding (endpoint credentials and the like), checked now so a
    /// bad value stops the agent at start; a <see cref="ConfigException"/> names the key.
    /// </summary>
    /// <param name="key">The full name of a key of the binding, for messages.</param>
    object ReadSettings(Config binding, Func<string, string> key, BindingAddress address, string stateDir);

    /// <summary>The binding's transport, with the settings <see cref="ReadSettings"/> returned.</summary>
    IBindingTransport Create(TenantBinding binding, AgentSettings settings, GuestPlatform platform, TimeProvider time);

    /// <summary>
    /// <c>guest-agent doctor</c> on one binding: whether the endpoint is reachable, the credentials
    /// accepted, the reply destination usable and the guest's clock right, each a line saying what to
    /// do when not. Never consumes a command, posts a reply or writes to the state directory.
    /// </summary>
    Task<IReadOnlyList<DoctorCheck>> DiagnoseAsync(TenantBinding binding, AgentSettings settings, TimeProvider time, CancellationToken ct);
}

/// <summary>Where a binding's commands come from and replies go, in the transport's own terms.</summary>
/// <param name="Endpoint">The transport's URL.</param>
/// <param name="Project">The tenant's project (Zaqar's X-Project-Id).</param>
public sealed record BindingAddress(string Name, string Endpoint, string Project, string CommandQueue, string ReplyQueue);
