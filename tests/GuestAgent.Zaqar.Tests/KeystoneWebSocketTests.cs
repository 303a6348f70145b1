using GuestAgent.Testing;

namespace GuestAgent.Zaqar.Tests;

/// <summary>
/// A keystone bed with Zaqar's WebSocket server (start.sh --websocket): the run's shared bed when it
/// has one (tools/test.sh starts it so), else one of its own for the test class. Its tests only
/// read and write queues of their own, so they need no bed to themselves.
/// </summary>
public sealed class KeystoneWebSocketBedFixture : IDisposable
{
    public KeystoneBed Bed { get; } = KeystoneBed.Shared.WebSocketUrl is not null ? KeystoneBed.Shared : KeystoneBed.StartPrivate(webSocket: true);

    public void Dispose()
    {
        if (!ReferenceEquals(Bed, KeystoneBed.Shared))
        {
            Bed.Dispose();
        }
    }
}

/// <summary>Push over the WebSocket server of a keystone-authenticated Zaqar.</summary>
public sealed class KeystoneWebSocketTests(KeystoneWebSocketBedFixture fixture) : IClassFixture<KeystoneWebSocketBedFixture>
{
    private readonly KeystoneBed _bed = fixture.Bed;

    [Fact]
    public async Task Socket_authenticated_with_a_token_is_pushed_its_projects_messages_and_unauthenticated_ones_are_refused()
    {
        var queue = ZaqarBed.NewQueue();
        var projectA = _bed.ProjectId(Tenant.A);

        await using var anonymous = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, projectA);
        Assert.Equal(403, await anonymous.SubscribeAsync(queue));

        await using var socket = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, projectA);
        Assert.Equal(200, await socket.AuthenticateAsync(await _bed.TokenAsync(Tenant.A)));
        Assert.Equal(201, await socket.SubscribeAsync(queue));
        await _bed.Client(Tenant.A).PostAsync(queue, OutgoingMessage.Of(new { n = 1 }));

        var push = await socket.NextNotificationAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(push);
        Assert.Equal(1, push.Value.Body.GetProperty("body").GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task Socket_authenticated_for_one_project_cannot_subscribe_to_another_projects_queue()
    {
        await using var socket = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, _bed.ProjectId(Tenant.B));

        // The token is tenant A's; the frames name tenant B's project.
        Assert.Equal(200, await socket.AuthenticateAsync(await _bed.TokenAsync(Tenant.A)));

        Assert.Equal(403, await socket.SubscribeAsync(ZaqarBed.NewQueue()));
    }
}
