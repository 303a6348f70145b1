using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Zaqar.Tests;

/// <summary>Faults are made for real: a bed of the test's own whose Redis or Zaqar is stopped.</summary>
public sealed class RetryTests
{
    [Fact]
    public async Task Connection_refused_is_retried_then_reported_without_a_status()
    {
        var zaqar = new ZaqarClient(new ZaqarClientOptions
        {
            Endpoint = "http://127.0.0.1:1", ClientId = Guid.NewGuid(), Auth = new ZaqarAuth.None("p"),
            MaxAttempts = 3, RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        });

        var get = await Assert.ThrowsAsync<ZaqarException>(() => zaqar.GetQueueStatsAsync("q"));
        var post = await Assert.ThrowsAsync<ZaqarException>(() => zaqar.PostAsync("q", OutgoingMessage.Of(1)));

        Assert.Null(get.StatusCode);
        Assert.True(get.IsTransient);
        Assert.Null(post.StatusCode);
        // Nothing reached a server, so even the POST was safe to repeat: 3 attempts each.
        Assert.Equal(6, zaqar.RequestsSent);
    }

    [Fact]
    public async Task Concurrent_large_posts_all_land_exactly_once()
    {
        // Big bodies on pooled connections the single-threaded server has closed fail while being
        // written (broken pipe); they were never complete, so they are sent again, once.
        var zaqar = ZaqarBed.Shared.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var payload = new string('x', 250_000);

        await Task.WhenAll(Enumerable.Range(0, 24).Select(i => zaqar.PostAsync(queue, OutgoingMessage.Of(new { i, payload }))));

        var stats = await zaqar.GetQueueStatsAsync(queue);
        Assert.Equal(24, stats.Total);
    }

    [Fact]
    public async Task Storage_outage_is_a_transient_error_and_a_safe_call_succeeds_once_storage_is_back()
    {
        using var bed = ZaqarBed.StartPrivate();
        var zaqar = new ZaqarClient(new ZaqarClientOptions
        {
            Endpoint = bed.Url, ClientId = Guid.NewGuid(), Auth = new ZaqarAuth.None(ZaqarBed.NewProject()),
            MaxAttempts = 30, RetryBaseDelay = TimeSpan.FromMilliseconds(200), RetryMaxDelay = TimeSpan.FromMilliseconds(500),
        });
        var queue = ZaqarBed.NewQueue();
        var id = await zaqar.PostAsync(queue, OutgoingMessage.Of("before outage"));
        bed.Stop("redis");

        // A POST that got an answer is only repeated on 503: after a 500 nobody knows what was stored.
        var answeredBefore = zaqar.ResponsesReceived;
        var down = await Assert.ThrowsAsync<ZaqarException>(() => zaqar.PostAsync(queue, OutgoingMessage.Of("during outage")));
        Assert.True(down.IsTransient, down.Message);
        if (down.StatusCode == 500)
        {
            Assert.Equal(1, zaqar.ResponsesReceived - answeredBefore);
        }

        var sentBefore = zaqar.RequestsSent;
        var get = zaqar.GetAsync(queue, id);
        await Task.Delay(1500);
        bed.RestartRedis();
        // The bed keeps no data across a Redis restart, so the message is gone; the call itself succeeds.
        var after = await get;

        Assert.Null(after);
        Assert.True(zaqar.RequestsSent - sentBefore > 1, "the GET should have needed more than one attempt");
        Assert.True(await zaqar.PingAsync());
    }
}
