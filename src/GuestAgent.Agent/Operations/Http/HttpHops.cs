using System.Net;
using GuestAgent.Agent.Configuration;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Operations.Http;

/// <summary>Which redirect answers a send follows.</summary>
public enum RedirectPolicy
{
    /// <summary>None: a 3xx answer is the response.</summary>
    None,

    /// <summary>
    /// 301, 302, 303, 307 and 308 with a Location, as browsers do: 303, and 301/302 after a POST,
    /// become a GET without a body.
    /// </summary>
    All,

    /// <summary>
    /// Only 307 and 308, the two that keep the method and the body (the body is sent again from
    /// the start). For uploads: a 301/302/303 would turn the upload into a GET and lose the body.
    /// </summary>
    KeepBody,
}

/// <summary>One request to send through <see cref="HttpHops"/>.</summary>
/// <param name="Content">Makes the body afresh for every hop (a 307/308 sends it again); null for none.</param>
/// <param name="ShowUrl">How a URL appears in error messages (e.g. without a temp URL's signature).</param>
/// <param name="ExpectContinue">Ask the server to accept the headers before the body is sent (large uploads).</param>
public sealed record HopRequest(
    HttpMethod Method,
    Uri Url,
    IReadOnlyDictionary<string, string>? Headers,
    Func<HttpContent>? Content,
    RedirectPolicy Redirects,
    Func<Uri, string>? ShowUrl = null,
    bool ExpectContinue = false);

/// <summary>Why a send ended without a response to hand over.</summary>
public enum HopRefusal
{
    /// <summary>A hop's host:port is not in the allow-list; nothing was sent to it.</summary>
    ForbiddenDestination,

    /// <summary>Too many redirects, or a redirect to a URL that is not http(s).</summary>
    BadRedirect,
}

/// <summary>
/// The end of a send: the last hop's response (headers read, body not yet), or a refusal. Owns
/// the response; disposing it releases the connection.
/// </summary>
/// <param name="Url">The URL of the last hop: the one that answered, or the refused one.</param>
public sealed record HopResult(HttpResponseMessage? Response, Uri Url, int Redirects, HopRefusal? Refusal = null, string? Error = null) : IDisposable
{
    public void Dispose() => Response?.Dispose();
}

/// <summary>
/// Sends one request from inside the guest, following redirects by hand (not by the handler) so
/// that every hop's destination is checked against the tenant's allow-list before anything is
/// sent to it, and credentials are not handed from one origin to another. Shared by the http op
/// and the URL transfers of file.put and file.get. Connection, TLS and protocol errors, and
/// cancellation, are thrown as HttpClient throws them.
/// </summary>
public static class HttpHops
{
    /// <summary>Headers that carry credentials; dropped when a redirect changes the origin.</summary>
    private static readonly string[] CredentialHeaders = ["Authorization", "Cookie"];

    /// <summary>
    /// A client for <see cref="SendAsync"/>: no automatic redirects (they are checked hop by hop),
    /// no proxy and no cookies (the agent acts for the command alone), bodies left as sent.
    /// </summary>
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
    }, disposeHandler: true)
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>A URL as it may be shown: scheme, host, port and path, without user info, query or fragment (temp URLs sign in the query).</summary>
    public static string Redact(Uri url) =>
        url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);

    public static async Task<HopResult> SendAsync(HttpClient client, HopRequest first, IReadOnlyList<HttpDestination> allowList, CancellationToken ct)
    {
        var show = first.ShowUrl ?? (u => u.ToString());
        var url = first.Url;
        var method = first.Method;
        var content = first.Content;
        var headers = new Dictionary<string, string>(first.Headers ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase);
        var redirects = 0;
        while (true)
        {
            if (!allowList.Any(d => d.Matches(url)))
            {
                return new HopResult(null, url, redirects, HopRefusal.ForbiddenDestination,
                    $"{url.IdnHost}:{url.Port} is not an allowed http destination for this tenant" +
                    (redirects > 0 ? $" (redirect {redirects} to {show(url)})" : ""));
            }
            HttpResponseMessage response;
            using (var request = BuildRequest(method, url, headers, content?.Invoke(), first.ExpectContinue))
            {
                response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            }
            var status = (int)response.StatusCode;
            var follows = first.Redirects switch
            {
                RedirectPolicy.All => status is 301 or 302 or 303 or 307 or 308,
                RedirectPolicy.KeepBody => status is 307 or 308,
                _ => false,
            };
            if (!follows || response.Headers.Location is not { } location)
            {
                return new HopResult(response, url, redirects);
            }
            response.Dispose();
            var next = new Uri(url, location);
            if (redirects >= HttpArgs.MaxRedirects)
            {
                return new HopResult(null, url, redirects, HopRefusal.BadRedirect,
                    $"more than {HttpArgs.MaxRedirects} redirects (the last to {show(next)})");
            }
            if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
            {
                return new HopResult(null, url, redirects, HopRefusal.BadRedirect, $"redirect to a non-http URL: {show(next)}");
            }
            // 303, and 301/302 after a POST, become a GET without a body, as browsers do.
            if ((status == 303 && method != HttpMethod.Head) || (status is 301 or 302 && method == HttpMethod.Post))
            {
                method = HttpMethod.Get;
                content = null;
                foreach (var name in headers.Keys.Where(k => k.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)).ToList())
                {
                    headers.Remove(name);
                }
            }
            if (!SameOrigin(url, next))
            {
                // Credentials meant for one origin are not handed to another.
                foreach (var name in CredentialHeaders)
                {
                    headers.Remove(name);
                }
            }
            url = next;
            redirects++;
        }
    }

    private static HttpRequestMessage BuildRequest(HttpMethod method, Uri url, Dictionary<string, string> headers, HttpContent? body, bool expectContinue)
    {
        var request = new HttpRequestMessage(method, url) { Content = body };
        if (expectContinue && body is not null)
        {
            request.Headers.ExpectContinue = true;
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

    /// <summary>An exception's message with its inner ones, for <c>error.message</c>.</summary>
    public static string Describe(Exception e)
    {
        var message = e.Message;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += $" ({inner.Message})";
        }
        return message;
    }
}
