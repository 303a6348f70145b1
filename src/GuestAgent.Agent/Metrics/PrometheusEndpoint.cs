using System.Net;
using System.Text;

namespace GuestAgent.Agent.Metrics;

/// <summary>
/// Serves <see cref="AgentMetrics"/> as Prometheus text on http://ADDRESS:PORT/metrics, on a loopback
/// address only (the configuration refuses others): it has no authentication and shows every
/// tenant's figures. HttpListener, already in the runtime, rather than a web server the agent would
/// load for one page.
/// </summary>
public sealed class PrometheusEndpoint : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly AgentMetrics _metrics;
    private readonly Serilog.ILogger _log = Serilog.Log.ForContext("SourceContext", "PrometheusEndpoint");

    private PrometheusEndpoint(IPEndPoint at, AgentMetrics metrics)
    {
        _metrics = metrics;
        var host = at.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{at.Address}]" : at.Address.ToString();
        Url = $"http://{host}:{at.Port}/metrics";
        _listener.Prefixes.Add($"http://{host}:{at.Port}/");
    }

    public string Url { get; }

    /// <summary>Listens on <paramref name="at"/>; throws <see cref="HttpListenerException"/> when it cannot (the port is taken).</summary>
    public static PrometheusEndpoint Start(IPEndPoint at, AgentMetrics metrics)
    {
        var endpoint = new PrometheusEndpoint(at, metrics);
        endpoint._listener.Start();
        _ = endpoint.ServeAsync();
        return endpoint;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return; // stopped
            }
            try
            {
                Answer(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException)
            {
                _log.Debug("a metrics scrape was cut off: {Error}", e.Message);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // One bad scrape must not end the endpoint for the agent's lifetime.
                _log.Warning(e, "answering a metrics scrape failed");
            }
        }
    }

    private void Answer(HttpListenerContext context)
    {
        using var response = context.Response;
        if (context.Request.HttpMethod is not ("GET" or "HEAD") || context.Request.Url?.AbsolutePath != "/metrics")
        {
            response.StatusCode = context.Request.Url?.AbsolutePath == "/metrics" ? 405 : 404;
            return;
        }
        var text = new StringWriter { NewLine = "\n" };
        _metrics.WritePrometheus(text);
        var body = Encoding.UTF8.GetBytes(text.ToString());
        response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        response.ContentLength64 = body.Length;
        if (context.Request.HttpMethod == "GET")
        {
            response.OutputStream.Write(body);
        }
    }

    public void Dispose()
    {
        if (_listener.IsListening)
        {
            _listener.Stop();
        }
        _listener.Close();
    }
}
