using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Zaqar.Tests;

public sealed class PreSignedUrlTests
{
    private readonly ZaqarBed _bed = ZaqarBed.Shared;

    [Fact]
    public async Task Shared_url_lets_its_holder_use_exactly_the_signed_methods_on_its_queue()
    {
        var project = ZaqarBed.NewProject();
        var owner = _bed.Client(project);
        var queueA = ZaqarBed.NewQueue("a");
        var queueB = ZaqarBed.NewQueue("b");
        await owner.CreateQueueAsync(queueA);
        await owner.CreateQueueAsync(queueB);
        var url = await owner.ShareAsync(queueA, ["messages"], ["GET", "POST"], DateTimeOffset.UtcNow.AddHours(1));
        var guest = _bed.Client(new ZaqarAuth.PreSigned(url));

        Assert.Equal(project, url.Project);
        Assert.Equal(queueA, url.Queue);
        var id = await guest.PostAsync(queueA, OutgoingMessage.Of("via signature"));
        Assert.Equal("via signature", (await guest.GetAsync(queueA, id))!.Body.GetString());

        var otherQueue = await Assert.ThrowsAsync<ZaqarException>(() => guest.PostAsync(queueB, OutgoingMessage.Of("x")));
        var notSignedMethod = await Assert.ThrowsAsync<ZaqarException>(() => guest.DeleteAsync(queueA, id));
        var notSignedPath = await Assert.ThrowsAsync<ZaqarException>(() => guest.ClaimAsync(queueA));
        Assert.All(new[] { otherQueue, notSignedMethod, notSignedPath }, e => Assert.Equal(404, e.StatusCode));
        Assert.Equal(0, (await owner.GetQueueStatsAsync(queueB)).Total);
        Assert.NotNull(await owner.GetAsync(queueA, id));
    }

    [Fact]
    public async Task Url_minted_offline_with_the_secret_matches_zaqar_and_works()
    {
        var project = ZaqarBed.NewProject();
        var owner = _bed.Client(project);
        var queue = ZaqarBed.NewQueue();
        var expires = new DateTimeOffset(DateTime.UtcNow.AddHours(2).Date.AddHours(DateTime.UtcNow.AddHours(2).Hour), TimeSpan.Zero);
        var fromServer = await owner.ShareAsync(queue, ["messages", "claims"], ["GET", "POST", "PATCH", "DELETE"], expires);

        var minted = PreSignedUrl.Mint(_bed.Secret, queue, project, expires, ["messages", "claims"], ["POST", "GET", "DELETE", "PATCH"]);

        Assert.Equal(fromServer.Signature, minted.Signature);
        Assert.Equal(fromServer.Paths, minted.Paths);
        Assert.Equal(fromServer.Methods, minted.Methods);
        var guest = _bed.Client(new ZaqarAuth.PreSigned(minted));
        await owner.PostAsync(queue, OutgoingMessage.Of("work"));
        var claim = await guest.ClaimAsync(queue, ttlSeconds: 60, graceSeconds: 60);
        await guest.DeleteAsync(queue, Assert.Single(claim.Messages).Id, claim.Id);
        Assert.Equal(0, (await owner.GetQueueStatsAsync(queue)).Total);
    }

    [Fact]
    public async Task Tampered_expired_and_foreign_project_signatures_are_refused()
    {
        var project = ZaqarBed.NewProject();
        var owner = _bed.Client(project);
        var queue = ZaqarBed.NewQueue();
        await owner.CreateQueueAsync(queue);
        var good = PreSignedUrl.Mint(_bed.Secret, queue, project, DateTimeOffset.UtcNow.AddHours(1), ["messages"], ["POST"]);
        var expired = PreSignedUrl.Mint(_bed.Secret, queue, project, DateTimeOffset.UtcNow.AddMinutes(-1), ["messages"], ["POST"]);
        var tampered = good with { Signature = (good.Signature[0] == 'a' ? "b" : "a") + good.Signature[1..] };
        var widened = good with { Methods = ["DELETE", "POST"] };
        var otherProject = good with { Project = ZaqarBed.NewProject() };
        var wrongKey = PreSignedUrl.Mint("not-the-secret", queue, project, DateTimeOffset.UtcNow.AddHours(1), ["messages"], ["POST"]);

        foreach (var bad in new[] { expired, tampered, widened, otherProject, wrongKey })
        {
            var ex = await Assert.ThrowsAsync<ZaqarException>(() => _bed.Client(new ZaqarAuth.PreSigned(bad)).PostAsync(queue, OutgoingMessage.Of("x")));
            Assert.Equal(404, ex.StatusCode);
        }
        Assert.Equal(0, (await owner.GetQueueStatsAsync(queue)).Total);
        await _bed.Client(new ZaqarAuth.PreSigned(good)).PostAsync(queue, OutgoingMessage.Of("ok"));
        Assert.Equal(1, (await owner.GetQueueStatsAsync(queue)).Total);
    }

    [Fact]
    public void Url_survives_a_json_round_trip()
    {
        var url = PreSignedUrl.Mint("k", "q1", "p1", new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero), ["messages"], ["get"]);

        var back = PreSignedUrl.Parse(url.ToJson());

        Assert.Equal(url.Signature, back.Signature);
        Assert.Equal(url.Paths, back.Paths);
        Assert.Equal(["GET"], back.Methods);
        Assert.Equal("2030-01-02T03:04:05", back.Expires);
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero), back.ExpiresAt);
    }
}
