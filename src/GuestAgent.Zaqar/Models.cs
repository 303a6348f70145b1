using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuestAgent.Zaqar;

/// <summary>A message to post: any JSON body, with an optional TTL (60 s .. 14 days; the queue's default when null).</summary>
public sealed record OutgoingMessage(JsonNode? Body, int? TtlSeconds = null)
{
    public static OutgoingMessage Of<T>(T body, int? ttlSeconds = null) =>
        new(JsonSerializer.SerializeToNode(body), ttlSeconds);
}

/// <summary>
/// A message as Zaqar returns it. <see cref="ClaimId"/> is set when it came from (or is held by) a claim.
/// A body that is not JSON this client reads (it holds NaN or Infinity, which Zaqar stores) has
/// <see cref="BodyError"/> set and an undefined <see cref="Body"/>; <see cref="RawBody"/> always has its
/// text, so one such message never makes the others of a claim or a page unreadable.
/// </summary>
public sealed record QueueMessage(string Id, JsonElement Body, int TtlSeconds, int AgeSeconds, string? ClaimId, string Href)
{
    // A message read from a response keeps its body's UTF-8 as it came and makes the element only
    // when asked: a file chunk's body is a third of a megabyte, which the agent reads from the bytes.
    private readonly ReadOnlyMemory<byte> _utf8;
    private StrongBox<JsonElement>? _element = Body.ValueKind == JsonValueKind.Undefined ? null : new(Body);

    /// <summary>The body as a JSON element; undefined when it is not JSON this client reads (see <see cref="BodyError"/>).</summary>
    public JsonElement Body
    {
        get
        {
            if (_element is { } made)
            {
                return made.Value;
            }
            if (_utf8.IsEmpty || BodyError is not null)
            {
                return default;
            }
            var element = new StrongBox<JsonElement>(MessageEnvelope.ReadElement(_utf8));
            return (Interlocked.CompareExchange(ref _element, element, null) ?? element).Value;
        }
        init => _element = new StrongBox<JsonElement>(value);
    }

    /// <summary>Why <see cref="Body"/> could not be read; null when it could.</summary>
    public string? BodyError { get; init; }

    /// <summary>The body's JSON text as Zaqar sent it.</summary>
    public string RawBody => _utf8.IsEmpty
        ? Body.ValueKind == JsonValueKind.Undefined ? "" : Body.GetRawText()
        : Encoding.UTF8.GetString(_utf8.Span);

    /// <summary>
    /// The body's UTF-8 JSON text as Zaqar sent it, without a copy when the message was read from a
    /// response (empty when it has no body).
    /// </summary>
    public ReadOnlyMemory<byte> Utf8Body => !_utf8.IsEmpty || Body.ValueKind == JsonValueKind.Undefined
        ? _utf8
        : Encoding.UTF8.GetBytes(Body.GetRawText());

    /// <summary>A message of a response read by <see cref="MessageEnvelope.Parse"/>.</summary>
    internal static QueueMessage FromJson(JsonElement e, IReadOnlyList<ReadOnlyMemory<byte>> bodies)
    {
        var href = e.TryGetProperty("href", out var h) ? h.GetString() ?? "" : "";
        string? claimId = null;
        var q = href.IndexOf("claim_id=", StringComparison.Ordinal);
        if (q >= 0)
        {
            claimId = href[(q + "claim_id=".Length)..].Split('&')[0];
        }
        else if (e.TryGetProperty("claim_id", out var c) && c.ValueKind == JsonValueKind.String)
        {
            claimId = c.GetString();
        }
        ReadOnlyMemory<byte> raw = default;
        string? error = null;
        if (e.TryGetProperty("body", out var b) && b.TryGetInt32(out var index) && index >= 0 && index < bodies.Count)
        {
            raw = bodies[index];
            error = MessageEnvelope.CheckBody(raw);
        }
        return new QueueMessage(
            e.GetProperty("id").GetString()!,
            raw,
            error,
            e.TryGetProperty("ttl", out var t) ? t.GetInt32() : 0,
            e.TryGetProperty("age", out var a) ? a.GetInt32() : 0,
            claimId,
            href);
    }

    private QueueMessage(string id, ReadOnlyMemory<byte> utf8, string? error, int ttlSeconds, int ageSeconds, string? claimId, string href)
        : this(id, default, ttlSeconds, ageSeconds, claimId, href)
    {
        _utf8 = utf8;
        BodyError = error;
    }
}

/// <summary>One page of a listing; <see cref="NextMarker"/> is null on the last page.</summary>
public sealed record MessagePage(IReadOnlyList<QueueMessage> Messages, string? NextMarker);

