using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuestAgent.Zaqar;

public sealed partial class ZaqarClient
{
    /// <summary>
    /// Posts a batch in one request and returns the new message ids in order. The whole request
    /// body must fit <see cref="ZaqarLimits.MaxPostBodyBytes"/>; a bigger one is refused here,
    /// before anything is sent.
    /// </summary>
    public async Task<IReadOnlyList<string>> PostAsync(string queue, IReadOnlyList<OutgoingMessage> messages, CancellationToken ct = default)
    {
        var body = EncodePost(messages);
        var r = await SendAsync(HttpMethod.Post, QueuePath(queue) + "/messages", ct, body: body).ConfigureAwait(false);
        return r.Json().GetProperty("resources").EnumerateArray()
            .Select(x => x.GetString()!.Split('/')[^1])
            .ToList();
    }

    public async Task<string> PostAsync(string queue, OutgoingMessage message, CancellationToken ct = default) =>
        (await PostAsync(queue, [message], ct).ConfigureAwait(false))[0];

    /// <summary>The exact request body of a post, in bytes; lets callers pack batches up to the limit.</summary>
    public static int PostBodySize(IReadOnlyList<OutgoingMessage> messages) => WritePost(messages).Length;

    private static byte[] EncodePost(IReadOnlyList<OutgoingMessage> messages)
    {
        if (messages.Count == 0)
        {
            throw new ArgumentException("Post at least one message.", nameof(messages));
        }
        var body = WritePost(messages);
        if (body.Length > ZaqarLimits.MaxPostBodyBytes)
        {
            throw new ZaqarLimitException(
                $"A post of {messages.Count} message(s) is {body.Length} bytes; Zaqar takes at most " +
                $"{ZaqarLimits.MaxPostBodyBytes} bytes per request. Split it.");
        }
        return body;
    }

