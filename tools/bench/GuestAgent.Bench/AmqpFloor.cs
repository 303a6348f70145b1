using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace GuestAgent.Bench;

/// <summary>
/// The RabbitMQ floor of one call, with the guarantees the agent and the SDK keep (persistent
/// messages, publisher confirms, manual acks) and no agent: a command-sized message is published
/// to a queue and confirmed, a consumer takes it, acks it and publishes a reply-sized message
/// (confirmed) to a second queue, where a second consumer takes and acks it. One
/// <see cref="AmqpFloor"/> is one such responder and caller pair on two queues of its own.
/// </summary>
public sealed class AmqpFloor : IAsyncDisposable
{
    private static readonly CreateChannelOptions Confirms = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
    private static readonly BasicProperties Persistent = new() { Persistent = true, ContentType = "application/json" };
    private readonly IConnection _callerConnection;
    private readonly IConnection _responderConnection;
    private readonly IChannel _caller;
    private readonly IChannel _responder;
    private readonly string _in;
    private readonly string _out;
    private readonly byte[] _body;
    private readonly Channel<bool> _answers = Channel.CreateUnbounded<bool>();

    private AmqpFloor(IConnection callerConnection, IConnection responderConnection, IChannel caller, IChannel responder, string name, byte[] body)
    {
        (_callerConnection, _responderConnection, _caller, _responder) = (callerConnection, responderConnection, caller, responder);
        (_in, _out, _body) = (name + "-in", name + "-out", body);
    }

    /// <summary>A floor pair on the broker of GUESTAGENT_AMQP_URL (and its user variables), its queues named after <paramref name="name"/>.</summary>
    public static async Task<AmqpFloor> StartAsync(string name, string commandJson)
    {
        // The URL names the broker, the vhost and (unless the variables do) the user, as for the SDK.
        var options = GuestAgent.Client.Transports.Amqp.AmqpTransportOptions.FromEnvironment();
        var factory = new ConnectionFactory { Uri = options.Endpoint };
        factory.UserName = options.User ?? factory.UserName;
        factory.Password = options.Password ?? factory.Password;
        factory.VirtualHost = options.VirtualHost ?? factory.VirtualHost;
        // Two connections, as the controller and the agent are two processes.
        var callerConnection = await factory.CreateConnectionAsync($"bench-floor-{name}-caller");
        var responderConnection = await factory.CreateConnectionAsync($"bench-floor-{name}-responder");
        var caller = await callerConnection.CreateChannelAsync(Confirms);
        var responder = await responderConnection.CreateChannelAsync(Confirms);
        var floor = new AmqpFloor(callerConnection, responderConnection, caller, responder, name, Encoding.UTF8.GetBytes(commandJson));
        foreach (var q in new[] { floor._in, floor._out })
        {
            await caller.QueueDeclareAsync(q, durable: true, exclusive: false, autoDelete: true);
        }
        var responding = new AsyncEventingBasicConsumer(responder);
        responding.ReceivedAsync += async (_, d) =>
        {
            await responder.BasicAckAsync(d.DeliveryTag, multiple: false);
            await responder.BasicPublishAsync("", floor._out, mandatory: true, Persistent, d.Body);
        };
        await responder.BasicConsumeAsync(floor._in, autoAck: false, responding);
        var answers = new AsyncEventingBasicConsumer(caller);
        answers.ReceivedAsync += async (_, d) =>
        {
            await caller.BasicAckAsync(d.DeliveryTag, multiple: false);
            floor._answers.Writer.TryWrite(true);
        };
        await caller.BasicConsumeAsync(floor._out, autoAck: false, answers);
        return floor;
    }

    /// <summary>One round trip: publish (confirmed), the responder's ack and confirmed reply, the reply taken and acked.</summary>
    public async Task CycleAsync()
    {
        await _caller.BasicPublishAsync("", _in, mandatory: true, Persistent, _body);
        await _answers.Reader.ReadAsync();
    }

    /// <summary><paramref name="calls"/> round trips after 10 warm-up; sorted ms.</summary>
    public async Task<List<double>> LatencyAsync(int calls)
    {
        var floor = new List<double>();
        for (var i = 0; i < calls + 10; i++)
        {
            var sw = Stopwatch.StartNew();
            await CycleAsync();
            if (i >= 10)
            {
                floor.Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        floor.Sort();
        return floor;
    }

    public async ValueTask DisposeAsync()
    {
        await _caller.CloseAsync();
        await _responder.CloseAsync();
        await _callerConnection.CloseAsync();
        await _responderConnection.CloseAsync();
        _callerConnection.Dispose();
        _responderConnection.Dispose();
    }
}
