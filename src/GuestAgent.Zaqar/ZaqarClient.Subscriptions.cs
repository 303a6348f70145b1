using System.Text.Json.Nodes;

namespace GuestAgent.Zaqar;

public sealed partial class ZaqarClient
{
    /// <summary>
    /// Sets a subscription's TTL to <paramref name="ttlSeconds"/> from now (PATCH): the one way to
    /// keep a WebSocket subscription alive, since the socket has no action for it and an expired
    /// one stops its pushes silently. False when the subscription no longer exists (expired or deleted).
    /// </summary>
    public async Task<bool> RenewSubscriptionAsync(string queue, string subscriptionId, int ttlSeconds, CancellationToken ct = default)
    {
        var body = Serialize(new JsonObject { ["ttl"] = ttlSeconds });
        var r = await SendAsync(HttpMethod.Patch, SubscriptionPath(queue, subscriptionId), ct, body: body, expectedErrors: [404])
            .ConfigureAwait(false);
        return r.Status != 404;
    }

    /// <summary>Deletes a subscription; deleting one that is gone already is not an error.</summary>
    public async Task DeleteSubscriptionAsync(string queue, string subscriptionId, CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Delete, SubscriptionPath(queue, subscriptionId), ct, expectedErrors: [404]).ConfigureAwait(false);

    /// <summary>The ids of a queue's subscriptions (every page).</summary>
    public async Task<IReadOnlyList<string>> ListSubscriptionsAsync(string queue, CancellationToken ct = default)
    {
        var ids = new List<string>();
        string? marker = null;
        while (true)
        {
            List<(string, object)> query = [("limit", 20)];
            if (marker is not null)
            {
                query.Add(("marker", marker));
            }
            var r = await SendAsync(HttpMethod.Get, QueuePath(queue) + "/subscriptions", ct, query).ConfigureAwait(false);
            var page = r.Status == 204 || r.IsBlank ? [] : JsonNode.Parse(r.Body)?["subscriptions"]?.AsArray() ?? [];
            var added = 0;
            foreach (var s in page)
            {
                if (s?["id"]?.GetValue<string>() is { } id && !ids.Contains(id))
                {
                    ids.Add(id);
                    added++;
                }
            }
            if (added == 0)
            {
                return ids;
            }
            marker = ids[^1];
        }
    }

    private static string SubscriptionPath(string queue, string subscriptionId) =>
        QueuePath(queue) + "/subscriptions/" + Uri.EscapeDataString(subscriptionId);
}
