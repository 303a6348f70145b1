using System.Text.Json.Nodes;
using GuestAgent.Client.Transport;
using GuestAgent.Client.Transports.Zaqar;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Client.Tests.Transports;

/// <summary>What the Zaqar transport makes of the seam: queues, posts, claims, deletes and Zaqar's failures.</summary>
public sealed class ZaqarTransportTests
{
    private static readonly ReceiveSettings Receive = new(20, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60));

    private readonly ZaqarBed _bed = ZaqarBed.Shared;
    private readonly string _project = ZaqarBed.NewProject("zt");
    private readonly string _queue = ZaqarBed.NewQueue("zt");

    [Fact]
    public void Only_zaqar_failures_are_transport_failures_and_only_no_answer_and_5xx_are_transient()
    {
        var transport = new ZaqarTransport(_bed.Client(_project));

        Assert.Equal(TransportErrorKind.Transient, transport.Classify(new ZaqarException("POST", "/v2/queues/q/messages", null, "", "refused")));
        Assert.Equal(TransportErrorKind.Transient, transport.Classify(new ZaqarException("POST", "/v2/queues/q/messages", 503, "Service Unavailable", "")));
        Assert.Equal(TransportErrorKind.Permanent, transport.Classify(new ZaqarException("POST", "/v2/queues/q/claims", 404, "Not Found", "")));
        Assert.Equal(TransportErrorKind.Permanent, transport.Classify(new ZaqarException("PUT", "/v2/queues/q", 403, "Forbidden", "")));
        Assert.Equal(TransportErrorKind.NotTransport, transport.Classify(new InvalidOperationException("a bug")));
        Assert.Equal(TransportErrorKind.NotTransport, transport.Classify(new OperationCanceledException()));
    }

    [Fact]
    public void Names_and_receive_settings_are_held_to_zaqars_limits()
    {
        var transport = new ZaqarTransport(_bed.Client(_project));

        transport.CheckChannelName("guest-vm1_commands");
        Assert.Throws<ArgumentException>(() => transport.CheckChannelName("guest.vm1"));
        transport.CheckReceiveSettings(Receive);
        Assert.Throws<ArgumentOutOfRangeException>(() => transport.CheckReceiveSettings(Receive with { MaxMessages = 21 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => transport.CheckReceiveSettings(Receive with { Lease = TimeSpan.FromSeconds(59) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => transport.CheckReceiveSettings(Receive with { Grace = TimeSpan.FromHours(13) }));
    }

    [Fact]
    public async Task Send_clamps_the_ttl_receive_claims_release_leaves_the_claim_and_acknowledge_deletes()
    {
        var zaqar = _bed.Client(_project);
        var transport = new ZaqarTransport(zaqar);
        await transport.EnsureReplyChannelAsync(_queue, CancellationToken.None);
        await transport.EnsureReplyChannelAsync(_queue, CancellationToken.None);

        await transport.SendAsync(_queue, new JsonObject { ["n"] = 1 }, TimeSpan.FromSeconds(5), CancellationToken.None);
        await transport.SendAsync(_queue, new JsonObject { ["n"] = 2 }, TimeSpan.FromMinutes(5), CancellationToken.None);
        var listed = (await zaqar.ListAsync(_queue, new ListOptions { Echo = true })).Messages;
        Assert.Equal([60, 300], listed.OrderBy(m => m.Body.GetProperty("n").GetInt32()).Select(m => m.TtlSeconds));

        var received = await transport.ReceiveAsync(_queue, Receive, CancellationToken.None);
        Assert.Equal([1, 2], received.Select(m => m.Body.GetProperty("n").GetInt32()).Order());
        Assert.Empty(await transport.ReceiveAsync(_queue, Receive, CancellationToken.None));

        await received[0].ReleaseAsync(CancellationToken.None);
        await received[1].AcknowledgeAsync(CancellationToken.None);
        // Released is still claimed (it comes back when the claim expires); acknowledged is gone.
        var stats = await zaqar.GetQueueStatsAsync(_queue);
        Assert.Equal(1, stats.Total);
        Assert.Equal(1, stats.Claimed);
    }

    [Fact]
    public async Task Acknowledging_many_deletes_the_messages_of_several_receives_in_batches_and_leaves_the_rest()
    {
        var zaqar = _bed.Client(_project);
        var transport = new ZaqarTransport(zaqar);
        await transport.EnsureReplyChannelAsync(_queue, CancellationToken.None);
        for (var n = 0; n < 26; n++)
        {
            await transport.SendAsync(_queue, new JsonObject { ["n"] = n }, TimeSpan.FromMinutes(5), CancellationToken.None);
        }
        // Two claims (20 and 6 messages): 25 acknowledged together take two requests (Zaqar deletes
        // at most 20 at once); the one left out stays claimed.
        var received = (await transport.ReceiveAsync(_queue, Receive, CancellationToken.None))
            .Concat(await transport.ReceiveAsync(_queue, Receive, CancellationToken.None)).ToList();
        Assert.Equal(26, received.Count);

        Assert.True(await transport.TryAcknowledgeManyAsync(received[1..], CancellationToken.None));

        var stats = await zaqar.GetQueueStatsAsync(_queue);
        Assert.Equal((1, 1), (stats.Total, stats.Claimed));
        Assert.Equal(received[0].Id, Assert.Single((await zaqar.ListAsync(_queue, new ListOptions { Echo = true, IncludeClaimed = true })).Messages).Id);
        // A single message is not worth a batch: the caller deletes it as it would anyway.
        Assert.False(await transport.TryAcknowledgeManyAsync([received[0]], CancellationToken.None));
    }
}
