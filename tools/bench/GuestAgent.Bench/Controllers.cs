using GuestAgent.Client;
using GuestAgent.Client.Transports.Amqp;
using GuestAgent.Client.Transports.Zaqar;
using GuestAgent.Zaqar;
using GuestAgent.Protocol;

namespace GuestAgent.Bench;

/// <summary>
/// The controllers the workloads call through, and the transport's floor beside them. With
/// BENCH_TRANSPORT=amqp they speak AMQP (GUESTAGENT_AMQP_* name the broker, the tenant's vhost
/// and the guest's names; the reply queue is the binding's, BENCH_AMQP_REPLY_QUEUE, as a guest
/// may publish nowhere else). Over Zaqar, on a push bed (its env names ZAQAR_WS_URL) they wait
/// for replies through a WebSocket subscription, as the agent waits for commands; elsewhere they poll.
/// </summary>
public static class Controllers
{
    public static bool Amqp => Environment.GetEnvironmentVariable("BENCH_TRANSPORT") == "amqp";

    /// <summary>
    /// What the latency and throughput calls run: `exec true`, or with BENCH_OP=ping a ping, which
    /// starts no process: the agent's own bookkeeping and the transport alone.
    /// </summary>
    public static OpArgs CallArgs => Environment.GetEnvironmentVariable("BENCH_OP") == "ping" ? new PingArgs() : new ExecArgs { Argv = ["true"] };

    public static Uri? WebSocketUrl =>
        Environment.GetEnvironmentVariable("ZAQAR_WS_URL") is { Length: > 0 } url ? new Uri(url) : null;

    /// <summary>The binding's reply queue over AMQP, the only one its guest may publish to.</summary>
    public static string AmqpReplyQueue => Environment.GetEnvironmentVariable("BENCH_AMQP_REPLY_QUEUE") ?? "replies";

    /// <summary>
    /// A client of the agent's <paramref name="commandQueue"/>; <paramref name="replyQueue"/> is a
    /// Zaqar reply queue of its own (over AMQP: the binding's, unless <paramref name="listens"/> is
    /// false, for a client that only casts and leaves the binding's replies to be read by others).
    /// </summary>
    public static GuestClient Guest(ZaqarClient? zaqar, string commandQueue, string replyQueue, bool listens = true) => Amqp
        ? new(new AmqpTransport(AmqpTransportOptions.FromEnvironment()), commandQueue, listens ? AmqpReplyQueue : "bench-unread")
        : new(new ZaqarTransport(zaqar ?? throw new InvalidOperationException("ZAQAR_URL is not set"),
            new ZaqarTransportOptions { WebSocketUrl = WebSocketUrl }), commandQueue, replyQueue,
            int.TryParse(Environment.GetEnvironmentVariable("BENCH_REPLY_POLL_MS"), out var ms) ? new GuestClientOptions { MinPollInterval = TimeSpan.FromMilliseconds(ms) } : null);

    /// <summary>Who the floor's figures are in the results (report.py names them).</summary>
    public static string FloorWho => Amqp ? "amqp-floor" : "floor";

    /// <summary>What the floor's figures are called in the bench's output.</summary>
    public static string FloorName => Amqp ? "RabbitMQ round trip, confirmed" : "6 Zaqar requests";

    /// <summary>The floor of one call on this transport, for <paramref name="workers"/> loops at once (each its own queues).</summary>
    public static async Task<TransportFloor> FloorAsync(ZaqarClient? zaqar, string name, int workers)
    {
        var body = CallLatency.FloorBodyFor(name + "-replies");
        if (Amqp)
        {
            var pairs = new AmqpFloor[workers];
            for (var w = 0; w < workers; w++)
            {
                pairs[w] = await AmqpFloor.StartAsync($"{name}-{w}", body.ToJsonString());
            }
            return new TransportFloor(w => pairs[w].CycleAsync(), async () =>
            {
                foreach (var p in pairs)
                {
                    await p.DisposeAsync();
                }
            });
        }
        var z = zaqar ?? throw new InvalidOperationException("ZAQAR_URL is not set");
        return new TransportFloor(w => CallLatency.FloorCycleAsync(z, $"{name}-{w}", body), () => Task.CompletedTask);
    }
}

/// <summary>One transport round trip of a call with no agent, by worker.</summary>
public sealed class TransportFloor(Func<int, Task> cycle, Func<Task> dispose) : IAsyncDisposable
{
    public Task CycleAsync(int worker) => cycle(worker);

    public async ValueTask DisposeAsync() => await dispose();
}
