using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flurl.Http;

namespace GuestAgent.Zaqar;

/// <summary>
/// Typed async client for the Zaqar v2 API: queues, messages, claims and pre-signed URLs.
/// Thread-safe; cheap to create (the HTTP connection pool is per endpoint and shared).
/// </summary>
/// <remarks>
/// Retries: idempotent calls (GET, PUT, DELETE, PATCH) are repeated on 500/502/503/504 and on
/// connection faults; POSTs (post, claim, share) only on 503 (Zaqar: "try again") and when the
/// connection was refused (nothing was sent). 4xx are never retried.
/// </remarks>
public sealed partial class ZaqarClient
{
    private const string JsonType = "application/json";
    private readonly IFlurlClient _http;
    private long _requests;
    private long _responses;

    public ZaqarClient(ZaqarClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Uri.TryCreate(options.Endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
        {
            throw new ArgumentException($"Zaqar endpoint must be an http(s) URL; got '{options.Endpoint}'.", nameof(options));
        }
        if (options.MaxAttempts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxAttempts must be at least 1.");
        }
        Options = options;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxConnections, 1);
        _http = ZaqarHttp.For(options.Endpoint, options.MaxConnections);
    }

    public ZaqarClientOptions Options { get; }

    /// <summary>HTTP requests sent so far (every attempt counts), for load figures.</summary>
    public long RequestsSent => Interlocked.Read(ref _requests);

    /// <summary>HTTP responses received so far (requests that got an answer, whatever its status).</summary>
    public long ResponsesReceived => Interlocked.Read(ref _responses);

    /// <summary>A client for another project or credentials on the same endpoint.</summary>
    public ZaqarClient WithAuth(ZaqarAuth auth) => new(Options with { Auth = auth });

    private static string QueuePath(string queue)
    {
        ZaqarLimits.CheckQueueName(queue);
        return $"/v2/queues/{queue}";
    }

    private readonly record struct Reply(int Status, byte[] Raw, string? Location)
    {
        /// <summary>The response's text (for the small responses read as JSON nodes, and for errors).</summary>
        public string Body => Encoding.UTF8.GetString(Raw);

        /// <summary>Whether the response has no content but whitespace.</summary>
        public bool IsBlank => Raw.AsSpan().Trim(" \t\r\n"u8).IsEmpty;

        /// <summary>
        /// The response's JSON. Message bodies anywhere in it (queue stats show the oldest and newest
        /// message) are left out, so that a body Zaqar stored but a strict reader refuses cannot fail it.
        /// </summary>
        public JsonElement Json() => MessageEnvelope.Parse(Raw).Envelope;

        /// <summary>A response carrying messages: the envelope and each body's UTF-8 text (see <see cref="MessageEnvelope"/>).</summary>
        public (JsonElement Envelope, IReadOnlyList<ReadOnlyMemory<byte>> Bodies) Messages() => MessageEnvelope.Parse(Raw);
    }

    // The default encoder escapes '+', '<', '&' ... as \uXXXX (6 bytes for 1), which would make
    // base64 payloads overflow Zaqar's body limit; the bodies are JSON for Zaqar, not HTML.
    private static readonly JsonSerializerOptions WireJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly JsonWriterOptions WireWriter = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static byte[] Serialize(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString(WireJson));

    private async Task<Reply> SendAsync(
        HttpMethod method, string path, CancellationToken ct,
        IReadOnlyList<(string Name, object Value)>? query = null,
        byte[]? body = null, string contentType = JsonType, int[]? expectedErrors = null)
    {
        var idempotent = method != HttpMethod.Post;
        var staleRetries = 0;
        for (var attempt = 1; ; attempt++)
        {
            ZaqarException error;
            bool retry;
            var staleConnection = false;
            try
            {
                var (req, content) = await PrepareAsync(method, path, query, body, contentType, ct).ConfigureAwait(false);
                Interlocked.Increment(ref _requests);
                using var resp = await req.SendAsync(method, content, cancellationToken: ct).ConfigureAwait(false);
                Interlocked.Increment(ref _responses);
                // Bytes, not text: a claim of file chunks is megabytes of JSON, read from its UTF-8 as it came.
                var raw = await resp.GetBytesAsync().ConfigureAwait(false);
                resp.Headers.TryGetFirst("Location", out var location);
                if (resp.StatusCode < 400 || (expectedErrors?.Contains(resp.StatusCode) ?? false))
                {
                    return new Reply(resp.StatusCode, raw, location);
                }
                var (title, description) = ZaqarException.ParseBody(Encoding.UTF8.GetString(raw));
                if (resp.StatusCode == 404 && Options.Auth is ZaqarAuth.PreSigned && string.IsNullOrEmpty(description))
                {
                    description = "Zaqar answers 404 to every pre-signed URL failure: expired, tampered, " +
                                  "another queue or project, or a method or path it was not signed for.";
                }
                error = new ZaqarException(method.Method, path, resp.StatusCode, title, description);
                retry = idempotent ? error.IsTransient : resp.StatusCode == 503;
            }
            catch (FlurlHttpException ex) when (ct.IsCancellationRequested)
            {
                // The caller gave up: say so as .NET does, not as a connection failure.
                throw new OperationCanceledException($"Zaqar {method.Method} {path} was cancelled", ex, ct);
            }
            catch (FlurlHttpException ex)
            {
                var title = ex is FlurlHttpTimeoutException ? "Timed out" : "Connection failed";
                error = new ZaqarException(method.Method, path, null, title, ex.InnerException?.Message ?? ex.Message, ex);
                staleConnection = ZaqarHttp.StaleConnection(ex);
                retry = idempotent || staleConnection || ZaqarHttp.NeverSent(ex);
            }
            // A pooled connection the server had already closed says nothing about the server, and
            // the pool may hold several such: go again at once, without using up an attempt.
            if (staleConnection && staleRetries < MaxStaleRetries)
            {
                staleRetries++;
                attempt--;
                continue;
            }
            if (!retry || attempt >= Options.MaxAttempts)
            {
                throw error;
            }
            await Task.Delay(RetryDelay(attempt), Options.TimeProvider, ct).ConfigureAwait(false);
        }
    }

