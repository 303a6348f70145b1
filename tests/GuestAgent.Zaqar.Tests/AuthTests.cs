using Flurl.Http.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Zaqar.Tests;

/// <summary>Header-level checks of the auth modes (the keystone bed proves keystone end to end).</summary>
public sealed class AuthTests
{
    private static ZaqarClient Client(ZaqarAuth auth, Guid clientId) => new(new ZaqarClientOptions
    {
        Endpoint = "http://zaqar.test:8888", ClientId = clientId, Auth = auth, MaxAttempts = 1,
    });

    [Fact]
    public async Task Keystone_mode_sends_a_fresh_token_from_its_source_on_every_request()
    {
        using var http = new HttpTest();
        http.RespondWith(status: 204).RespondWith(status: 204);
        var calls = 0;
        var auth = new ZaqarAuth.Keystone(_ => ValueTask.FromResult($"token-{++calls}"), "proj");
        var clientId = Guid.NewGuid();
        var zaqar = Client(auth, clientId);

        await zaqar.DeleteQueueAsync("q1");
        await zaqar.DeleteQueueAsync("q1");

        http.ShouldHaveMadeACall().WithHeader("X-Auth-Token", "token-1").WithHeader("Client-ID", clientId.ToString());
        http.ShouldHaveMadeACall().WithHeader("X-Auth-Token", "token-2");
        http.ShouldHaveMadeACall().WithoutHeader("URL-Signature");
    }

    [Fact]
    public async Task Pre_signed_mode_picks_the_url_that_covers_the_queue()
    {
        using var http = new HttpTest();
        http.RespondWith("{\"resources\":[\"/v2/queues/replies/messages/m1\"]}", 201);
        var commands = PreSignedUrl.Mint("s", "commands", "p", DateTimeOffset.UtcNow.AddHours(1), ["messages", "claims"], ["GET", "POST", "DELETE", "PATCH"]);
        var replies = PreSignedUrl.Mint("s", "replies", "p", DateTimeOffset.UtcNow.AddHours(1), ["messages"], ["POST"]);
        var zaqar = Client(new ZaqarAuth.PreSigned(commands, replies), Guid.NewGuid());

        var id = await zaqar.PostAsync("replies", OutgoingMessage.Of("done"));

        Assert.Equal("m1", id);
        http.ShouldHaveCalled("http://zaqar.test:8888/v2/queues/replies/messages")
            .WithHeader("URL-Signature", replies.Signature)
            .WithHeader("URL-Paths", "/v2/queues/replies/messages")
            .WithHeader("URL-Methods", "POST")
            .WithHeader("X-Project-Id", "p")
            .WithoutHeader("X-Auth-Token");
    }

    [Fact]
    public void Client_id_is_kept_across_restarts()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ga-{Guid.NewGuid():N}", "client-id");

        var first = ClientIdentity.LoadOrCreate(path);
        var second = ClientIdentity.LoadOrCreate(path);

        Assert.Equal(first, second);
        Assert.NotEqual(Guid.Empty, first);
    }
}
