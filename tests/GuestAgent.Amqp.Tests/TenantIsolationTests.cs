using System.Text;
using GuestAgent.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using static GuestAgent.Amqp.Tests.Refusals;

namespace GuestAgent.Amqp.Tests;

/// <summary>
/// Three guests provisioned once for the class (tools/rabbitmq/provision.sh): A and B in tenant X
/// (one vhost, so only B's permission patterns keep it from A's queues), C in tenant Y (its own vhost).
/// Tests that change A's queues provision a guest of their own.
/// </summary>
public sealed class TenantGuests
{
    public TenantGuests()
    {
        var x = RabbitBed.NewName("tx");
        var y = RabbitBed.NewName("ty");
        // Provisioned one after the other: concurrent imports of the same new vhost may race.
        A = Bed.Provision(x, RabbitBed.NewName("ga"));
        B = Bed.Provision(x, RabbitBed.NewName("gb"));
        C = Bed.Provision(y, RabbitBed.NewName("gc"));
    }

    public RabbitBed Bed { get; } = RabbitBed.Shared;
    public RabbitGuest A { get; }
    public RabbitGuest B { get; }
    public RabbitGuest C { get; }
}

/// <summary>
/// The tenant isolation the AMQP transport relies on, enforced by the broker itself: a guest's
/// credentials reach its own command, query and reply queues and nothing of another guest's or tenant's.
/// Each refusal is the broker's (403 ACCESS_REFUSED closing the channel, 530 NOT_ALLOWED closing
/// the connection), checked on the real RabbitMQ.
/// </summary>
public sealed class TenantIsolationTests(TenantGuests guests) : IClassFixture<TenantGuests>
{
    private readonly RabbitBed _bed = guests.Bed;
    private readonly RabbitGuest _a = guests.A;
    private readonly RabbitGuest _b = guests.B;
    private readonly RabbitGuest _c = guests.C;

