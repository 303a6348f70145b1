using System.Text.Json;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Zaqar.Tests;

/// <summary>
/// Tenant isolation on a real keystone-authenticated Zaqar (tools/keystone, see <see cref="KeystoneBed"/>),
/// through the real <see cref="ZaqarClient"/>. Zaqar keeps projects apart by the project of the
/// token alone: another tenant's requests on a queue name reach that tenant's own (usually empty)
/// queue of the same name, not the owner's. Pre-signed URLs skip keystone and are checked by their
/// HMAC; Zaqar answers every failed check with 404.
/// </summary>
public sealed class KeystoneIsolationTests
{
    private static readonly ListOptions Everything = new() { Limit = 20, Echo = true, IncludeClaimed = true };
    private readonly KeystoneBed _bed = KeystoneBed.Shared;

    [Fact]
    public async Task Keystone_scopes_each_users_token_to_its_own_project_only()
    {
        var a = await _bed.IssueTokenAsync(_bed.TenantA);
        var b = await _bed.IssueTokenAsync(_bed.TenantB);

        Assert.Equal(_bed.TenantA.ProjectId, a.ProjectId);
        Assert.Equal(_bed.TenantB.ProjectId, b.ProjectId);
        Assert.NotEqual(a.ProjectId, b.ProjectId);
        Assert.NotEqual(a.Value, b.Value);
        var foreignScope = await Assert.ThrowsAsync<KeystoneAuthException>(
            () => _bed.IssueTokenAsync(_bed.TenantB.UserName, _bed.TenantB.Password, _bed.TenantA.ProjectId));
        var wrongPassword = await Assert.ThrowsAsync<KeystoneAuthException>(
            () => _bed.IssueTokenAsync(_bed.TenantA.UserName, _bed.TenantB.Password, _bed.TenantA.ProjectId));
        Assert.Equal(401, foreignScope.StatusCode);
        Assert.Equal(401, wrongPassword.StatusCode);
    }

    [Fact]
    public async Task Tenant_B_cannot_list_read_claim_or_touch_claims_on_tenant_A_queue()
    {
        var a = _bed.Client(Tenant.A);
        var b = _bed.Client(Tenant.B);
        var queue = ZaqarBed.NewQueue("a-only");
        await a.CreateQueueAsync(queue);
        var ids = await a.PostAsync(queue, [OutgoingMessage.Of("secret-1"), OutgoingMessage.Of("secret-2"), OutgoingMessage.Of("secret-3")]);
        var claimA = await a.ClaimAsync(queue, limit: 1, ttlSeconds: 120, graceSeconds: 60);
        Assert.NotNull(claimA.Id);

        // Everything B asks about `queue` is answered from B's own (non-existent) queue of that name.
        Assert.Empty((await b.ListAsync(queue, Everything)).Messages);
        Assert.Empty(await ToListAsync(b.ListAllAsync(queue, Everything)));
        Assert.True((await b.ClaimAsync(queue, limit: 20, ttlSeconds: 60, graceSeconds: 60)).IsEmpty);
        Assert.Equal(new QueueStats(0, 0, 0), await b.GetQueueStatsAsync(queue));
        foreach (var id in ids)
        {
            Assert.Null(await b.GetAsync(queue, id));
        }
        Assert.Empty(await b.GetManyAsync(queue, ids.ToList()));
        Assert.Null(await b.GetClaimAsync(queue, claimA.Id!));
        var renew = await Assert.ThrowsAsync<ZaqarException>(() => b.RenewClaimAsync(queue, claimA.Id!, ttlSeconds: 3600));
        Assert.Equal(404, renew.StatusCode);
        // Zaqar answers 204 to these (deleting what does not exist is "done"), and they change nothing of A's.
        await b.ReleaseClaimAsync(queue, claimA.Id!);
        await b.DeleteAsync(queue, ids[1]);
        await b.DeleteQueueAsync(queue);
        Assert.DoesNotContain(queue, await QueueNamesAsync(Tenant.B));

        Assert.Contains(queue, await QueueNamesAsync(Tenant.A));
        Assert.Equal(new QueueStats(Claimed: 1, Free: 2, Total: 3), await a.GetQueueStatsAsync(queue));
        var stillClaimed = await a.GetClaimAsync(queue, claimA.Id!);
        Assert.NotNull(stillClaimed);
        Assert.Equal(120, stillClaimed.TtlSeconds);
        Assert.Equal(claimA.Messages.Select(m => m.Id), stillClaimed.Messages.Select(m => m.Id));
        var bodies = (await ToListAsync(a.ListAllAsync(queue, Everything))).ToDictionary(m => m.Id, m => m.Body.GetString());
        Assert.Equal(new Dictionary<string, string?> { [ids[0]] = "secret-1", [ids[1]] = "secret-2", [ids[2]] = "secret-3" }, bodies);
    }

