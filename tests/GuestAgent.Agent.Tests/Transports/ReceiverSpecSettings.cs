using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Transports.Zaqar;
using GuestAgent.Protocol.Args;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.Transports;

/// <summary>
/// What the specs of a command receiver (Zaqar's poller, AMQP's consumer) give it: fast polling,
/// claims of Zaqar's least TTL, and a binding "t1" that may run every standard op.
/// </summary>
internal static class ReceiverSpecSettings
{
    public static PollSettings Poll(TimeSpan? maxInterval = null) =>
        new(TimeSpan.FromMilliseconds(50), maxInterval ?? TimeSpan.FromMilliseconds(200), 0, TimeSpan.FromSeconds(1),
            ClaimTtlSeconds: 60, ClaimGraceSeconds: 60);

    /// <summary>A binding to <paramref name="queue"/> on the shared Zaqar bed, without auth, up to 4 operations at once.</summary>
    public static TenantBinding ZaqarBinding(string project, string queue) =>
        Binding(ZaqarBed.Shared.Url, project, new TenantAuth("none", null), queue, 4);

    public static TenantBinding Binding(string endpoint, string project, object transportSettings, string queue, int maxOperations,
        string transport = ZaqarTransport.TransportName) =>
        new("t1", endpoint, project, transportSettings, queue, "replies", maxOperations,
            new HashSet<string>(OpCatalog.Standard.OpNames), new Dictionary<string, object?>(), Transport: transport);
}
