using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Testing;
using RabbitMQ.Client;

namespace GuestAgent.Amqp.Tests.Agent;

/// <summary>
/// A controller on the wire protocol alone, over AMQP: publishes signed commands to the guest's
/// command exchange as the bed's administrator (publisher confirms, persistent) and reads replies
/// from the guest's reply queue. It connects again after a broker restart or a closed connection,
/// so that a test can fault the broker under it. Replies for other commands are kept for later calls.
/// </summary>
public sealed class AmqpController(RabbitBed bed, RabbitGuest guest, string replyTo, SigningKey? key) : IAsyncDisposable
{
    private static readonly CreateChannelOptions Confirms = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    private readonly ConcurrentDictionary<Guid, ConcurrentDictionary<long, Reply>> _replies = new();
    private readonly ConcurrentDictionary<(Guid, long), int> _copies = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private IChannel? _channel;

    public RabbitGuest Guest { get; } = guest;

    /// <summary>The reply_to commands name: the binding's reply queue as the protocol knows it.</summary>
    public string ReplyTo { get; } = replyTo;

    public Command Exec(ExecArgs args, CommandMode mode = CommandMode.Call, InterruptPolicy? onInterrupt = null)
    {
        var now = DateTimeOffset.UtcNow;
        return mode == CommandMode.Call
            ? Command.Call(args, ReplyTo, now, now.AddMinutes(10), onInterrupt ?? InterruptPolicy.Fail)
            : Command.Cast(args, now, now.AddMinutes(10), ReplyTo, onInterrupt ?? InterruptPolicy.Rerun);
    }

    public async Task<Command> SendAsync(Command command, bool queries = false)
    {
        await PublishAsync(Encoding.UTF8.GetBytes(Signed(JsonNode.Parse(command.ToJson())!).ToJsonString()), queries);
        return command;
    }

    /// <summary>Signs a JSON object with the controller's key (unless it has a sig already), as a controller would.</summary>
    public JsonNode Signed(JsonNode body) =>
        key is not null && body is JsonObject obj && !obj.ContainsKey(Signatures.Member)
            ? Signatures.Sign(JsonSerializer.SerializeToElement(obj), key, Signatures.CommandDomain)
            : body;

    /// <summary>Publishes exactly <paramref name="body"/> to the guest's command exchange (or <paramref name="queries"/>: its query exchange) and waits for the broker's confirm.</summary>
    public async Task PublishAsync(byte[] body, bool queries = false)
    {
        var (exchange, routingKey) = queries ? (Guest.QueryExchange, Guest.QueryQueue) : (Guest.CommandExchange, Guest.CommandQueue);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                await WithChannelAsync(c => c.BasicPublishAsync(exchange, routingKey, mandatory: true,
                    new BasicProperties { Persistent = true, ContentType = "application/json" }, body).AsTask());
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Commands waiting in the guest's command queue, and how many consumers it has.</summary>
    public async Task<(uint Messages, uint Consumers)> CommandQueueAsync()
    {
        QueueDeclareOk ok = null!;
        await WithChannelAsync(async c => ok = await c.QueueDeclarePassiveAsync(Guest.CommandQueue));
        return (ok.MessageCount, ok.ConsumerCount);
    }

    /// <summary>Every reply of <paramref name="id"/> once the final one and all before it are in.</summary>
    public async Task<IReadOnlyList<Reply>> RepliesAsync(Guid id, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_replies.TryGetValue(id, out var got))
            {
                var final = got.Values.FirstOrDefault(r => r.Final);
                if (final is not null && Enumerable.Range(0, (int)final.Seq + 1).All(s => got.ContainsKey(s)))
                {
                    return got.Values.OrderBy(r => r.Seq).ToList();
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                var seen = got is null ? "none" : string.Join(", ", got.Values.OrderBy(r => r.Seq).Select(r => $"{r.Seq}:{r.Status}"));
                throw new TimeoutException($"no complete replies for {id} within {timeout} (got {seen})");
            }
            await PumpAsync();
        }
    }

    public async Task<Reply> FinalAsync(Guid id, TimeSpan timeout) => (await RepliesAsync(id, timeout))[^1];

    public async Task<Reply> WaitForAsync(Guid id, ReplyStatus status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_replies.TryGetValue(id, out var got) && got.Values.FirstOrDefault(r => r.Status == status) is { } r)
            {
                return r;
            }
            await PumpAsync();
        }
        throw new TimeoutException($"no {status} reply for {id} within {timeout}");
    }

    /// <summary>Replies of <paramref name="id"/> read so far (after reading the queue once).</summary>
    public async Task<IReadOnlyList<Reply>> SeenAsync(Guid id)
    {
        await PumpAsync();
        return _replies.TryGetValue(id, out var got) ? got.Values.OrderBy(r => r.Seq).ToList() : [];
    }

    /// <summary>How many copies of reply (<paramref name="id"/>, <paramref name="seq"/>) arrived (re-sent replies are exact copies).</summary>
    public int CopiesOf(Guid id, long seq) => _copies.GetValueOrDefault((id, seq));

    /// <summary>Reads what waits in the reply queue (basic.get until empty); a broker fault costs one pause and a new connection.</summary>
    private async Task PumpAsync()
    {
        var got = 0;
        try
        {
            await WithChannelAsync(async c =>
            {
                while (await c.BasicGetAsync(Guest.ReplyQueue, autoAck: true) is { } m)
                {
                    got++;
                    if (ReplyParser.TryParse(m.Body.Span, out var reply, out _))
                    {
                        _copies.AddOrUpdate((reply.Id, reply.Seq), 1, (_, n) => n + 1);
                        _replies.GetOrAdd(reply.Id, _ => new()).TryAdd(reply.Seq, reply);
                    }
                }
            });
        }
        catch (Exception)
        {
            // The broker is restarting or closed us: the next pump connects again.
        }
        if (got == 0)
        {
            await Task.Delay(50);
        }
    }

    private async Task WithChannelAsync(Func<IChannel, Task> use)
    {
        await _gate.WaitAsync();
        try
        {
            if (_channel is not { IsOpen: true })
            {
                await DropAsync();
                _connection = await bed.Factory(bed.AdminUser, bed.AdminPassword, Guest.VirtualHost).CreateConnectionAsync();
                _channel = await _connection.CreateChannelAsync(Confirms);
            }
            try
            {
                await use(_channel);
            }
            catch
            {
                await DropAsync();
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task DropAsync()
    {
        var (channel, connection) = (_channel, _connection);
        (_channel, _connection) = (null, null);
        foreach (var d in new IAsyncDisposable?[] { channel, connection })
        {
            try
            {
                if (d is not null)
                {
                    await d.DisposeAsync();
                }
            }
            catch (Exception)
            {
                // Already gone with the broker.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DropAsync();
        _gate.Dispose();
    }
}