    [Fact]
    public async Task Tenant_B_posting_to_tenant_A_queue_name_writes_to_its_own_queue_only()
    {
        var a = _bed.Client(Tenant.A);
        var b = _bed.Client(Tenant.B);
        var queue = ZaqarBed.NewQueue("shared-name");
        await a.CreateQueueAsync(queue);
        var idA = await a.PostAsync(queue, OutgoingMessage.Of("from-a"));

        var idB = await b.PostAsync(queue, OutgoingMessage.Of("from-b"));

        Assert.NotEqual(idA, idB);
        var seenByA = await ToListAsync(a.ListAllAsync(queue, Everything));
        var seenByB = await ToListAsync(b.ListAllAsync(queue, Everything));
        Assert.Equal([("from-a", idA)], seenByA.Select(m => (m.Body.GetString(), m.Id)));
        Assert.Equal([("from-b", idB)], seenByB.Select(m => (m.Body.GetString(), m.Id)));
        var claimB = await b.ClaimAsync(queue, limit: 20, ttlSeconds: 60, graceSeconds: 60);
        Assert.Equal([idB], claimB.Messages.Select(m => m.Id));

        await b.DeleteQueueAsync(queue);

        Assert.Equal(new QueueStats(0, 0, 0), await b.GetQueueStatsAsync(queue));
        Assert.Equal(new QueueStats(Claimed: 0, Free: 1, Total: 1), await a.GetQueueStatsAsync(queue));
        Assert.Equal("from-a", (await a.GetAsync(queue, idA))!.Body.GetString());
    }

    [Fact]
    public async Task Spoofed_project_header_with_tenant_B_token_does_not_reach_tenant_A()
    {
        var a = _bed.Client(Tenant.A);
        var queue = ZaqarBed.NewQueue("spoofed");
        await a.CreateQueueAsync(queue);
        var idA = await a.PostAsync(queue, OutgoingMessage.Of("for-a-only"));
        var tokenB = await _bed.TokenAsync(Tenant.B);
        // B's token, but X-Project-Id says tenant A on every request.
        var spoofer = _bed.Client(tokenB, projectIdHint: _bed.TenantA.ProjectId);

        Assert.Empty((await spoofer.ListAsync(queue, Everything)).Messages);
        Assert.Null(await spoofer.GetAsync(queue, idA));
        Assert.True((await spoofer.ClaimAsync(queue, limit: 20, ttlSeconds: 60, graceSeconds: 60)).IsEmpty);
        Assert.Equal(new QueueStats(0, 0, 0), await spoofer.GetQueueStatsAsync(queue));
        var (listStatus, listBody) = await _bed.RawZaqarAsync(HttpMethod.Get, "/v2/queues",
            new Dictionary<string, string> { ["X-Auth-Token"] = tokenB, ["X-Project-Id"] = _bed.TenantA.ProjectId });
        Assert.Equal(200, listStatus);
        Assert.DoesNotContain(queue, QueueNames(listBody));
        var shared = await spoofer.ShareAsync(queue, ["messages"], ["GET"], DateTimeOffset.UtcNow.AddHours(1));
        Assert.Equal(_bed.TenantB.ProjectId, shared.Project);
        var idB = await spoofer.PostAsync(queue, OutgoingMessage.Of("spoofed-post"));

        // The post went to B's namespace: B sees it with an honest client, A does not.
        var honestB = _bed.Client(Tenant.B);
        Assert.Equal([idB], (await ToListAsync(honestB.ListAllAsync(queue, Everything))).Select(m => m.Id));
        Assert.Equal([idA], (await ToListAsync(a.ListAllAsync(queue, Everything))).Select(m => m.Id));
        Assert.Equal(new QueueStats(Claimed: 0, Free: 1, Total: 1), await a.GetQueueStatsAsync(queue));
    }