    [Fact]
    public async Task Guest_B_cannot_consume_from_guest_A_command_queue()
    {
        await using var b = await _bed.ConnectAsync(_b);
        var ex = await RefusedOnChannelAsync(b, ch => ch.BasicConsumeAsync(_a.CommandQueue, autoAck: false, new AsyncEventingBasicConsumer(ch)));
        Assert.Contains($"access to queue '{_a.CommandQueue}' in vhost '{_a.VirtualHost}' refused for user '{_b.UserName}'",
            ex.ShutdownReason!.ReplyText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Guest_B_cannot_get_or_purge_guest_A_queues()
    {
        await _bed.ProvisionedPublishAsync(_a, _a.CommandExchange, _a.CommandQueue, "for A only");
        await using var b = await _bed.ConnectAsync(_b);
        foreach (var queue in new[] { _a.CommandQueue, _a.QueryQueue, _a.ReplyQueue })
        {
            await RefusedOnChannelAsync(b, ch => ch.BasicGetAsync(queue, autoAck: true));
            await RefusedOnChannelAsync(b, ch => ch.QueuePurgeAsync(queue));
        }
        Assert.True(await ReadyCountAsync(_bed, _a.VirtualHost, _a.CommandQueue) >= 1);
    }

    [Fact]
    public async Task Guest_B_publishing_to_guest_A_exchange_with_confirms_loses_its_channel_and_delivers_nothing()
    {
        var before = await ReadyCountAsync(_bed, _a.VirtualHost, _a.CommandQueue);
        await using var b = await _bed.ConnectAsync(_b);
        // Not a nack (PublishException): the broker closes the channel with 403, and the publish's
        // wait for its confirm fails with that reason.
        var ex = await RefusedOnChannelAsync(b, ch =>
            ch.BasicPublishAsync(_a.CommandExchange, _a.CommandQueue, mandatory: true, Persistent("forged"), Body("forged command")).AsTask());
        Assert.IsType<AlreadyClosedException>(ex);
        Assert.Contains($"exchange '{_a.CommandExchange}'", ex.ShutdownReason!.ReplyText, StringComparison.Ordinal);
        Assert.Equal(before, await ReadyCountAsync(_bed, _a.VirtualHost, _a.CommandQueue));
    }

    [Fact]
    public async Task Guest_B_cannot_send_guest_A_queries_or_take_them()
    {
        // A forged cancel on A's query queue would stop A's commands.
        var before = await ReadyCountAsync(_bed, _a.VirtualHost, _a.QueryQueue);
        await using var b = await _bed.ConnectAsync(_b);
        var publish = await RefusedOnChannelAsync(b, ch =>
            ch.BasicPublishAsync(_a.QueryExchange, _a.QueryQueue, mandatory: true, Persistent("forged"), Body("forged cancel")).AsTask());
        Assert.Contains($"exchange '{_a.QueryExchange}'", publish.ShutdownReason!.ReplyText, StringComparison.Ordinal);
        var consume = await RefusedOnChannelAsync(b, ch => ch.BasicConsumeAsync(_a.QueryQueue, autoAck: false, new AsyncEventingBasicConsumer(ch)));
        Assert.Contains($"queue '{_a.QueryQueue}'", consume.ShutdownReason!.ReplyText, StringComparison.Ordinal);
        Assert.Equal(before, await ReadyCountAsync(_bed, _a.VirtualHost, _a.QueryQueue));
    }

    [Fact]
    public async Task Guest_B_cannot_publish_into_guest_A_queue_through_the_default_exchange()
    {
        var before = await ReadyCountAsync(_bed, _a.VirtualHost, _a.CommandQueue);
        await using var b = await _bed.ConnectAsync(_b);
        // The default exchange routes to every queue of the vhost by name; publishing to it needs
        // write on "amq.default", which no guest's pattern matches.
        var ex = await RefusedOnChannelAsync(b, ch =>
            ch.BasicPublishAsync("", _a.CommandQueue, mandatory: true, Persistent("forged"), Body("forged command")).AsTask());
        Assert.IsType<AlreadyClosedException>(ex);
        Assert.Contains("exchange 'amq.default'", ex.ShutdownReason!.ReplyText, StringComparison.Ordinal);
        Assert.Equal(before, await ReadyCountAsync(_bed, _a.VirtualHost, _a.CommandQueue));
    }

    [Fact]
    public async Task Guest_B_cannot_bind_guest_A_queue_to_its_own_exchange()
    {
        // A binding from B's exchange would route B's publishes into A's queue: it needs write on A's queue.
        await using var b = await _bed.ConnectAsync(_b);
        var ex = await RefusedOnChannelAsync(b, ch => ch.QueueBindAsync(_a.CommandQueue, _b.ReplyExchange, "x"));
        Assert.Contains($"queue '{_a.CommandQueue}'", ex.ShutdownReason!.ReplyText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Guest_B_cannot_declare_guest_A_queue()
    {
        await using var b = await _bed.ConnectAsync(_b);
        var ex = await RefusedOnChannelAsync(b, ch =>
            ch.QueueDeclareAsync(_a.CommandQueue, durable: true, exclusive: false, autoDelete: false));
        Assert.Contains($"queue '{_a.CommandQueue}'", ex.ShutdownReason!.ReplyText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Guest_B_cannot_delete_guest_A_queues_or_exchanges()
    {
        await using var b = await _bed.ConnectAsync(_b);
        await RefusedOnChannelAsync(b, ch => ch.QueueDeleteAsync(_a.CommandQueue));
        await RefusedOnChannelAsync(b, ch => ch.QueueDeleteAsync(_a.ReplyQueue));
        await RefusedOnChannelAsync(b, ch => ch.ExchangeDeleteAsync(_a.CommandExchange));
        Assert.True(await ExistsAsync(_bed, _a.VirtualHost, _a.CommandQueue));
        Assert.True(await ExistsAsync(_bed, _a.VirtualHost, _a.ReplyQueue));
    }

    [Fact]
    public async Task Guest_of_another_tenant_cannot_open_tenant_A_vhost()
    {
        var reason = await RefusedAtOpenAsync(() => _bed.ConnectAsync(_c, virtualHost: _a.VirtualHost));
        Assert.Equal(ShutdownInitiator.Peer, reason.Initiator);
        Assert.Equal(NotAllowed, reason.ReplyCode);
        Assert.Contains($"access to vhost '{_a.VirtualHost}' refused for user '{_c.UserName}'", reason.ReplyText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Guest_of_another_tenant_cannot_name_tenant_A_queues_from_its_own_vhost()
    {
        // Queue names are per vhost: from its own vhost C can only ever mean queues of tenant Y.
        await using var c = await _bed.ConnectAsync(_c);
        await RefusedOnChannelAsync(c, ch => ch.BasicGetAsync(_a.CommandQueue, autoAck: true));
        await RefusedOnChannelAsync(c, ch => ch.QueueDeclareAsync(_a.CommandQueue, durable: true, exclusive: false, autoDelete: false));
    }

    [Fact]
    public async Task Guest_whose_name_is_a_prefix_of_another_reaches_only_its_own_queues()
    {
        var tenant = _a.Tenant;
        var shorter = _bed.Provision(tenant, RabbitBed.NewName("gp")[..12]);
        var longer = _bed.Provision(tenant, shorter.Guest + "-x");
        await using var s = await _bed.ConnectAsync(shorter);
        await RefusedOnChannelAsync(s, ch => ch.BasicGetAsync(longer.CommandQueue, autoAck: true));
        await RefusedOnChannelAsync(s, ch => ch.QueueDeclareAsync(shorter.CommandQueue + "-x", durable: true, exclusive: false, autoDelete: false));
    }

    [Fact]
    public async Task Guest_A_cannot_declare_a_queue_outside_its_own_names()
    {
        await using var a = await _bed.ConnectAsync(_a);
        await RefusedOnChannelAsync(a, ch => ch.QueueDeclareAsync($"ga.{_a.Guest}.other", durable: true, exclusive: false, autoDelete: false));
        // Server-named queues (amq.gen-*) are outside the pattern too: a guest creates nothing it was not given.
        await RefusedOnChannelAsync(a, ch => ch.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true));
    }

    [Fact]
    public async Task Guest_A_cannot_publish_even_to_its_own_queue_through_the_default_exchange()
    {
        // The price of closing the default exchange to guests: they publish to their own exchanges.
        await using var a = await _bed.ConnectAsync(_a);
        await RefusedOnChannelAsync(a, ch =>
            ch.BasicPublishAsync("", _a.ReplyQueue, mandatory: true, Persistent("r"), Body("reply")).AsTask());
    }

    [Fact]
    public async Task Default_guest_user_does_not_exist()
    {
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => _bed.Factory("guest", "guest", "/").CreateConnectionAsync());
        Assert.NotNull(Find<AuthenticationFailureException>(ex));
        Assert.DoesNotContain("guest\t", _bed.Ctl("list_users"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Guest_A_can_open_its_vhost_publish_with_confirms_and_consume_its_own_queues()
    {
        var a = _bed.Provision(_a.Tenant, RabbitBed.NewName("ga"));
        await using var connection = await _bed.ConnectAsync(a);
        await using var channel = await connection.CreateChannelAsync(Confirms);
        // Confirmed: BasicPublishAsync returns only once the broker acked the message.
        await channel.BasicPublishAsync(a.CommandExchange, a.CommandQueue, mandatory: true, Persistent("c1"), Body("command"));
        await channel.BasicPublishAsync(a.ReplyExchange, a.ReplyQueue, mandatory: true, Persistent("r1"), Body("reply"));

        var got = new TaskCompletionSource<BasicDeliverEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, e) =>
        {
            await channel.BasicAckAsync(e.DeliveryTag, multiple: false);
            got.TrySetResult(e);
        };
        await channel.BasicConsumeAsync(a.CommandQueue, autoAck: false, consumer);
        var delivery = await got.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("c1", delivery.BasicProperties.MessageId);

        var reply = await channel.BasicGetAsync(a.ReplyQueue, autoAck: true);
        Assert.NotNull(reply);
        Assert.Equal("reply", Encoding.UTF8.GetString(reply!.Body.Span));
    }

    [Fact]
    public async Task Guest_A_can_declare_delete_and_declare_again_its_own_queues_and_exchanges()
    {
        var a = _bed.Provision(_a.Tenant, RabbitBed.NewName("ga"));
        await using var connection = await _bed.ConnectAsync(a);
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(a.CommandQueue, durable: true, exclusive: false, autoDelete: false);
        await channel.QueueDeleteAsync(a.CommandQueue);
        Assert.False(await ExistsAsync(_bed, a.VirtualHost, a.CommandQueue));
        await channel.QueueDeclareAsync(a.CommandQueue, durable: true, exclusive: false, autoDelete: false);
        await channel.ExchangeDeleteAsync(a.ReplyExchange);
        await channel.ExchangeDeclareAsync(a.ReplyExchange, ExchangeType.Direct, durable: true);
        await channel.QueueBindAsync(a.ReplyQueue, a.ReplyExchange, a.ReplyQueue);
        Assert.True(await ExistsAsync(_bed, a.VirtualHost, a.CommandQueue));
    }
}

internal static class PublishHelpers
{
    /// <summary>Publishes one confirmed persistent message as <paramref name="guest"/> itself.</summary>
    public static async Task ProvisionedPublishAsync(this RabbitBed bed, RabbitGuest guest, string exchange, string routingKey, string body)
    {
        await using var connection = await bed.ConnectAsync(guest);
        await using var channel = await connection.CreateChannelAsync(Confirms);
        await channel.BasicPublishAsync(exchange, routingKey, mandatory: true, Persistent(Guid.NewGuid().ToString()), Body(body));
    }
}
