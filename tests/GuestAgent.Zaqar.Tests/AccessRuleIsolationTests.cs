using System.Text.Json.Nodes;
using GuestAgent.Testing;

namespace GuestAgent.Zaqar.Tests;

/// <summary>
/// Can a guest that must not hold its project's full credentials have push? The candidate: a
/// keystone application credential restricted by access rules to the guest's own command queue.
/// These tests pin what the bed's Zaqar (keystonemiddleware 10.1 auth_token, configured with
/// <c>service_type = messaging</c> and <c>service_token_roles_required = true</c>, see
/// tools/keystone/zaqar.conf.in) enforces for tenant B's guest holding such a token: over HTTP the
/// rules confine it to its own queue; over the WebSocket they are checked once, at
/// <c>authenticate</c>, against a fixed fake request (<c>POST /</c>), and never per action.
/// </summary>
public sealed class AccessRuleIsolationTests(KeystoneWebSocketBedFixture fixture) : IClassFixture<KeystoneWebSocketBedFixture>
{
    private readonly KeystoneBed _bed = fixture.Bed;

    [Fact]
    public async Task Access_rule_restricted_credential_claims_and_deletes_in_its_own_queue_over_http_and_nothing_else()
    {
        var (own, _) = await TwoGuestQueuesOfTenantBAsync();
        var token = await GuestTokenAsync(own);
        var guest = _bed.Client(token, _bed.ProjectId(Tenant.B));

        var claim = await guest.ClaimAsync(own, limit: 1, ttlSeconds: 60, graceSeconds: 60);
        Assert.Equal("for-" + own, Assert.Single(claim.Messages).Body.GetString());
        await guest.DeleteAsync(own, claim.Messages[0].Id, claim.Id);
        Assert.Equal(0, (await _bed.Client(Tenant.B).GetQueueStatsAsync(own)).Total);

        // Only the listed methods and paths: a post to its own queue, its stats, the queue list are refused.
        await AssertUnauthorized(() => guest.PostAsync(own, OutgoingMessage.Of("self")));
        await AssertUnauthorized(() => guest.GetQueueStatsAsync(own));
        var (status, _) = await _bed.RawZaqarAsync(HttpMethod.Get, "/v2/queues", Headers(token));
        Assert.Equal(401, status);
    }

    [Fact]
    public async Task Access_rule_restricted_credential_cannot_claim_a_sibling_queue_over_http()
    {
        var (own, sibling) = await TwoGuestQueuesOfTenantBAsync();
        var token = await GuestTokenAsync(own);
        var guest = _bed.Client(token, _bed.ProjectId(Tenant.B));
        var siblingMessage = (await _bed.Client(Tenant.B).ListAsync(sibling)).Messages.Single().Id;

        await AssertUnauthorized(() => guest.ClaimAsync(sibling, limit: 1, ttlSeconds: 60, graceSeconds: 60));
        await AssertUnauthorized(() => guest.ListAsync(sibling));
        await AssertUnauthorized(() => guest.GetAsync(sibling, siblingMessage));
        await AssertUnauthorized(() => guest.DeleteAsync(sibling, siblingMessage, null));
        await AssertUnauthorized(() => guest.PostAsync(sibling, OutgoingMessage.Of("forged")));

        // The sibling's message is untouched and unclaimed.
        Assert.Equal(new QueueStats(Claimed: 0, Free: 1, Total: 1), await _bed.Client(Tenant.B).GetQueueStatsAsync(sibling));
    }

    [Fact]
    public async Task Access_rule_restricted_credential_cannot_reach_a_foreign_tenants_queue_over_http()
    {
        var queueOfA = ZaqarBed.NewQueue();
        await _bed.Client(Tenant.A).PostAsync(queueOfA, OutgoingMessage.Of("for-a"));
        var (own, _) = await TwoGuestQueuesOfTenantBAsync();

        // Rules for B's own queue: A's queue is not among them.
        var guest = _bed.Client(await GuestTokenAsync(own), _bed.ProjectId(Tenant.A));
        await AssertUnauthorized(() => guest.ClaimAsync(queueOfA, limit: 1, ttlSeconds: 60, graceSeconds: 60));

        // Rules naming A's queue name (paths carry no project): the project still comes from the
        // token, so the claim reaches B's namespace, which has no such messages.
        var sameName = _bed.Client(await GuestTokenAsync(queueOfA), _bed.ProjectId(Tenant.A));
        Assert.True((await sameName.ClaimAsync(queueOfA, limit: 1, ttlSeconds: 60, graceSeconds: 60)).IsEmpty);

        Assert.Equal(new QueueStats(Claimed: 0, Free: 1, Total: 1), await _bed.Client(Tenant.A).GetQueueStatsAsync(queueOfA));
    }