    [Fact]
    public async Task Requests_without_a_valid_token_are_refused_with_401()
    {
        var a = _bed.Client(Tenant.A);
        var queue = ZaqarBed.NewQueue("no-token");
        await a.CreateQueueAsync(queue);
        await a.PostAsync(queue, OutgoingMessage.Of("kept"));
        // ZaqarAuth.None sends only X-Project-Id (tenant A's), no X-Auth-Token.
        var anonymous = _bed.Client(new ZaqarAuth.None(_bed.TenantA.ProjectId));
        var bogus = _bed.Client("not-a-token", _bed.TenantA.ProjectId);

        foreach (var client in new[] { anonymous, bogus })
        {
            var calls = new Func<Task>[]
            {
                () => client.ListAsync(queue, Everything),
                () => client.GetQueueStatsAsync(queue),
                () => client.PostAsync(queue, OutgoingMessage.Of("intruder")),
                () => client.ClaimAsync(queue, limit: 20, ttlSeconds: 60, graceSeconds: 60),
                () => client.CreateQueueAsync(ZaqarBed.NewQueue("intruder")),
                () => client.DeleteQueueAsync(queue),
                () => client.ShareAsync(queue, ["messages"], ["GET"]),
            };
            foreach (var call in calls)
            {
                var ex = await Assert.ThrowsAsync<ZaqarException>(call);
                Assert.Equal(401, ex.StatusCode);
            }
        }
        var (status, _) = await _bed.RawZaqarAsync(HttpMethod.Get, "/v2/queues", new Dictionary<string, string>());
        Assert.Equal(401, status);
        Assert.Equal(["kept"], (await ToListAsync(a.ListAllAsync(queue, Everything))).Select(m => m.Body.GetString()));
    }

    /// <summary>
    /// keystonemiddleware keeps tokens it has validated in its cache (token_cache_time, 300 s by
    /// default): a revoked token that Zaqar has not seen yet is refused at once, one it has already
    /// seen keeps working until that cache entry expires. This pins both halves.
    /// </summary>
    [Fact]
    public async Task Revoked_token_is_refused_unless_zaqar_has_already_cached_it()
    {
        var queue = ZaqarBed.NewQueue("revoked");
        var seen = await _bed.IssueTokenAsync(_bed.TenantA);
        var unseen = await _bed.IssueTokenAsync(_bed.TenantA);
        var withSeen = _bed.Client(seen.Value, _bed.TenantA.ProjectId);
        var withUnseen = _bed.Client(unseen.Value, _bed.TenantA.ProjectId);
        await withSeen.CreateQueueAsync(queue);

        await _bed.RevokeTokenAsync(seen.Value);
        await _bed.RevokeTokenAsync(unseen.Value);

        var refused = await Assert.ThrowsAsync<ZaqarException>(() => withUnseen.PostAsync(queue, OutgoingMessage.Of("after revoke")));
        Assert.Equal(401, refused.StatusCode);
        await withSeen.PostAsync(queue, OutgoingMessage.Of("cached token"));
        Assert.Equal(1, (await _bed.Client(Tenant.A).GetQueueStatsAsync(queue)).Total);
    }

