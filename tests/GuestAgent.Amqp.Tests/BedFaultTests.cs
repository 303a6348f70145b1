using System.Text;
using GuestAgent.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using static GuestAgent.Amqp.Tests.Refusals;

namespace GuestAgent.Amqp.Tests;

/// <summary>A broker of the class's own: its faults (disk alarm, restart) would hit every client of a shared node.</summary>
public sealed class PrivateRabbit : IDisposable
{
    public RabbitBed Bed { get; } = RabbitBed.StartPrivate();

    public void Dispose() => Bed.Dispose();
}

/// <summary>
/// The bed's fault controls do to a client what the transport's fault tests need: a disk alarm
/// blocks publishers until it clears, an operator's close reaches the client as 320, and a restart
/// drops every connection but keeps provisioned guests, durable queues and persistent messages.
/// They pin the broker's own behaviour (the agent's fault tests use it), on a broker of their own:
/// the longer test mode.
/// </summary>
public sealed class BedFaultTests(PrivateRabbit rabbit) : IClassFixture<PrivateRabbit>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly RabbitBed _bed = rabbit.Bed;

    [LongFact]
    public async Task Disk_alarm_holds_a_confirmed_publish_until_the_alarm_clears()
    {
        var g = _bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        await using var connection = await _bed.ConnectAsync(g);
        var blocked = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var unblocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionBlockedAsync += (_, e) => { blocked.TrySetResult(e.Reason); return Task.CompletedTask; };
        connection.ConnectionUnblockedAsync += (_, _) => { unblocked.TrySetResult(); return Task.CompletedTask; };
        await using var channel = await connection.CreateChannelAsync(Confirms);

        _bed.RaiseDiskAlarm();
        try
        {
            Assert.True(_bed.DiskAlarmRaised());
            // The broker blocks a connection (and says connection.blocked) when it next publishes,
            // then stops reading its socket: the publish is neither routed nor confirmed.
            var publish = channel.BasicPublishAsync(g.CommandExchange, g.CommandQueue, mandatory: true, Persistent("held"), Body("held")).AsTask();
            Assert.Contains("disk", await blocked.Task.WaitAsync(Wait), StringComparison.OrdinalIgnoreCase);
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.False(publish.IsCompleted);
            Assert.Equal(0u, await ReadyCountAsync(_bed, g.VirtualHost, g.CommandQueue));

            _bed.ClearDiskAlarm();
            await unblocked.Task.WaitAsync(Wait);
            await publish.WaitAsync(Wait);
            Assert.Equal(1u, await ReadyCountAsync(_bed, g.VirtualHost, g.CommandQueue));
        }
        finally
        {
            _bed.ClearDiskAlarm();
        }
        Assert.False(_bed.DiskAlarmRaised());
    }

    [LongFact]
    public async Task Closing_a_user_connections_reaches_the_client_as_connection_forced()
    {
        var g = _bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        await using var connection = await _bed.ConnectAsync(g);
        var shutdown = new TaskCompletionSource<ShutdownEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionShutdownAsync += (_, e) => { shutdown.TrySetResult(e); return Task.CompletedTask; };
        Assert.Equal(1, _bed.ConnectionCount(g.UserName));

        _bed.CloseConnections(g.UserName, "bed: connection dropped");

        var reason = await shutdown.Task.WaitAsync(Wait);
        Assert.Equal(ShutdownInitiator.Peer, reason.Initiator);
        Assert.Equal(ConnectionForced, reason.ReplyCode);
        Assert.Contains("bed: connection dropped", reason.ReplyText, StringComparison.Ordinal);
        Assert.False(connection.IsOpen);
    }

    [LongFact]
    public async Task Broker_restart_drops_connections_and_keeps_guests_queues_and_confirmed_persistent_messages()
    {
        var g = _bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        var connection = await _bed.ConnectAsync(g);
        var shutdown = new TaskCompletionSource<ShutdownEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionShutdownAsync += (_, e) => { shutdown.TrySetResult(e); return Task.CompletedTask; };
        await using (var channel = await connection.CreateChannelAsync(Confirms))
        {
            await channel.BasicPublishAsync(g.CommandExchange, g.CommandQueue, mandatory: true, Persistent("kept"), Body("survives"));
        }

        _bed.RestartBroker();

        // A clean stop tells its clients (320, shutdown); a crash would only drop the socket.
        var reason = await shutdown.Task.WaitAsync(Wait);
        Assert.Equal(ShutdownInitiator.Peer, reason.Initiator);
        Assert.False(connection.IsOpen);
        await connection.DisposeAsync();

        await using var again = await _bed.ConnectAsync(g);
        await using var ch = await again.CreateChannelAsync();
        var got = await ch.BasicGetAsync(g.CommandQueue, autoAck: true);
        Assert.NotNull(got);
        Assert.Equal("kept", got!.BasicProperties.MessageId);
        Assert.Equal("survives", Encoding.UTF8.GetString(got.Body.Span));
    }
}
