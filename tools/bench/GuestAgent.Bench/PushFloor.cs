using System.Diagnostics;
using System.Text.Json.Nodes;
using GuestAgent.Client.Transport;
using GuestAgent.Client.Transports.Zaqar;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// The Zaqar floor of a call as push makes it, with no agent: the same six requests as
/// <see cref="CallLatency.FloorCycleAsync"/>, but on two queues subscribed over the WebSocket
/// (as the agent's command queue and the controller's reply queue are), each claim made once the
/// post's announcement has arrived (and again if that claim comes back empty: Zaqar announces a
/// message before it stores it). What push itself costs: the notifier's work in each post and
/// the announcement's way to the socket.
/// </summary>
public sealed class PushFloor : IAsyncDisposable
{
    private readonly ZaqarClient _zaqar;
    private readonly string[] _queues;
    private readonly IChannelWatch[] _watches;
    private readonly JsonNode _body;

    private PushFloor(ZaqarClient zaqar, string[] queues, IChannelWatch[] watches, JsonNode body) =>
        (_zaqar, _queues, _watches, _body) = (zaqar, queues, watches, body);

    /// <summary>Subscribes two fresh queues named after <paramref name="name"/>; null when the socket does not come up within 10 s.</summary>
    public static async Task<PushFloor?> StartAsync(ZaqarClient zaqar, Uri webSocket, string name)
    {
        var transport = new ZaqarTransport(zaqar, new ZaqarTransportOptions { WebSocketUrl = webSocket });
        var queues = new[] { name, name + "-r" };
        var watches = new IChannelWatch[2];
        for (var i = 0; i < 2; i++)
        {
            await transport.EnsureReplyChannelAsync(queues[i], CancellationToken.None);
            watches[i] = transport.WatchReplyChannel(queues[i]) ?? throw new InvalidOperationException("the transport has no push");
        }
        var until = Stopwatch.StartNew();
        while (!watches.All(w => w.IsLive))
        {
            if (until.Elapsed > TimeSpan.FromSeconds(10))
            {
                foreach (var w in watches)
                {
                    await w.DisposeAsync();
                }
                return null;
            }
            await Task.Delay(20);
        }
        var body = CallLatency.FloorBodyFor(name + "-r");
        return new PushFloor(zaqar, queues, watches, body);
    }

    /// <summary>Post, wait for the announcement, claim (again while empty), delete; on both queues.</summary>
    public async Task CycleAsync()
    {
        for (var i = 0; i < 2; i++)
        {
            var announced = _watches[i].Changed;
            await _zaqar.PostAsync(_queues[i], new OutgoingMessage(_body.DeepClone(), 300));
            await announced.WaitAsync(TimeSpan.FromSeconds(10));
            while (true)
            {
                var c = await _zaqar.ClaimAsync(_queues[i], 1, 60, 60);
                if (!c.IsEmpty)
                {
                    await _zaqar.DeleteAsync(_queues[i], c.Messages[0].Id, c.Id);
                    break;
                }
                await Task.Delay(1);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var w in _watches)
        {
            await w.DisposeAsync();
        }
    }
}
