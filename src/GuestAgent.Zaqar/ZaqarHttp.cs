using System.Collections.Concurrent;
using System.Net.Sockets;
using Flurl.Http;

namespace GuestAgent.Zaqar;

/// <summary>
/// One pooled HTTP client per Zaqar endpoint, shared by every <see cref="ZaqarClient"/> of
/// that endpoint (tenants on one Zaqar share connections; their headers are per request).
/// Pooled connections are recycled so a long-lived agent follows DNS and load-balancer changes.
/// </summary>
internal static class ZaqarHttp
{
    private static readonly ConcurrentDictionary<string, IFlurlClient> Clients = new(StringComparer.OrdinalIgnoreCase);

    public static IFlurlClient For(string endpoint, int maxConnections) =>
        Clients.GetOrAdd($"{maxConnections}|{endpoint.TrimEnd('/')}", key => Create(endpoint.TrimEnd('/'), maxConnections));

    private static IFlurlClient Create(string endpoint, int maxConnections)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            // Short: a connection .NET opened for a request that another connection then served sits
            // idle in the pool, and a single-threaded Zaqar (the wsgiref zaqar-server) waits on it,
            // serving nobody else, until it is closed.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(1),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            MaxConnectionsPerServer = maxConnections,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
        };
        // Flurl enforces the per-request timeout itself; the HttpClient's own must not cut in first.
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        return new FlurlClient(http, endpoint);
    }

    /// <summary>The connection was refused or unreachable: nothing was sent, so even a non-idempotent call can be repeated.</summary>
    public static bool NeverSent(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable })
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The server closed the connection without a byte of answer: a kept-alive connection it had
    /// already closed. Zaqar's wsgiref server does this to about one request in ten from a pooling
    /// client, and a trace of the server shows such requests never reach it, so they are repeated
    /// (POSTs included) and at once. A large body sent on such a connection fails earlier, with a
    /// broken pipe (EPIPE) while it is written: the request was never complete, so the server
    /// cannot have acted on it. A small one can fit the socket buffer and then meet a reset
    /// (ECONNRESET) instead of an answer: the kernel's reply to data on a socket the server closed.
    /// </summary>
    public static bool StaleConnection(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is HttpIOException { HttpRequestError: HttpRequestError.ResponseEnded }
                || e is SocketException { SocketErrorCode: SocketError.Shutdown or SocketError.ConnectionReset })
            {
                return true;
            }
        }
        return false;
    }
}
