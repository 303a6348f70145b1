using GuestAgent.Client;
using GuestAgent.Client.Transports.Zaqar;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// The controllers the workloads call through: on a push bed (its env names ZAQAR_WS_URL) they wait
/// for replies through a WebSocket subscription, as the agent waits for commands; elsewhere they poll.
/// </summary>
public static class Controllers
{
    public static Uri? WebSocketUrl =>
        Environment.GetEnvironmentVariable("ZAQAR_WS_URL") is { Length: > 0 } url ? new Uri(url) : null;

    public static GuestClient Guest(ZaqarClient zaqar, string commandQueue, string replyQueue) =>
        new(new ZaqarTransport(zaqar, new ZaqarTransportOptions { WebSocketUrl = WebSocketUrl }), commandQueue, replyQueue);
}