    /// <summary>A request with the client's headers, query and credentials, and its body.</summary>
    private async Task<(IFlurlRequest Request, HttpContent? Content)> PrepareAsync(HttpMethod method, string path,
        IReadOnlyList<(string Name, object Value)>? query, byte[]? body, string contentType, CancellationToken ct)
    {
        var req = _http.Request(path)
            .AllowAnyHttpStatus()
            .WithTimeout(Options.RequestTimeout)
            .WithHeader("Client-ID", Options.ClientId.ToString())
            .WithHeader("Accept", JsonType);
        foreach (var (name, value) in query ?? [])
        {
            // Zaqar splits lists on a literal comma; an encoded %2C is one value.
            var raw = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            req = req.SetQueryParam(name, string.Join(',', raw.Split(',').Select(Uri.EscapeDataString)), isEncoded: true);
        }
        await ApplyAuthAsync(req, method.Method, path, ct).ConfigureAwait(false);
        HttpContent? content = null;
        if (body is not null)
        {
            content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }
        return (req, content);
    }

    /// <summary>
    /// Sends one request once, with the client's credentials, and reports what came back instead of
    /// throwing: for diagnosis (guest-agent doctor), which needs the status of a refusal and the
    /// server's Date header. <paramref name="resource"/> is under the queue: "claims", "messages".
    /// </summary>
    public async Task<ZaqarProbe> ProbeAsync(HttpMethod method, string queue, string resource,
        IReadOnlyList<(string Name, object Value)>? query = null, JsonNode? body = null, CancellationToken ct = default)
    {
        var path = $"{QueuePath(queue)}/{resource}";
        var bytes = body is null ? null : Serialize(body);
        for (var staleRetries = 0; ; staleRetries++)
        {
            var (req, content) = await PrepareAsync(method, path, query, bytes, JsonType, ct).ConfigureAwait(false);
            var sentAt = Options.TimeProvider.GetUtcNow();
            try
            {
                using var resp = await req.SendAsync(method, content, cancellationToken: ct).ConfigureAwait(false);
                var receivedAt = Options.TimeProvider.GetUtcNow();
                var (title, description) = ZaqarException.ParseBody(await resp.GetStringAsync().ConfigureAwait(false));
                return new ZaqarProbe(resp.StatusCode, title, description, resp.ResponseMessage.Headers.Date, sentAt, receivedAt, null);
            }
            catch (FlurlHttpException ex) when (ZaqarHttp.StaleConnection(ex) && staleRetries < MaxStaleRetries && !ct.IsCancellationRequested)
            {
                // A pooled connection the server had closed says nothing about the server (as in SendAsync).
            }
            catch (FlurlHttpException ex) when (!ct.IsCancellationRequested)
            {
                return new ZaqarProbe(null, ex is FlurlHttpTimeoutException ? "Timed out" : "Connection failed",
                    ex.InnerException?.Message ?? ex.Message, null, sentAt, Options.TimeProvider.GetUtcNow(), ex);
            }
        }
    }

    /// <summary>
    /// Immediate repeats of a request that met a connection the server had closed: each one takes
    /// another pooled connection, and the pool holds at most <see cref="ZaqarClientOptions.MaxConnections"/>
    /// of them, so one more than that reaches a fresh connection even when every pooled one was stale.
    /// </summary>
    private int MaxStaleRetries => Options.MaxConnections + 1;

    private TimeSpan RetryDelay(int attempt)
    {
        var ms = Math.Min(Options.RetryMaxDelay.TotalMilliseconds, Options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
        return TimeSpan.FromMilliseconds(ms * (0.8 + Random.Shared.NextDouble() * 0.4));
    }

    private async ValueTask ApplyAuthAsync(IFlurlRequest req, string method, string path, CancellationToken ct)
    {
        switch (Options.Auth)
        {
            case ZaqarAuth.None none:
                req.WithHeader("X-Project-Id", none.ProjectId);
                break;
            case ZaqarAuth.Keystone ks:
                req.WithHeader("X-Auth-Token", await ks.TokenSource(ct).ConfigureAwait(false));
                if (!string.IsNullOrEmpty(ks.ProjectId))
                {
                    req.WithHeader("X-Project-Id", ks.ProjectId);
                }
                break;
            case ZaqarAuth.PreSigned signed:
                var urls = signed.Urls;
                if (urls.Count == 0)
                {
                    throw new InvalidOperationException("Pre-signed auth needs at least one pre-signed URL.");
                }
                // The server decides; when no URL we hold covers the request we still send one,
                // and its 404 is explained in the exception.
                var url = urls.FirstOrDefault(u => u.Covers(method, path)) ?? urls[0];
                if (string.IsNullOrEmpty(url.Signature))
                {
                    // An empty URL-Signature once bypassed authentication (OSSA-2026-042): never send one.
                    throw new InvalidOperationException("A pre-signed URL with an empty signature was refused.");
                }
                req.WithHeader("URL-Signature", url.Signature)
                   .WithHeader("URL-Expires", url.Expires)
                   .WithHeader("URL-Methods", string.Join(',', url.Methods))
                   .WithHeader("URL-Paths", string.Join(',', url.Paths))
                   .WithHeader("X-Project-Id", url.Project);
                break;
            default:
                throw new InvalidOperationException($"Unknown Zaqar auth {Options.Auth.GetType().Name}.");
        }
    }
}
