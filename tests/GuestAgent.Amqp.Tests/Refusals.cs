using System.Text;
using GuestAgent.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace GuestAgent.Amqp.Tests;

/// <summary>Helpers to make the broker refuse something and to look at what it says.</summary>
internal static class Refusals
{
    /// <summary>AMQP reply code 403: the broker closes the channel for a permission it does not grant.</summary>
    public const ushort AccessRefused = 403;

    /// <summary>AMQP reply code 530: the broker closes the connection (here: a vhost the user has no permissions on).</summary>
    public const ushort NotAllowed = 530;

    /// <summary>AMQP reply code 320: the broker closed the connection on an operator's command.</summary>
    public const ushort ConnectionForced = 320;

    public static readonly CreateChannelOptions Confirms = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    /// <summary>
    /// Runs <paramref name="action"/> on a fresh channel (publisher confirms on) of <paramref name="connection"/>
    /// and returns how it failed, after checking that the broker refused it: the channel is closed by
    /// the peer with 403 and the connection stays open (a refusal costs the channel only).
    /// A refused RPC (consume, get, declare, delete, bind) throws <see cref="OperationInterruptedException"/>;
    /// a refused publish throws its subclass <see cref="AlreadyClosedException"/> from the wait for its confirm.
    /// </summary>
    public static async Task<OperationInterruptedException> RefusedOnChannelAsync(IConnection connection, Func<IChannel, Task> action)
    {
        await using var channel = await connection.CreateChannelAsync(Confirms);
        var ex = await Assert.ThrowsAnyAsync<OperationInterruptedException>(() => action(channel));
        Assert.NotNull(ex.ShutdownReason);
        Assert.Equal(ShutdownInitiator.Peer, ex.ShutdownReason!.Initiator);
        Assert.Equal(AccessRefused, ex.ShutdownReason.ReplyCode);
        Assert.StartsWith("ACCESS_REFUSED", ex.ShutdownReason.ReplyText, StringComparison.Ordinal);
        Assert.False(channel.IsOpen);
        Assert.True(connection.IsOpen);
        return ex;
    }

    /// <summary>
    /// Opens a connection that the broker must refuse at connection.open and returns its close reason.
    /// RabbitMQ.Client 7.2.2 does not wait for connection.open-ok (rabbitmq-dotnet-client#1999): when
    /// the broker refuses the vhost, CreateConnectionAsync may still return a connection that the
    /// broker's connection.close (530) shuts a moment later. Either way nothing can be done on it:
    /// the first channel fails with the broker's reason.
    /// </summary>
    public static async Task<ShutdownEventArgs> RefusedAtOpenAsync(Func<Task<IConnection>> open)
    {
        IConnection connection;
        try
        {
            connection = await open();
        }
        catch (Exception e) when (Find<OperationInterruptedException>(e) is { ShutdownReason: { } reason })
        {
            return reason;
        }
        await using (connection)
        {
            var ex = await Assert.ThrowsAnyAsync<OperationInterruptedException>(async () =>
            {
                await using var channel = await connection.CreateChannelAsync();
            });
            Assert.False(connection.IsOpen);
            return ex.ShutdownReason ?? connection.CloseReason!;
        }
    }

    /// <summary>The first <typeparamref name="T"/> in <paramref name="ex"/> or its inner exceptions.</summary>
    public static T? Find<T>(Exception ex) where T : Exception
    {
        if (ex is T t)
        {
            return t;
        }
        var inner = ex is AggregateException agg ? agg.InnerExceptions : ex.InnerException is { } i ? [i] : [];
        return inner.Select(Find<T>).FirstOrDefault(f => f is not null);
    }

    public static ReadOnlyMemory<byte> Body(string text) => Encoding.UTF8.GetBytes(text);

    public static BasicProperties Persistent(string messageId) => new() { Persistent = true, MessageId = messageId };

    /// <summary>The messages ready in <paramref name="queue"/>, as the administrator sees them.</summary>
    public static async Task<uint> ReadyCountAsync(RabbitBed bed, string virtualHost, string queue)
    {
        await using var admin = await bed.ConnectAdminAsync(virtualHost);
        await using var channel = await admin.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    /// <summary>Whether <paramref name="queue"/> exists, as the administrator sees it.</summary>
    public static async Task<bool> ExistsAsync(RabbitBed bed, string virtualHost, string queue)
    {
        await using var admin = await bed.ConnectAdminAsync(virtualHost);
        await using var channel = await admin.CreateChannelAsync();
        try
        {
            await channel.QueueDeclarePassiveAsync(queue);
            return true;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }
}
