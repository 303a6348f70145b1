using System.Net;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Operations.Http;

/// <summary>How the agent runs one attempt of an <c>http</c> command (everything not in the command's own args).</summary>
public sealed record HttpOptions
{
    /// <summary>The command being run; names the spool file.</summary>
    public required Guid CommandId { get; init; }

    public int Attempt { get; init; } = 1;

    /// <summary>Directory where the whole response body is written; created when missing.</summary>
    public required string SpoolDirectory { get; init; }

    /// <summary>Bytes of the body kept inline; also the most a command's <c>output_cap_bytes</c> may ask for.</summary>
    public int DefaultInlineCapBytes { get; init; } = ExecOptions.DefaultInlineCap;

    /// <summary>Destinations this tenant may reach; every hop's host and port must be one of them.</summary>
    public IReadOnlyList<HttpDestination> AllowList { get; init; } = [];

    /// <summary>Clock for the timeout and the reported duration.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

public enum HttpOutcomeKind
{
    /// <summary>A response came (any status) and its body was read to the end.</summary>
    Completed,

    /// <summary>A hop's destination is not in the allow-list; nothing was sent to it.</summary>
    Forbidden,

    /// <summary>Connection, TLS, protocol or redirect error.</summary>
    Failed,

    TimedOut,
    Cancelled,
}

/// <summary>What happened to one run of an <c>http</c> command.</summary>
public sealed record HttpOutcome(
    HttpOutcomeKind Kind,
    int Attempt,
    TimeSpan Duration,
    string? Error = null,
    int Status = 0,
    string? Reason = null,
    IReadOnlyDictionary<string, string>? Headers = null,
    CapturedStream? Body = null,
    string? FinalUrl = null,
    int Redirects = 0)
{
    /// <summary>The protocol result of a completed run; <paramref name="bodyChunks"/> is the number of chunk replies of the body.</summary>
    public HttpResult ToResult(int bodyChunks) =>
        Kind == HttpOutcomeKind.Completed
            ? new HttpResult(Status, Headers ?? new Dictionary<string, string>(), Body!.ToStreamOutput(bodyChunks), FinalUrl!, Redirects,
                (long)Duration.TotalMilliseconds, Reason, Attempt)
            : throw new InvalidOperationException($"The request did not complete ({Kind}: {Error}); there is no http result.");
}

/// <summary>
/// Sends the request of an <c>http</c> command. Redirects are followed here, not by the handler,
/// so that every hop's destination is checked against the allow-list before anything is sent to
/// it. The body is streamed to a spool file; the first cap bytes are kept in memory and the
/// whole is hashed on the way, as for exec output.
/// </summary>
public static class HttpRunner
{

    public static async Task<HttpOutcome> RunAsync(HttpArgs args, HttpOptions options, CancellationToken cancel)
    {
        var clock = options.TimeProvider;
        var started = clock.GetTimestamp();
        var attempt = options.Attempt;
        HttpOutcome End(HttpOutcomeKind kind, string error, int redirects = 0) =>
            new(kind, attempt, clock.GetElapsedTime(started), error, Redirects: redirects);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(args.TimeoutSeconds), clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, timeout.Token);
        var token = linked.Token;
        using var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        };
        using var client = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };

        var url = new Uri(args.Url, UriKind.Absolute);
        var method = new HttpMethod(args.Method);
        var body = args.DecodeBody();
        var headers = new Dictionary<string, string>(args.Headers ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase);
        var redirects = 0;
        string? spoolPath = null;
        try
        {
            while (true)
            {
                if (!options.AllowList.Any(d => d.Matches(url)))
                {
                    return End(HttpOutcomeKind.Forbidden,
                        $"{url.IdnHost}:{url.Port} is not an allowed http destination for this tenant" +
                        (redirects > 0 ? $" (redirect {redirects} to {url})" : ""), redirects);
                }
                using var request = BuildRequest(method, url, headers, body);
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
                var status = (int)response.StatusCode;
                if (args.FollowRedirects && status is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location)
                {
                    if (redirects >= HttpArgs.MaxRedirects)
                    {
                        return End(HttpOutcomeKind.Failed, $"more than {HttpArgs.MaxRedirects} redirects (the last to {location})", redirects);
                    }
                    var next = new Uri(url, location);
                    if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
                    {
                        return End(HttpOutcomeKind.Failed, $"redirect to a non-http URL: {next}", redirects);
                    }
                    // 303, and 301/302 after a POST, become a GET without a body, as browsers do.
                    if ((status == 303 && method != HttpMethod.Head) || (status is 301 or 302 && method == HttpMethod.Post))
                    {
                        method = HttpMethod.Get;
                        body = null;
                        foreach (var name in headers.Keys.Where(k => k.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)).ToList())
                        {
                            headers.Remove(name);
                        }
                    }
                    if (!SameOrigin(url, next))
                    {
                        // Credentials meant for one origin are not handed to another.
                        headers.Remove("Authorization");
                        headers.Remove("Cookie");
                    }
                    url = next;
                    redirects++;
                    continue;
                }

                Directory.CreateDirectory(options.SpoolDirectory);
                spoolPath = Path.Combine(options.SpoolDirectory, $"{options.CommandId:N}-{attempt}.body");
                var cap = Math.Min(args.OutputCapBytes ?? options.DefaultInlineCapBytes, options.DefaultInlineCapBytes);
                await using var source = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
                var captured = await PumpAsync(source, spoolPath, Math.Max(0, cap), token).ConfigureAwait(false);
                return new HttpOutcome(HttpOutcomeKind.Completed, attempt, clock.GetElapsedTime(started),
                    Status: status, Reason: response.ReasonPhrase, Headers: HeadersOf(response), Body: captured,
                    FinalUrl: url.ToString(), Redirects: redirects);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            DeleteQuietly(spoolPath);
            return cancel.IsCancellationRequested
                ? End(HttpOutcomeKind.Cancelled, "stopped before the response was complete", redirects)
                : End(HttpOutcomeKind.TimedOut, $"no complete response within {args.TimeoutSeconds} s", redirects);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            DeleteQuietly(spoolPath);
            return End(HttpOutcomeKind.Failed, Describe(e), redirects);
        }
    }

    private static HttpRequestMessage BuildRequest(HttpMethod method, Uri url, Dictionary<string, string> headers, byte[]? body)
    {
        var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
        }
        foreach (var (name, value) in headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                // A content header (Content-Type ...): it needs content to sit on.
                request.Content ??= new ByteArrayContent([]);
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }
        return request;
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && a.Port == b.Port && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase);

    private static Dictionary<string, string> HeadersOf(HttpResponseMessage response)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
        {
            var joined = string.Join(", ", values);
            headers[name] = headers.TryGetValue(name, out var before) ? before + ", " + joined : joined;
        }
        return headers;
    }

    private static async Task<CapturedStream> PumpAsync(Stream source, string spoolPath, int cap, CancellationToken token)
    {
        var buffer = new byte[OutputSpool.ReadBufferBytes];
        await using var spool = new OutputSpool(OutputSpool.OpenFile(spoolPath), spoolPath, cap);
        while (true)
        {
            var n = await source.ReadAsync(buffer, token).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            await spool.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
        }
        return await spool.CompleteAsync().ConfigureAwait(false);
    }

    private static string Describe(Exception e)
    {
        var message = e.Message;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += $" ({inner.Message})";
        }
        return message;
    }

    private static void DeleteQuietly(string? path)
    {
        if (path is null)
        {
            return;
        }
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