    [Fact]
    public async Task Pre_signed_url_works_for_exactly_its_methods_on_its_paths()
    {
        var a = _bed.Client(Tenant.A);
        var queue = ZaqarBed.NewQueue("signed");
        await a.CreateQueueAsync(queue);
        var ids = await a.PostAsync(queue, [OutgoingMessage.Of("job-1"), OutgoingMessage.Of("job-2")]);
        var url = await a.ShareAsync(queue, ["messages", "claims"], ["GET", "POST"], DateTimeOffset.UtcNow.AddHours(1));
        var guest = _bed.PreSignedClient(url);

        Assert.Equal(_bed.TenantA.ProjectId, url.Project);
        Assert.Equal(queue, url.Queue);
        Assert.Equal([$"/v2/queues/{queue}/claims", $"/v2/queues/{queue}/messages"], url.Paths);
        Assert.Equal(["GET", "POST"], url.Methods);
        // Signed: GET and POST on .../messages and .../claims (any pair of the two sets).
        Assert.Equal(ids.Order(), (await guest.ListAsync(queue, Everything)).Messages.Select(m => m.Id).Order());
        Assert.Equal("job-1", (await guest.GetAsync(queue, ids[0]))!.Body.GetString());
        var claim = await guest.ClaimAsync(queue, limit: 1, ttlSeconds: 120, graceSeconds: 60);
        Assert.Equal([ids[0]], claim.Messages.Select(m => m.Id));
        Assert.NotNull(await guest.GetClaimAsync(queue, claim.Id!));
        var posted = await guest.PostAsync(queue, OutgoingMessage.Of("from-guest"));

        // Not signed: other methods on those paths, and every other path of the queue.
        var refused = new (string What, Func<Task> Call)[]
        {
            ("DELETE message", () => guest.DeleteAsync(queue, ids[1])),
            ("DELETE claimed message", () => guest.DeleteAsync(queue, ids[0], claim.Id)),
            ("PATCH claim", () => guest.RenewClaimAsync(queue, claim.Id!)),
            ("DELETE claim", () => guest.ReleaseClaimAsync(queue, claim.Id!)),
            ("GET stats", () => guest.GetQueueStatsAsync(queue)),
            ("GET queue", () => guest.GetQueueMetadataAsync(queue)),
            ("PUT queue", () => guest.CreateQueueAsync(queue)),
            ("DELETE queue", () => guest.DeleteQueueAsync(queue)),
            ("POST share", () => guest.ShareAsync(queue, ["messages"], ["GET", "POST", "DELETE"])),
        };
        foreach (var (what, call) in refused)
        {
            var ex = await Assert.ThrowsAsync<ZaqarException>(call);
            Assert.True(ex.StatusCode == 404, $"{what}: expected 404, got {ex.StatusCode}");
        }
        var (listStatus, _) = await _bed.RawZaqarAsync(HttpMethod.Get, "/v2/queues", SignedHeaders(url));
        Assert.Equal(404, listStatus);

        Assert.Equal(new QueueStats(Claimed: 1, Free: 2, Total: 3), await a.GetQueueStatsAsync(queue));
        var claimNow = await a.GetClaimAsync(queue, claim.Id!);
        Assert.Equal(120, claimNow!.TtlSeconds);
        Assert.Equal("from-guest", (await a.GetAsync(queue, posted))!.Body.GetString());
    }

    [Fact]
    public async Task Pre_signed_url_is_refused_for_another_queue_and_another_project()
    {
        var a = _bed.Client(Tenant.A);
        var b = _bed.Client(Tenant.B);
        var queue = ZaqarBed.NewQueue("signed");
        var otherQueue = ZaqarBed.NewQueue("other");
        await a.CreateQueueAsync(queue);
        await a.CreateQueueAsync(otherQueue);
        await a.PostAsync(otherQueue, OutgoingMessage.Of("a-other"));
        await b.PostAsync(queue, OutgoingMessage.Of("b-same-name"));
        var url = await a.ShareAsync(queue, ["messages", "claims"], ["GET", "POST"], DateTimeOffset.UtcNow.AddHours(1));
        var onOtherQueue = _bed.PreSignedClient(url);
        var asTenantB = _bed.PreSignedClient(url with { Project = _bed.TenantB.ProjectId });
        var urlOfB = await b.ShareAsync(queue, ["messages", "claims"], ["GET", "POST"], DateTimeOffset.UtcNow.AddHours(1));
        var bUrlAsTenantA = _bed.PreSignedClient(urlOfB with { Project = _bed.TenantA.ProjectId });

        var refused = new (string What, Func<Task> Call)[]
        {
            ("other queue: list", () => onOtherQueue.ListAsync(otherQueue, Everything)),
            ("other queue: post", () => onOtherQueue.PostAsync(otherQueue, OutgoingMessage.Of("x"))),
            ("other queue: claim", () => onOtherQueue.ClaimAsync(otherQueue, limit: 20, ttlSeconds: 60, graceSeconds: 60)),
            ("project B: list", () => asTenantB.ListAsync(queue, Everything)),
            ("project B: post", () => asTenantB.PostAsync(queue, OutgoingMessage.Of("x"))),
            ("project B: claim", () => asTenantB.ClaimAsync(queue, limit: 20, ttlSeconds: 60, graceSeconds: 60)),
            ("B's url as project A: list", () => bUrlAsTenantA.ListAsync(queue, Everything)),
            ("B's url as project A: claim", () => bUrlAsTenantA.ClaimAsync(queue, limit: 20, ttlSeconds: 60, graceSeconds: 60)),
        };
        foreach (var (what, call) in refused)
        {
            var ex = await Assert.ThrowsAsync<ZaqarException>(call);
            Assert.True(ex.StatusCode == 404, $"{what}: expected 404, got {ex.StatusCode}");
        }

        Assert.Equal(new QueueStats(0, 1, 1), await a.GetQueueStatsAsync(otherQueue));
        Assert.Equal(new QueueStats(0, 0, 0), await a.GetQueueStatsAsync(queue));
        Assert.Equal(["b-same-name"], (await ToListAsync(b.ListAllAsync(queue, Everything))).Select(m => m.Body.GetString()));
        Assert.Equal(new QueueStats(0, 1, 1), await b.GetQueueStatsAsync(queue));
    }

