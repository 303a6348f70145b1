using GuestAgent.Agent.Transport;
using GuestAgent.Agent.Transports.Amqp;
using GuestAgent.Agent.Transports.Zaqar;

namespace GuestAgent.Agent.Transports;

/// <summary>
/// The transports this agent is built with, by the name a binding's <c>transport</c> gives. A new
/// transport is one more factory here and a folder of its own beside Zaqar/; the core does not change.
/// </summary>
public static class TransportRegistry
{
    private static readonly IReadOnlyList<ITransportFactory> All = [new ZaqarTransportFactory(), new AmqpTransportFactory()];

    public static IEnumerable<string> Names => All.Select(f => f.Name);

    public static ITransportFactory? Find(string name) => All.FirstOrDefault(f => f.Name == name);
}