    /// <summary>
    /// The post's JSON, each body written straight from its node as UTF-8: a file chunk's body is a
    /// third of a megabyte, which a copied tree and a string of the whole request only doubled.
    /// </summary>
    private static byte[] WritePost(IReadOnlyList<OutgoingMessage> messages)
    {
        // One buffer per thread, kept between posts (a post is at most Zaqar's 1 MiB limit): a new
        // one grew by doubling, a large-object allocation and a copy at each step, for every chunk.
        var output = t_postBuffer ??= new ArrayBufferWriter<byte>(4096);
        output.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(output, WireWriter))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("messages");
            foreach (var m in messages)
            {
                writer.WriteStartObject();
                writer.WritePropertyName("body");
                if (m.Body is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    m.Body.WriteTo(writer);
                }
                if (m.TtlSeconds is { } ttl)
                {
                    ZaqarLimits.CheckRange("message ttl", ttl, ZaqarLimits.MinMessageTtlSeconds, ZaqarLimits.MaxMessageTtlSeconds);
                    writer.WriteNumber("ttl", ttl);
                }
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        var body = output.WrittenSpan.ToArray();
        if (output.Capacity > 2 * ZaqarLimits.MaxPostBodyBytes)
        {
            t_postBuffer = null; // a post far past the limit (refused next): not kept
        }
        return body;
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_postBuffer;

    /// <summary>One page of messages (a read-only peek; use claims to consume).</summary>
    public async Task<MessagePage> ListAsync(string queue, ListOptions? options = null, CancellationToken ct = default)
    {
        options ??= new ListOptions();
        ZaqarLimits.CheckRange("limit", options.Limit, 1, ZaqarLimits.MaxPageSize);
        var query = new List<(string, object)>
        {
            ("limit", options.Limit),
            ("echo", options.Echo ? "true" : "false"),
            ("include_claimed", options.IncludeClaimed ? "true" : "false"),
        };
        // Zaqar 15 answers 503 to include_claimed without a marker (ZRANK of None); a marker
        // that names no message starts from the beginning.
        var marker = options.Marker ?? (options.IncludeClaimed ? "start" : null);
        if (marker is not null)
        {
            query.Add(("marker", marker));
        }
        var r = await SendAsync(HttpMethod.Get, QueuePath(queue) + "/messages", ct, query).ConfigureAwait(false);
        var (json, bodies) = r.Messages();
        var messages = json.GetProperty("messages").EnumerateArray().Select(m => QueueMessage.FromJson(m, bodies)).ToList();
        string? next = null;
        if (messages.Count > 0 && json.TryGetProperty("links", out var links))
        {
            foreach (var link in links.EnumerateArray())
            {
                if (link.GetProperty("rel").GetString() == "next")
                {
                    next = QueryValue(link.GetProperty("href").GetString() ?? "", "marker");
                }
            }
        }
        return new MessagePage(messages, next);
    }

    /// <summary>Every message, page by page. Zaqar 15 can repeat the first message of a page; repeats are skipped.</summary>
    public async IAsyncEnumerable<QueueMessage> ListAllAsync(
        string queue, ListOptions? options = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        options ??= new ListOptions { Limit = ZaqarLimits.MaxPageSize };
        var seen = new HashSet<string>();
        while (true)
        {
            var page = await ListAsync(queue, options, ct).ConfigureAwait(false);
            var fresh = 0;
            foreach (var m in page.Messages)
            {
                if (seen.Add(m.Id))
                {
                    fresh++;
                    yield return m;
                }
            }
            if (page.NextMarker is null || fresh == 0)
            {
                yield break;
            }
            options = options with { Marker = page.NextMarker };
        }
    }

    /// <summary>One message by id, or null when it does not exist (or expired).</summary>
    public async Task<QueueMessage?> GetAsync(string queue, string messageId, CancellationToken ct = default)
    {
        var r = await SendAsync(HttpMethod.Get, $"{QueuePath(queue)}/messages/{Uri.EscapeDataString(messageId)}", ct,
            expectedErrors: [404]).ConfigureAwait(false);
        if (r.Status == 404)
        {
            return null;
        }
        var (json, bodies) = r.Messages();
        return QueueMessage.FromJson(json, bodies);
    }

    /// <summary>Several messages by id (at most 20); unknown ids are left out.</summary>
    public async Task<IReadOnlyList<QueueMessage>> GetManyAsync(string queue, IReadOnlyCollection<string> ids, CancellationToken ct = default)
    {
        ZaqarLimits.CheckRange("ids", ids.Count, 1, ZaqarLimits.MaxPageSize);
        var r = await SendAsync(HttpMethod.Get, QueuePath(queue) + "/messages", ct, [("ids", string.Join(',', ids))],
            expectedErrors: [404]).ConfigureAwait(false);
        if (r.Status == 404)
        {
            return [];
        }
        var (json, bodies) = r.Messages();
        return json.GetProperty("messages").EnumerateArray().Select(m => QueueMessage.FromJson(m, bodies)).ToList();
    }

    /// <summary>
    /// Deletes a message. A claimed message needs its claim id: Zaqar answers 403 when another
    /// live claim holds it and 400 when the given claim has expired (the claim was lost).
    /// </summary>
    public async Task DeleteAsync(string queue, string messageId, string? claimId = null, CancellationToken ct = default)
    {
        var query = claimId is null ? null : new List<(string, object)> { ("claim_id", claimId) };
        await SendAsync(HttpMethod.Delete, $"{QueuePath(queue)}/messages/{Uri.EscapeDataString(messageId)}", ct, query).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes up to <see cref="ZaqarLimits.MaxPageSize"/> claimed messages in one request, each
    /// under one of <paramref name="claimIds"/>. Zaqar reads the claim ids only when its
    /// <c>message_delete_with_claim_id</c> is on (it is off by default, and then deletes the messages
    /// whatever claims them); with it on, one message under another claim fails the whole request
    /// (503) and deletes none: the caller then deletes them one by one. Messages that are gone
    /// already are no error.
    /// </summary>
    public async Task DeleteManyAsync(string queue, IReadOnlyCollection<string> messageIds, IReadOnlyCollection<string> claimIds,
        CancellationToken ct = default)
    {
        if (messageIds.Count is 0 or > ZaqarLimits.MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(messageIds), messageIds.Count, $"1 to {ZaqarLimits.MaxPageSize} messages per request");
        }
        var query = new List<(string, object)> { ("ids", string.Join(',', messageIds)), ("claim_ids", string.Join(',', claimIds)) };
        await SendAsync(HttpMethod.Delete, $"{QueuePath(queue)}/messages", ct, query).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether <paramref name="error"/>, thrown by <see cref="DeleteManyAsync"/>, says the server will
    /// not delete several messages in one request (an older API, a policy, a pre-signed URL whose
    /// paths or methods leave it out), as opposed to a failure of this request: the caller then
    /// deletes them one by one, and need not try a batch again.
    /// </summary>
    public static bool RefusesDeleteMany(ZaqarException error) => error.StatusCode is 400 or 401 or 403 or 404 or 405;

    /// <summary>
    /// Proves these credentials may post to <paramref name="queue"/> without posting anything: an
    /// empty batch passes authentication and is then refused as a bad request (400), while
    /// credentials that may not post (a pre-signed URL that is expired, tampered or for another
    /// queue, a bad token) fail first. Throws <see cref="ZaqarException"/> when they may not.
    /// </summary>
    public async Task ProbePostAsync(string queue, CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Post, QueuePath(queue) + "/messages", ct, body: "{\"messages\":[]}"u8.ToArray(),
            expectedErrors: [400]).ConfigureAwait(false);

    /// <summary>
    /// Proves these credentials may delete messages of <paramref name="queue"/> by deleting a random
    /// id no message has (Zaqar answers 204 for a message that does not exist). Throws
    /// <see cref="ZaqarException"/> when they may not.
    /// </summary>
    public Task ProbeDeleteAsync(string queue, CancellationToken ct = default) =>
        DeleteAsync(queue, Guid.NewGuid().ToString("D"), ct: ct);

    private static string? QueryValue(string href, string name)
    {
        var q = href.IndexOf('?');
        if (q < 0)
        {
            return null;
        }
        foreach (var part in href[(q + 1)..].Split('&'))
        {
            var eq = part.IndexOf('=');
            if (eq > 0 && part[..eq] == name)
            {
                return Uri.UnescapeDataString(part[(eq + 1)..]);
            }
        }
        return null;
    }
}