/// <summary>
/// The result of a claim. An empty claim (Zaqar's 204: nothing claimable) has no id and no messages.
/// </summary>
public sealed record Claim(string? Id, IReadOnlyList<QueueMessage> Messages)
{
    public static readonly Claim Empty = new(null, []);
    public bool IsEmpty => Messages.Count == 0;
}

/// <summary>A claim as GET /claims/{id} shows it.</summary>
public sealed record ClaimInfo(string Id, int AgeSeconds, int TtlSeconds, IReadOnlyList<QueueMessage> Messages);

/// <summary>Message counts of a queue.</summary>
public sealed record QueueStats(long Claimed, long Free, long Total);

/// <summary>Options of a listing.</summary>
public sealed record ListOptions
{
    /// <summary>1..20 messages per page.</summary>
    public int Limit { get; init; } = 10;
    public string? Marker { get; init; }

    /// <summary>Include messages this client posted itself (Zaqar hides them by default).</summary>
    public bool Echo { get; init; }
    public bool IncludeClaimed { get; init; }
}

/// <summary>
/// A queue's metadata at creation. The reserved keys are typed; anything else goes in <see cref="Extra"/>.
/// </summary>
public sealed record QueueOptions
{
    public int? DefaultMessageTtlSeconds { get; init; }

    /// <summary>After this many claims the next claim moves the message to <see cref="DeadLetterQueue"/>.</summary>
    public int? MaxClaimCount { get; init; }
    public string? DeadLetterQueue { get; init; }
    public int? DeadLetterQueueMessagesTtlSeconds { get; init; }
    public int? MaxMessagesPostSize { get; init; }
    public IReadOnlyDictionary<string, JsonNode?> Extra { get; init; } = new Dictionary<string, JsonNode?>();

    internal JsonObject ToJson()
    {
        if ((MaxClaimCount is null) != (DeadLetterQueue is null))
        {
            throw new ArgumentException("Zaqar dead-letters only when both MaxClaimCount and DeadLetterQueue are set.");
        }
        if (MaxClaimCount is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxClaimCount), MaxClaimCount, "MaxClaimCount must be at least 1.");
        }
        if (DefaultMessageTtlSeconds is { } ttl)
        {
            ZaqarLimits.CheckRange("_default_message_ttl", ttl, ZaqarLimits.MinMessageTtlSeconds, ZaqarLimits.MaxMessageTtlSeconds);
        }
        if (DeadLetterQueueMessagesTtlSeconds is { } dttl)
        {
            ZaqarLimits.CheckRange("_dead_letter_queue_messages_ttl", dttl, ZaqarLimits.MinMessageTtlSeconds, ZaqarLimits.MaxMessageTtlSeconds);
        }
        if (MaxMessagesPostSize is { } mps)
        {
            ZaqarLimits.CheckRange("_max_messages_post_size", mps, 1, ZaqarLimits.MaxPostBodyBytes);
        }
        if (DeadLetterQueue is not null)
        {
            ZaqarLimits.CheckQueueName(DeadLetterQueue);
        }
        var o = new JsonObject();
        foreach (var (k, v) in Extra)
        {
            o[k] = v?.DeepClone();
        }
        if (DefaultMessageTtlSeconds is not null) o["_default_message_ttl"] = DefaultMessageTtlSeconds;
        if (MaxClaimCount is not null) o["_max_claim_count"] = MaxClaimCount;
        if (DeadLetterQueue is not null) o["_dead_letter_queue"] = DeadLetterQueue;
        if (DeadLetterQueueMessagesTtlSeconds is not null) o["_dead_letter_queue_messages_ttl"] = DeadLetterQueueMessagesTtlSeconds;
        if (MaxMessagesPostSize is not null) o["_max_messages_post_size"] = MaxMessagesPostSize;
        return o;
    }
}

/// <summary>
/// What one request sent by <see cref="ZaqarClient.ProbeAsync"/> came to: the status (null when no
/// answer came, <see cref="Failure"/> says why), Zaqar's title and description of a refusal, and the
/// server's Date header with the local times the request left and its answer arrived.
/// </summary>
public sealed record ZaqarProbe(int? Status, string Title, string Description, DateTimeOffset? ServerDate,
    DateTimeOffset SentAt, DateTimeOffset ReceivedAt, Exception? Failure)
{
    /// <summary>The refusal in Zaqar's words: "title: description", or either alone.</summary>
    public string Detail => string.IsNullOrEmpty(Description) ? Title : string.IsNullOrEmpty(Title) ? Description : $"{Title}: {Description}";
}
