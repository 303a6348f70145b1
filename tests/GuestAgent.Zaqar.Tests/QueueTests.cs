using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Zaqar.Tests;

public sealed class QueueTests
{
    private readonly ZaqarBed _bed = ZaqarBed.Shared;

    [Fact]
    public async Task Queue_is_created_with_reserved_metadata_and_reports_existing()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var dlq = ZaqarBed.NewQueue("dlq");
        var queue = ZaqarBed.NewQueue();
        Assert.True(await zaqar.CreateQueueAsync(dlq));
        var created = await zaqar.CreateQueueAsync(queue, new QueueOptions
        {
            DefaultMessageTtlSeconds = 900,
            MaxClaimCount = 3,
            DeadLetterQueue = dlq,
            DeadLetterQueueMessagesTtlSeconds = 600,
        });

        Assert.True(created);
        Assert.False(await zaqar.CreateQueueAsync(queue));
        var meta = await zaqar.GetQueueMetadataAsync(queue);
        Assert.Equal(900, (int)meta["_default_message_ttl"]!);
        Assert.Equal(3, (int)meta["_max_claim_count"]!);
        Assert.Equal(dlq, (string)meta["_dead_letter_queue"]!);
        Assert.Equal(600, (int)meta["_dead_letter_queue_messages_ttl"]!);
    }

    [Fact]
    public async Task Stats_count_free_and_claimed_messages()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        await zaqar.CreateQueueAsync(queue);
        await zaqar.PostAsync(queue, [OutgoingMessage.Of(1), OutgoingMessage.Of(2), OutgoingMessage.Of(3)]);
        await zaqar.ClaimAsync(queue, limit: 1, ttlSeconds: 60, graceSeconds: 60);

        var stats = await zaqar.GetQueueStatsAsync(queue);

        Assert.Equal(new QueueStats(Claimed: 1, Free: 2, Total: 3), stats);
    }

    [Fact]
    public async Task Deleted_queue_loses_its_messages()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        await zaqar.CreateQueueAsync(queue);
        await zaqar.PostAsync(queue, OutgoingMessage.Of("doomed"));

        await zaqar.DeleteQueueAsync(queue);

        Assert.True((await zaqar.ClaimAsync(queue)).IsEmpty);
        Assert.Equal(0, (await zaqar.GetQueueStatsAsync(queue)).Total);
    }

    [Fact]
    public async Task Ping_answers_true_on_a_live_bed_and_false_on_a_closed_port()
    {
        Assert.True(await _bed.Client("any").PingAsync());
        var dead = new ZaqarClient(new ZaqarClientOptions
        {
            Endpoint = "http://127.0.0.1:1", ClientId = Guid.NewGuid(), Auth = new ZaqarAuth.None("p"), MaxAttempts = 1,
        });
        Assert.False(await dead.PingAsync());
    }

    [Fact]
    public async Task Two_projects_with_the_same_queue_name_see_nothing_of_each_other()
    {
        var queue = ZaqarBed.NewQueue("shared-name");
        var a = _bed.Client(ZaqarBed.NewProject("a"));
        var b = _bed.Client(ZaqarBed.NewProject("b"));
        await a.CreateQueueAsync(queue, new QueueOptions { DefaultMessageTtlSeconds = 120 });
        await b.CreateQueueAsync(queue);
        await a.PostAsync(queue, OutgoingMessage.Of(new { secret = "for A only" }));

        Assert.True((await b.ClaimAsync(queue)).IsEmpty);
        Assert.Empty(await b.ListAsync(queue, new ListOptions { Echo = true, IncludeClaimed = true }).ContinueWith(t => t.Result.Messages));
        Assert.Equal(0, (await b.GetQueueStatsAsync(queue)).Total);
        Assert.Equal(3600, (int)(await b.GetQueueMetadataAsync(queue))["_default_message_ttl"]!);

        await b.DeleteQueueAsync(queue);
        var claim = await a.ClaimAsync(queue);
        Assert.Equal("for A only", Assert.Single(claim.Messages).Body.GetProperty("secret").GetString());
    }

    [Fact]
    public async Task Zaqar_error_body_becomes_a_typed_exception_and_a_400_is_not_retried()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var before = zaqar.ResponsesReceived;
        var options = new QueueOptions
        {
            // Past the client's own checks, so the server is the one to refuse it.
            Extra = new Dictionary<string, System.Text.Json.Nodes.JsonNode?> { ["_default_message_ttl"] = 5 },
        };

        var ex = await Assert.ThrowsAsync<ZaqarException>(() => zaqar.CreateQueueAsync(ZaqarBed.NewQueue(), options));

        Assert.Equal(400, ex.StatusCode);
        Assert.False(string.IsNullOrEmpty(ex.Title));
        Assert.Contains("ttl", ex.Description, StringComparison.OrdinalIgnoreCase);
        Assert.False(ex.IsTransient);
        Assert.Equal(1, zaqar.ResponsesReceived - before);
    }
}
