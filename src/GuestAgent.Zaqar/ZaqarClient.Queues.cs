using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuestAgent.Zaqar;

public sealed partial class ZaqarClient
{
    /// <summary>Answers true when Zaqar and its storage are up (GET /v2/ping is 204).</summary>
    public async Task<bool> PingAsync(CancellationToken ct = default)
    {
        try
        {
            var r = await SendAsync(HttpMethod.Get, "/v2/ping", ct).ConfigureAwait(false);
            return r.Status == 204;
        }
        catch (ZaqarException)
        {
            return false;
        }
    }

    /// <summary>
    /// Creates a queue with the given metadata. Returns false when it already existed; note that
    /// Zaqar's Redis store keeps an existing queue's metadata as it was.
    /// </summary>
    public async Task<bool> CreateQueueAsync(string queue, QueueOptions? options = null, CancellationToken ct = default)
    {
        var body = Serialize((options ?? new QueueOptions()).ToJson());
        var r = await SendAsync(HttpMethod.Put, QueuePath(queue), ct, body: body).ConfigureAwait(false);
        return r.Status == 201;
    }

    public async Task DeleteQueueAsync(string queue, CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Delete, QueuePath(queue), ct).ConfigureAwait(false);

    /// <summary>The queue's metadata, reserved keys filled in with Zaqar's defaults.</summary>
    public async Task<JsonObject> GetQueueMetadataAsync(string queue, CancellationToken ct = default)
    {
        var r = await SendAsync(HttpMethod.Get, QueuePath(queue), ct).ConfigureAwait(false);
        return JsonNode.Parse(r.Body)?.AsObject() ?? [];
    }

    public async Task<QueueStats> GetQueueStatsAsync(string queue, CancellationToken ct = default)
    {
        var r = await SendAsync(HttpMethod.Get, QueuePath(queue) + "/stats", ct).ConfigureAwait(false);
        var m = r.Json().GetProperty("messages");
        return new QueueStats(m.GetProperty("claimed").GetInt64(), m.GetProperty("free").GetInt64(), m.GetProperty("total").GetInt64());
    }

    /// <summary>
    /// Asks Zaqar for a pre-signed URL (needs normal auth). <paramref name="paths"/> are
    /// "messages", "claims", "subscriptions"; <paramref name="expires"/> defaults to one day.
    /// </summary>
    public async Task<PreSignedUrl> ShareAsync(
        string queue, IEnumerable<string> paths, IEnumerable<string> methods, DateTimeOffset? expires = null,
        CancellationToken ct = default)
    {
        var o = new JsonObject
        {
            ["paths"] = new JsonArray(paths.Select(p => (JsonNode?)p).ToArray()),
            ["methods"] = new JsonArray(methods.Select(m => (JsonNode?)m.ToUpperInvariant()).ToArray()),
        };
        if (expires is { } e)
        {
            o["expires"] = e.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        }
        var r = await SendAsync(HttpMethod.Post, QueuePath(queue) + "/share", ct, body: Serialize(o)).ConfigureAwait(false);
        return PreSignedUrl.FromJson(r.Json());
    }
}
