using GuestAgent.Testing;

namespace GuestAgent.Zaqar.Tests;

/// <summary>A keystone bed whose Zaqar leaves [keystone_authtoken] service_type unset (keystonemiddleware's default).</summary>
public sealed class NoServiceTypeBedFixture : IDisposable
{
    public KeystoneBed Bed { get; } = KeystoneBed.StartPrivate(authToken: new Dictionary<string, string> { ["service_type"] = "" });

    public void Dispose() => Bed.Dispose();
}

/// <summary>
/// A keystone bed (with the WebSocket server) whose Zaqar checks access rules (service_type =
/// messaging) but keeps keystonemiddleware's default service_token_roles_required = false.
/// </summary>
public sealed class ServiceTokenRolesNotRequiredBedFixture : IDisposable
{
    public KeystoneBed Bed { get; } = KeystoneBed.StartPrivate(
        webSocket: true, authToken: new Dictionary<string, string> { ["service_token_roles_required"] = "" });

    public void Dispose() => Bed.Dispose();
}

/// <summary>
/// What the two [keystone_authtoken] settings of tools/keystone/zaqar.conf.in do, each shown on a
/// bed without it (a bed start each, hence the longer mode). See <see cref="AccessRuleIsolationTests"/>.
/// </summary>
public sealed class AccessRuleWithoutServiceTypeTests(NoServiceTypeBedFixture fixture) : IClassFixture<NoServiceTypeBedFixture>
{
    private readonly KeystoneBed _bed = fixture.Bed;

    [LongFact]
    public async Task Without_service_type_every_access_rule_restricted_token_is_refused_even_on_its_own_queue()
    {
        var queue = ZaqarBed.NewQueue();
        await _bed.Client(Tenant.B).PostAsync(queue, OutgoingMessage.Of("for-guest"));
        var credential = await _bed.CreateApplicationCredentialAsync(Tenant.B, [AccessRule.Messaging("POST", $"/v2/queues/{queue}/claims")]);
        var guest = _bed.Client((await _bed.IssueTokenAsync(credential)).Value, _bed.ProjectId(Tenant.B));

        var ex = await Assert.ThrowsAsync<ZaqarException>(() => guest.ClaimAsync(queue, limit: 1, ttlSeconds: 60, graceSeconds: 60));
        Assert.Equal(401, ex.StatusCode);

        // An application credential without access rules is just the user's token.
        var unrestricted = await _bed.CreateApplicationCredentialAsync(Tenant.B, []);
        var full = _bed.Client((await _bed.IssueTokenAsync(unrestricted)).Value, _bed.ProjectId(Tenant.B));
        Assert.Single((await full.ClaimAsync(queue, limit: 1, ttlSeconds: 60, graceSeconds: 60)).Messages);
    }
}

/// <summary>See <see cref="AccessRuleWithoutServiceTypeTests"/>.</summary>
public sealed class AccessRuleWithoutServiceTokenRolesTests(ServiceTokenRolesNotRequiredBedFixture fixture)
    : IClassFixture<ServiceTokenRolesNotRequiredBedFixture>
{
    private readonly KeystoneBed _bed = fixture.Bed;

    /// <summary>
    /// keystonemiddleware skips the access-rule check of a request that carries a valid
    /// X-Service-Token, and without service_token_roles_required any valid token is one: the
    /// restricted token sent as both lifts its own rules, over HTTP and at the socket's authenticate.
    /// </summary>
    [LongFact]
    public async Task Without_service_token_roles_required_a_restricted_token_sent_as_its_own_service_token_reaches_a_sibling_queue()
    {
        var (own, sibling) = (ZaqarBed.NewQueue(), ZaqarBed.NewQueue());
        await _bed.Client(Tenant.B).PostAsync(sibling, OutgoingMessage.Of("for-sibling"));
        await _bed.Client(Tenant.B).PostAsync(sibling, OutgoingMessage.Of("for-sibling-2"));
        var credential = await _bed.CreateApplicationCredentialAsync(Tenant.B, [AccessRule.Messaging("POST", $"/v2/queues/{own}/claims")]);
        var token = (await _bed.IssueTokenAsync(credential)).Value;

        var (plain, _) = await _bed.RawZaqarAsync(HttpMethod.Post, $"/v2/queues/{sibling}/claims?limit=1",
            new Dictionary<string, string> { ["X-Auth-Token"] = token }, """{"ttl": 60, "grace": 60}""");
        Assert.Equal(401, plain);
        var (lifted, body) = await _bed.RawZaqarAsync(HttpMethod.Post, $"/v2/queues/{sibling}/claims?limit=1",
            new Dictionary<string, string> { ["X-Auth-Token"] = token, ["X-Service-Token"] = token }, """{"ttl": 60, "grace": 60}""");
        Assert.Equal(201, lifted);
        Assert.Contains("for-sibling", body, StringComparison.Ordinal);

        await using var socket = await ZaqarSocket.ConnectAsync(_bed.WebSocketUrl!, _bed.ProjectId(Tenant.B));
        Assert.Equal(401, await socket.AuthenticateAsync(token));
        Assert.Equal(200, await socket.AuthenticateAsync(token, new Dictionary<string, string> { ["X-Service-Token"] = token }));
        Assert.Equal(201, ZaqarSocket.Status(await socket.ClaimAsync(sibling)));
    }
}