    [Fact]
    public async Task Tampered_widened_or_foreign_key_signatures_are_refused()
    {
        var a = _bed.Client(Tenant.A);
        var queue = ZaqarBed.NewQueue("tamper");
        await a.CreateQueueAsync(queue);
        await a.PostAsync(queue, OutgoingMessage.Of("original"));
        var good = await a.ShareAsync(queue, ["messages"], ["GET"], DateTimeOffset.UtcNow.AddHours(1));
        var flipped = good.Signature[^1] == '0' ? '1' : '0';
        var forgeries = new (string What, PreSignedUrl Url)[]
        {
            ("one hex digit changed", good with { Signature = good.Signature[..^1] + flipped }),
            ("signature upper-cased", good with { Signature = good.Signature.ToUpperInvariant() }),
            ("methods widened", good with { Methods = ["DELETE", "GET", "POST"] }),
            ("paths widened", good with { Paths = [.. good.Paths, $"/v2/queues/{queue}/claims"] }),
            ("expiry pushed back", good with { Expires = DateTimeOffset.UtcNow.AddDays(30).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss") }),
            ("signed with another key", PreSignedUrl.Mint("not-the-secret", queue, _bed.TenantA.ProjectId,
                good.ExpiresAt, ["messages"], ["GET"])),
        };

        foreach (var (what, url) in forgeries)
        {
            var guest = _bed.PreSignedClient(url);
            var list = await Assert.ThrowsAsync<ZaqarException>(() => guest.ListAsync(queue, Everything));
            Assert.True(list.StatusCode == 404, $"{what}: GET expected 404, got {list.StatusCode}");
            var post = await Assert.ThrowsAsync<ZaqarException>(() => guest.PostAsync(queue, OutgoingMessage.Of("forged")));
            Assert.True(post.StatusCode == 404, $"{what}: POST expected 404, got {post.StatusCode}");
        }
        // An empty URL-Signature (ZaqarClient refuses to send one) must not fall through to "no auth".
        var headers = SignedHeaders(good);
        headers["URL-Signature"] = "";
        var (emptyStatus, emptyBody) = await _bed.RawZaqarAsync(HttpMethod.Get, $"/v2/queues/{queue}/messages?echo=true", headers);
        Assert.Equal(404, emptyStatus);
        Assert.DoesNotContain("original", emptyBody);

        Assert.Equal(new QueueStats(0, 1, 1), await a.GetQueueStatsAsync(queue));
        var genuine = await _bed.PreSignedClient(good).ListAsync(queue, Everything);
        Assert.Equal(["original"], genuine.Messages.Select(m => m.Body.GetString()));
    }

    [Fact]
    public async Task Pre_signed_url_stops_working_when_it_expires()
    {
        var a = _bed.Client(Tenant.A);
        var queue = ZaqarBed.NewQueue("expiring");
        await a.CreateQueueAsync(queue);
        await a.PostAsync(queue, OutgoingMessage.Of("before"));
        var shortLived = await a.ShareAsync(queue, ["messages"], ["GET", "POST"], DateTimeOffset.UtcNow.AddSeconds(8));
        var alreadyExpired = _bed.Mint(Tenant.A, queue, DateTimeOffset.UtcNow.AddMinutes(-1), ["messages"], ["GET", "POST"]);
        var guest = _bed.PreSignedClient(shortLived);

        Assert.Single((await guest.ListAsync(queue, Everything)).Messages);
        var expired = await Assert.ThrowsAsync<ZaqarException>(() => _bed.PreSignedClient(alreadyExpired).ListAsync(queue, Everything));
        Assert.Equal(404, expired.StatusCode);
        // The same secret and fields with a future expiry is accepted: the refusal above is the expiry.
        var sameButValid = _bed.Mint(Tenant.A, queue, DateTimeOffset.UtcNow.AddMinutes(5), ["messages"], ["GET", "POST"]);
        Assert.Single((await _bed.PreSignedClient(sameButValid).ListAsync(queue, Everything)).Messages);

        var wait = shortLived.ExpiresAt - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1.5);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        var list = await Assert.ThrowsAsync<ZaqarException>(() => guest.ListAsync(queue, Everything));
        var post = await Assert.ThrowsAsync<ZaqarException>(() => guest.PostAsync(queue, OutgoingMessage.Of("after")));
        Assert.Equal(404, list.StatusCode);
        Assert.Equal(404, post.StatusCode);
        Assert.Equal(1, (await a.GetQueueStatsAsync(queue)).Total);
    }

    /// <summary>
    /// KNOWN ZAQAR FLAW, pinned so that nobody relies on the opposite. Zaqar 15's Redis driver stores
    /// each message under its bare id and, for GET/DELETE of a message by id, checks only that the
    /// queue named in the path exists in the caller's project (zaqar/storage/redis/messages.py get,
    /// bulk_get, delete). So a tenant that knows another tenant's message id can read and delete that
    /// message through ANY queue of its own, with its token or with a pre-signed URL for its own
    /// queue. Listing and claiming are per project and do not leak (see the tests above).
    /// If this test fails, Zaqar now scopes message ids: turn it into an isolation assertion.
    /// </summary>
    [Fact]
    public async Task Known_zaqar_flaw_a_message_id_is_not_scoped_to_its_project()
    {
        var a = _bed.Client(Tenant.A);
        var b = _bed.Client(Tenant.B);
        var queueA = ZaqarBed.NewQueue("victim");
        var queueB = ZaqarBed.NewQueue("any-of-b");
        await a.CreateQueueAsync(queueA);
        var ids = await a.PostAsync(queueA, [OutgoingMessage.Of("a-secret-1"), OutgoingMessage.Of("a-secret-2")]);

        // Through a queue name B does not have, nothing leaks ...
        Assert.Null(await b.GetAsync(ZaqarBed.NewQueue("b-has-none"), ids[0]));
        await b.CreateQueueAsync(queueB);
        // ... through any queue B has, the message by id does.
        Assert.Equal("a-secret-1", (await b.GetAsync(queueB, ids[0]))?.Body.GetString());
        Assert.Equal(ids.Order(), (await b.GetManyAsync(queueB, ids.ToList())).Select(m => m.Id).Order());
        var urlOfB = await b.ShareAsync(queueB, ["messages"], ["GET"], DateTimeOffset.UtcNow.AddHours(1));
        Assert.Equal("a-secret-2", (await _bed.PreSignedClient(urlOfB).GetAsync(queueB, ids[1]))?.Body.GetString());
        // B's listing of its own queue still shows none of A's messages.
        Assert.Empty((await b.ListAsync(queueB, Everything)).Messages);

        await b.DeleteAsync(queueB, ids[0]);

        Assert.Null(await a.GetAsync(queueA, ids[0]));
        Assert.Equal("a-secret-2", (await a.GetAsync(queueA, ids[1]))?.Body.GetString());
    }

    private static async Task<List<QueueMessage>> ToListAsync(IAsyncEnumerable<QueueMessage> messages)
    {
        var list = new List<QueueMessage>();
        await foreach (var m in messages)
        {
            list.Add(m);
        }
        return list;
    }

    private async Task<List<string>> QueueNamesAsync(Tenant tenant)
    {
        var names = new List<string>();
        string? marker = null;
        while (true)
        {
            var path = "/v2/queues?limit=20" + (marker is null ? "" : "&marker=" + Uri.EscapeDataString(marker));
            var (status, body) = await _bed.RawZaqarAsync(HttpMethod.Get, path,
                new Dictionary<string, string> { ["X-Auth-Token"] = await _bed.TokenAsync(tenant) });
            Assert.Equal(200, status);
            // This Zaqar may hand the marker queue back as the next page (a tenant with one queue
            // gets it again and again): a page that adds no new name is the end.
            var fresh = QueueNames(body).Where(n => !names.Contains(n)).ToList();
            if (fresh.Count == 0)
            {
                return names;
            }
            names.AddRange(fresh);
            marker = fresh[^1];
        }
    }

    private static List<string> QueueNames(string listBody)
    {
        using var doc = JsonDocument.Parse(listBody);
        return doc.RootElement.GetProperty("queues").EnumerateArray().Select(q => q.GetProperty("name").GetString()!).ToList();
    }

    private static Dictionary<string, string> SignedHeaders(PreSignedUrl url) => new()
    {
        ["URL-Signature"] = url.Signature,
        ["URL-Expires"] = url.Expires,
        ["URL-Methods"] = string.Join(',', url.Methods),
        ["URL-Paths"] = string.Join(',', url.Paths),
        ["X-Project-Id"] = url.Project,
    };
}
