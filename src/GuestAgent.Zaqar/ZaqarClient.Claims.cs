using System.Text.Json.Nodes;

namespace GuestAgent.Zaqar;

public sealed partial class ZaqarClient
{
    /// <summary>
    /// Claims up to <paramref name="limit"/> (1..20) messages for <paramref name="ttlSeconds"/>;
    /// <paramref name="graceSeconds"/> extends the messages' life past the claim. Returns
    /// <see cref="Claim.Empty"/> when nothing is claimable (Zaqar's 204).
    /// </summary>
    public async Task<Claim> ClaimAsync(string queue, int limit = 10, int ttlSeconds = 300, int graceSeconds = 60, CancellationToken ct = default)
    {
        ZaqarLimits.CheckRange("limit", limit, ZaqarLimits.MinClaimLimit, ZaqarLimits.MaxClaimLimit);
        CheckClaimTimes(ttlSeconds, graceSeconds);
        var body = Serialize(new JsonObject { ["ttl"] = ttlSeconds, ["grace"] = graceSeconds });
        var r = await SendAsync(HttpMethod.Post, QueuePath(queue) + "/claims", ct, [("limit", limit)], body).ConfigureAwait(false);
        if (r.Status == 204 || r.IsBlank)
        {
            return Claim.Empty;
        }
        var (json, bodies) = r.Messages();
        var messages = json.GetProperty("messages").EnumerateArray().Select(m => QueueMessage.FromJson(m, bodies)).ToList();
        var id = r.Location?.Split('/')[^1] ?? messages.Select(m => m.ClaimId).FirstOrDefault(c => c is not null);
        return new Claim(id, messages);
    }

    /// <summary>A claim's age, ttl and messages, or null when it expired or never existed.</summary>
    public async Task<ClaimInfo?> GetClaimAsync(string queue, string claimId, CancellationToken ct = default)
    {
        var r = await SendAsync(HttpMethod.Get, $"{QueuePath(queue)}/claims/{Uri.EscapeDataString(claimId)}", ct,
            expectedErrors: [404]).ConfigureAwait(false);
        if (r.Status == 404)
        {
            return null;
        }
        var (j, bodies) = r.Messages();
        return new ClaimInfo(claimId, j.GetProperty("age").GetInt32(), j.GetProperty("ttl").GetInt32(),
            j.GetProperty("messages").EnumerateArray().Select(m => QueueMessage.FromJson(m, bodies)).ToList());
    }

    /// <summary>Renews a claim: it now expires <paramref name="ttlSeconds"/> from now. A lost claim raises a 404.</summary>
    public async Task RenewClaimAsync(string queue, string claimId, int ttlSeconds = 300, int graceSeconds = 60, CancellationToken ct = default)
    {
        CheckClaimTimes(ttlSeconds, graceSeconds);
        var body = Serialize(new JsonObject { ["ttl"] = ttlSeconds, ["grace"] = graceSeconds });
        await SendAsync(HttpMethod.Patch, $"{QueuePath(queue)}/claims/{Uri.EscapeDataString(claimId)}", ct, body: body).ConfigureAwait(false);
    }

    /// <summary>Releases a claim: its messages are claimable again at once.</summary>
    public async Task ReleaseClaimAsync(string queue, string claimId, CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Delete, $"{QueuePath(queue)}/claims/{Uri.EscapeDataString(claimId)}", ct).ConfigureAwait(false);

    private static void CheckClaimTimes(int ttlSeconds, int graceSeconds)
    {
        ZaqarLimits.CheckRange("claim ttl", ttlSeconds, ZaqarLimits.MinClaimTtlSeconds, ZaqarLimits.MaxClaimTtlSeconds);
        ZaqarLimits.CheckRange("claim grace", graceSeconds, ZaqarLimits.MinClaimGraceSeconds, ZaqarLimits.MaxClaimGraceSeconds);
    }
}
