using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Zaqar.Tests;

public sealed class ClaimTests
{
    private readonly ZaqarBed _bed = ZaqarBed.Shared;

    [Fact]
    public async Task Claim_on_an_empty_queue_is_empty()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        await zaqar.CreateQueueAsync(queue);

        var claim = await zaqar.ClaimAsync(queue);

        Assert.True(claim.IsEmpty);
        Assert.Null(claim.Id);
    }

    [Fact]
    public async Task Claimed_message_is_not_claimed_twice_and_is_claimable_again_after_release()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var id = await zaqar.PostAsync(queue, OutgoingMessage.Of("job"));

        var first = await zaqar.ClaimAsync(queue, limit: 5, ttlSeconds: 60, graceSeconds: 60);
        var second = await zaqar.ClaimAsync(queue, limit: 5, ttlSeconds: 60, graceSeconds: 60);

        Assert.NotNull(first.Id);
        var msg = Assert.Single(first.Messages);
        Assert.Equal(id, msg.Id);
        Assert.Equal(first.Id, msg.ClaimId);
        Assert.True(second.IsEmpty);

        await zaqar.ReleaseClaimAsync(queue, first.Id!);
        var third = await zaqar.ClaimAsync(queue);
        Assert.Equal(id, Assert.Single(third.Messages).Id);
        Assert.NotEqual(first.Id, third.Id);
    }

    [Fact]
    public async Task Claims_take_at_most_limit_messages_oldest_first()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var ids = await zaqar.PostAsync(queue, Enumerable.Range(0, 5).Select(i => OutgoingMessage.Of(i)).ToList());

        var claim = await zaqar.ClaimAsync(queue, limit: 3);

        Assert.Equal(ids.Take(3), claim.Messages.Select(m => m.Id));
    }

    [Fact]
    public async Task Claim_is_queried_and_renewed()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var id = await zaqar.PostAsync(queue, OutgoingMessage.Of("job"));
        var claim = await zaqar.ClaimAsync(queue, ttlSeconds: 60, graceSeconds: 60);

        await zaqar.RenewClaimAsync(queue, claim.Id!, ttlSeconds: 600, graceSeconds: 60);
        var info = await zaqar.GetClaimAsync(queue, claim.Id!);

        Assert.NotNull(info);
        Assert.Equal(600, info.TtlSeconds);
        Assert.Equal(id, Assert.Single(info.Messages).Id);
        Assert.Null(await zaqar.GetClaimAsync(queue, Guid.NewGuid().ToString()));
    }

    [Fact]
    public async Task Claimed_message_is_deleted_only_with_its_claim_id()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var id = await zaqar.PostAsync(queue, OutgoingMessage.Of("job"));
        var claim = await zaqar.ClaimAsync(queue);

        var refused = await Assert.ThrowsAsync<ZaqarException>(() => zaqar.DeleteAsync(queue, id));
        Assert.Equal(403, refused.StatusCode);
        Assert.Contains("claim", refused.Description, StringComparison.OrdinalIgnoreCase);

        await zaqar.DeleteAsync(queue, id, claim.Id);
        Assert.Null(await zaqar.GetAsync(queue, id));
    }

    [Fact]
    public async Task Claimed_messages_are_deleted_together_under_their_claims_even_when_one_is_gone_already()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var ids = await zaqar.PostAsync(queue, Enumerable.Range(0, 6).Select(i => OutgoingMessage.Of(i)).ToList());
        var first = await zaqar.ClaimAsync(queue, limit: 3);
        var second = await zaqar.ClaimAsync(queue, limit: 3);
        var unclaimed = await zaqar.PostAsync(queue, OutgoingMessage.Of("other"));

        await zaqar.DeleteAsync(queue, ids[5], second.Id);
        await zaqar.DeleteManyAsync(queue, [.. ids], [first.Id!, second.Id!]);

        foreach (var id in ids)
        {
            Assert.Null(await zaqar.GetAsync(queue, id));
        }
        Assert.NotNull(await zaqar.GetAsync(queue, unclaimed));
    }

    [Fact]
    public async Task Renewing_an_unknown_claim_is_a_404()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        await zaqar.CreateQueueAsync(queue);

        var ex = await Assert.ThrowsAsync<ZaqarException>(() => zaqar.RenewClaimAsync(queue, Guid.NewGuid().ToString()));

        Assert.Equal(404, ex.StatusCode);
    }

    [Theory]
    [InlineData(0, 60, 60)]
    [InlineData(21, 60, 60)]
    [InlineData(1, 59, 60)]
    [InlineData(1, 60, 59)]
    [InlineData(1, 43_201, 60)]
    public async Task Claim_arguments_outside_zaqar_limits_are_refused_before_sending(int limit, int ttl, int grace)
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => zaqar.ClaimAsync(ZaqarBed.NewQueue(), limit, ttl, grace));

        Assert.Equal(0, zaqar.RequestsSent);
    }

    [Fact]
    public async Task Message_is_dead_lettered_after_max_claim_count()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var dlq = ZaqarBed.NewQueue("dlq");
        await zaqar.CreateQueueAsync(dlq);
        await zaqar.CreateQueueAsync(queue, new QueueOptions { MaxClaimCount = 2, DeadLetterQueue = dlq });
        var id = await zaqar.PostAsync(queue, OutgoingMessage.Of("poison"));

        for (var i = 0; i < 2; i++)
        {
            var claim = await zaqar.ClaimAsync(queue, ttlSeconds: 60, graceSeconds: 60);
            Assert.Equal(id, Assert.Single(claim.Messages).Id);
            await zaqar.ReleaseClaimAsync(queue, claim.Id!);
        }
        var third = await zaqar.ClaimAsync(queue, ttlSeconds: 60, graceSeconds: 60);

        Assert.True(third.IsEmpty);
        Assert.Equal(0, (await zaqar.GetQueueStatsAsync(queue)).Total);
        // Zaqar 15 moves it with its last claim still on it, so it only shows with include_claimed.
        var dead = await zaqar.ListAsync(dlq, new ListOptions { Echo = true, IncludeClaimed = true });
        Assert.Equal("poison", Assert.Single(dead.Messages).Body.GetString());
    }

    // Waits out Zaqar's shortest claim TTL (60 s): the longer mode only.
    [LongFact]
    public async Task Claimed_message_is_claimable_again_after_the_claim_expires()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var id = await zaqar.PostAsync(queue, OutgoingMessage.Of("slow job"));
        var first = await zaqar.ClaimAsync(queue, ttlSeconds: ZaqarLimits.MinClaimTtlSeconds, graceSeconds: 60);
        Assert.Equal(id, Assert.Single(first.Messages).Id);
        Assert.True((await zaqar.ClaimAsync(queue)).IsEmpty);

        // Zaqar's shortest claim is 60 s: wait it out, then poll until the message is free again.
        await Task.Delay(TimeSpan.FromSeconds(58));
        Claim again = Claim.Empty;
        for (var i = 0; i < 40 && again.IsEmpty; i++)
        {
            again = await zaqar.ClaimAsync(queue, ttlSeconds: 60, graceSeconds: 60);
            if (again.IsEmpty)
            {
                await Task.Delay(500);
            }
        }

        Assert.Equal(id, Assert.Single(again.Messages).Id);
        // Until Zaqar's GC (every 5 s on the bed) removes the expired claim, Zaqar 15 answers 503
        // here (a TypeError on the vanished claim); the client retries that as a transient fault.
        var patient = new ZaqarClient(zaqar.Options with { MaxAttempts = 20, RetryBaseDelay = TimeSpan.FromMilliseconds(500), RetryMaxDelay = TimeSpan.FromSeconds(1) });
        var stale = await Assert.ThrowsAsync<ZaqarException>(() => patient.DeleteAsync(queue, id, first.Id));
        Assert.Contains(stale.StatusCode, new int?[] { 400, 403 });
        await zaqar.DeleteAsync(queue, id, again.Id);
    }
}