    [Fact]
    public async Task Access_rule_restricted_credential_cannot_lift_its_rules_by_sending_itself_as_a_service_token()
    {
        // keystonemiddleware skips the access-rule check when a valid X-Service-Token comes along,
        // and by default (service_token_roles_required = false) takes ANY valid token as one: the
        // restricted token sent in both headers then claims from the sibling's queue (201, seen on
        // this bed with the default). The bed requires the service role there, so it is refused.
        var (own, sibling) = await TwoGuestQueuesOfTenantBAsync();
        var token = await GuestTokenAsync(own);

        var (status, _) = await _bed.RawZaqarAsync(HttpMethod.Post, $"/v2/queues/{sibling}/claims?limit=1",
            new Dictionary<string, string> { ["X-Auth-Token"] = token, ["X-Service-Token"] = token }, """{"ttl": 60, "grace": 60}""");
        Assert.Equal(401, status);

        await using var socket = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, _bed.ProjectId(Tenant.B));
        Assert.Equal(401, await socket.AuthenticateAsync(token, new Dictionary<string, string> { ["X-Service-Token"] = token }));
        Assert.Equal(403, ZaqarSocket.Status(await socket.ClaimAsync(sibling)));

        Assert.Equal(new QueueStats(Claimed: 0, Free: 1, Total: 1), await _bed.Client(Tenant.B).GetQueueStatsAsync(sibling));
    }

    [Fact]
    public async Task Access_rule_restricted_credential_cannot_authenticate_a_socket_with_rules_for_its_queue_only()
    {
        // authenticate runs auth_token once on a fake request, POST "/", which no queue path matches.
        var (own, _) = await TwoGuestQueuesOfTenantBAsync();
        await using var socket = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, _bed.ProjectId(Tenant.B));

        Assert.Equal(401, await socket.AuthenticateAsync(await GuestTokenAsync(own)));
        Assert.Equal(403, await socket.SubscribeAsync(own));
        Assert.Equal(403, ZaqarSocket.Status(await socket.ClaimAsync(own)));
    }

    /// <summary>
    /// The isolation failure that keeps restricted guests polling: once a rule lets the token
    /// authenticate a socket (the only way it can), the socket serves every queue of the project.
    /// No socket action (subscription_create, claim_create, message_delete) goes through
    /// keystonemiddleware again, so the access rules are not checked per action; the same token is
    /// still refused on the sibling's queue over HTTP.
    /// </summary>
    [Fact]
    public async Task Access_rule_restricted_credential_can_subscribe_claim_and_delete_in_a_sibling_queue_over_the_socket()
    {
        var (own, sibling) = await TwoGuestQueuesOfTenantBAsync();
        var token = await GuestTokenAsync(own, AccessRule.Messaging("POST", "/"));
        var overHttp = _bed.Client(token, _bed.ProjectId(Tenant.B));
        await AssertUnauthorized(() => overHttp.ClaimAsync(sibling, limit: 1, ttlSeconds: 60, graceSeconds: 60));

        await using var socket = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, _bed.ProjectId(Tenant.B));
        Assert.Equal(200, await socket.AuthenticateAsync(token));

        // NOT confined: the sibling's queue is subscribed, pushed, claimed and emptied.
        Assert.Equal(201, await socket.SubscribeAsync(sibling));
        await _bed.Client(Tenant.B).PostAsync(sibling, OutgoingMessage.Of("pushed-" + sibling));
        var push = await socket.NextNotificationAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(push);
        Assert.Equal("pushed-" + sibling, push.Value.Body.GetProperty("body").GetString());

        var claim = await socket.ClaimAsync(sibling, limit: 2);
        Assert.Equal(201, ZaqarSocket.Status(claim));
        var claimId = claim.GetProperty("body").GetProperty("claim_id").GetString()!;
        var claimed = claim.GetProperty("body").GetProperty("messages").EnumerateArray().ToList();
        Assert.Contains(claimed, m => m.GetProperty("body").ValueEquals("for-" + sibling));
        foreach (var message in claimed)
        {
            Assert.Equal(204, await socket.DeleteMessageAsync(sibling, message.GetProperty("id").GetString()!, claimId));
        }
        Assert.Equal(2 - claimed.Count, (await _bed.Client(Tenant.B).GetQueueStatsAsync(sibling)).Total);

        // ... and it may post commands into any queue of the project.
        Assert.Equal(201, ZaqarSocket.Status(await socket.RequestAsync("message_post", new JsonObject
        {
            ["queue_name"] = sibling,
            ["messages"] = new JsonArray(new JsonObject { ["ttl"] = 300, ["body"] = "forged" }),
        })));
    }

    [Fact]
    public async Task Access_rule_restricted_credential_cannot_reach_a_foreign_tenants_queue_over_the_socket()
    {
        var queueOfA = ZaqarBed.NewQueue();
        await _bed.Client(Tenant.A).PostAsync(queueOfA, OutgoingMessage.Of("for-a"));
        var (own, _) = await TwoGuestQueuesOfTenantBAsync();
        var token = await GuestTokenAsync(own, AccessRule.Messaging("POST", "/"));

        // Frames naming tenant A's project: every action is refused (the socket keeps the token's project).
        await using var socket = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, _bed.ProjectId(Tenant.A));
        Assert.Equal(200, await socket.AuthenticateAsync(token));
        Assert.Equal(403, await socket.SubscribeAsync(queueOfA));
        Assert.Equal(403, ZaqarSocket.Status(await socket.ClaimAsync(queueOfA)));

        // Frames naming its own project reach B's namespace only: nothing to claim under A's queue name.
        await using var own2 = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, _bed.ProjectId(Tenant.B));
        Assert.Equal(200, await own2.AuthenticateAsync(token));
        Assert.Equal(204, ZaqarSocket.Status(await own2.ClaimAsync(queueOfA)));

        Assert.Equal(new QueueStats(Claimed: 0, Free: 1, Total: 1), await _bed.Client(Tenant.A).GetQueueStatsAsync(queueOfA));
    }

    /// <summary>Two command queues of tenant B (its guest's and a sibling guest's), one message each ("for-QUEUE").</summary>
    private async Task<(string Own, string Sibling)> TwoGuestQueuesOfTenantBAsync()
    {
        var (own, sibling) = (ZaqarBed.NewQueue(), ZaqarBed.NewQueue());
        var b = _bed.Client(Tenant.B);
        await b.PostAsync(own, OutgoingMessage.Of("for-" + own));
        await b.PostAsync(sibling, OutgoingMessage.Of("for-" + sibling));
        return (own, sibling);
    }

    /// <summary>
    /// A token of a tenant-B application credential whose access rules allow what a polling guest
    /// needs on <paramref name="queue"/> (claim, list, delete a message), plus <paramref name="extra"/>.
    /// </summary>
    private async Task<string> GuestTokenAsync(string queue, params AccessRule[] extra)
    {
        AccessRule[] rules =
        [
            AccessRule.Messaging("POST", $"/v2/queues/{queue}/claims"),
            AccessRule.Messaging("GET", $"/v2/queues/{queue}/messages"),
            AccessRule.Messaging("DELETE", $"/v2/queues/{queue}/messages/*"),
            .. extra,
        ];
        var credential = await _bed.CreateApplicationCredentialAsync(Tenant.B, rules);
        var token = await _bed.IssueTokenAsync(credential);
        Assert.Equal(_bed.ProjectId(Tenant.B), token.ProjectId);
        return token.Value;
    }

    private static Dictionary<string, string> Headers(string token) => new() { ["X-Auth-Token"] = token };

    private static async Task AssertUnauthorized(Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<ZaqarException>(call);
        Assert.Equal(401, ex.StatusCode);
    }
}
