using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>The http op against real local HTTP servers: one allow-listed, one not.</summary>
public sealed class HttpOpTests(HttpOpTests.Agent agent) : IClassFixture<HttpOpTests.Agent>
{
    private readonly TestHttpServer _allowed = agent.Allowed.Recounted();
    private readonly TestHttpServer _other = agent.Other.Recounted();
    private readonly E2EContext _e2e = agent.E2E;

    /// <summary>One agent and both servers for every test here; each test counts requests from nought.</summary>
    public sealed class Agent : IDisposable
    {
        public Agent()
        {
            Allowed = new();
            Other = new();
            Allowed.Redirects["/redirect-outside"] = $"{Other.BaseUrl}hello";
            E2E = new E2EContext(httpDestinations: [$"127.0.0.1:{Allowed.Port}"]);
        }

        public E2EContext E2E { get; }

        internal TestHttpServer Allowed { get; }

        /// <summary>Not on the binding's list of destinations.</summary>
        internal TestHttpServer Other { get; }

        public void Dispose()
        {
            E2E.Dispose();
            Allowed.Dispose();
            Other.Dispose();
        }
    }

    private async Task<IReadOnlyList<Reply>> RunAsync(HttpArgs args)
    {
        var cmd = await _e2e.Controller.SendAsync(_e2e.Controller.Call(args));
        return await _e2e.Controller.RepliesAsync(cmd.Id, E2EContext.Wait);
    }

    [Fact]
    public async Task Allowed_destination_returns_status_headers_and_the_exact_body()
    {
        var replies = await RunAsync(new HttpArgs { Url = $"{_allowed.BaseUrl}hello" });

        var final = replies[^1];
        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        var result = final.ResultAs<HttpResult>()!;
        Assert.Equal(200, result.Status);
        Assert.Equal("OK", result.Reason);
        Assert.Equal("yes", result.Headers["X-Test"]);
        Assert.Equal("a, b", result.Headers["X-Multi"]);
        Assert.Equal(TestHttpServer.Hello, result.Body.Data);
        Assert.Equal(Encoding.UTF8.GetByteCount(TestHttpServer.Hello), result.Body.Bytes);
        Assert.False(result.Body.Truncated);
        Assert.Equal(0, result.Body.Chunks);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(TestHttpServer.Hello))), result.Body.Sha256);
        Assert.Equal($"{_allowed.BaseUrl}hello", result.FinalUrl);
        Assert.Equal(0, result.Redirects);
        Assert.Equal(1, result.Attempt);
    }

    [Fact]
    public async Task Big_body_is_reassembled_exactly_from_chunk_replies()
    {
        var replies = await RunAsync(new HttpArgs { Url = $"{_allowed.BaseUrl}big" });

        var result = replies[^1].ResultAs<HttpResult>()!;
        Assert.Equal(ReplyStatus.Succeeded, replies[^1].Status);
        Assert.Equal(TestHttpServer.Big.Length, result.Body.Bytes);
        Assert.True(result.Body.Truncated);
        Assert.True(result.Body.Chunks > 1);
        var assembler = ChunkAssembler.For(result.Body);
        foreach (var chunk in replies.Where(r => r.Chunk is not null).Select(r => r.Chunk!))
        {
            Assert.Equal(ChunkStreams.Body, chunk.Stream);
            Assert.Equal(ChunkAddStatus.Added, assembler.Add(chunk).Status);
        }
        var whole = assembler.Assemble();
        Assert.True(whole.IsSuccess, whole.Error?.Message);
        Assert.Equal(TestHttpServer.Big, whole.Data);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(TestHttpServer.Big)), result.Body.Sha256);
    }

    [Fact]
    public async Task Post_with_body_and_custom_header_is_echoed_and_4xx_is_still_a_result()
    {
        var replies = await RunAsync(new HttpArgs
        {
            Method = "POST",
            Url = $"{_allowed.BaseUrl}echo",
            Headers = new Dictionary<string, string> { ["X-Custom"] = "custom value", ["Content-Type"] = "text/plain" },
            Body = "payload ü",
        });
        var teapot = await RunAsync(new HttpArgs { Url = $"{_allowed.BaseUrl}status/418" });

        var echo = replies[^1].ResultAs<HttpResult>()!;
        Assert.Equal(ReplyStatus.Succeeded, replies[^1].Status);
        Assert.Equal("POST\nX-Custom: custom value\nContent-Type: text/plain\npayload ü", echo.Body.Data);
        Assert.Equal(ReplyStatus.Succeeded, teapot[^1].Status);
        Assert.Equal(418, teapot[^1].ResultAs<HttpResult>()!.Status);
        Assert.Equal("teapot", teapot[^1].ResultAs<HttpResult>()!.Body.Data);
    }

    [Fact]
    public async Task Destinations_not_in_the_list_are_refused_and_get_no_request()
    {
        // Another host name for the same server, and another port on the allowed host.
        var otherName = await RunAsync(new HttpArgs { Url = $"http://localhost:{_allowed.Port}/hello" });
        var otherPort = await RunAsync(new HttpArgs { Url = $"{_other.BaseUrl}hello" });

        foreach (var replies in new[] { otherName, otherPort })
        {
            Assert.Equal(ReplyStatus.Failed, replies[^1].Status);
            Assert.Equal("forbidden_destination", replies[^1].Error?.Code);
            Assert.Null(replies[^1].Result);
        }
        Assert.Equal(0, _allowed.Requests);
        Assert.Equal(0, _other.Requests);
    }

    [Fact]
    public async Task Redirect_inside_the_list_is_followed()
    {
        var replies = await RunAsync(new HttpArgs { Url = $"{_allowed.BaseUrl}redirect-inside" });

        var result = replies[^1].ResultAs<HttpResult>()!;
        Assert.Equal(200, result.Status);
        Assert.Equal(1, result.Redirects);
        Assert.Equal($"{_allowed.BaseUrl}hello", result.FinalUrl);
        Assert.Equal(TestHttpServer.Hello, result.Body.Data);
        Assert.Equal(2, _allowed.Requests);
    }

    [Fact]
    public async Task Redirect_leaving_the_list_is_refused_before_anything_is_sent_there()
    {
        var replies = await RunAsync(new HttpArgs { Url = $"{_allowed.BaseUrl}redirect-outside" });

        Assert.Equal(ReplyStatus.Failed, replies[^1].Status);
        Assert.Equal("forbidden_destination", replies[^1].Error?.Code);
        Assert.Contains($"127.0.0.1:{_other.Port}", replies[^1].Error!.Message);
        Assert.Equal(1, _allowed.Requests);
        Assert.Equal(0, _other.Requests);
    }

    [Fact]
    public async Task A_slow_server_ends_timed_out()
    {
        var replies = await RunAsync(new HttpArgs { Url = $"{_allowed.BaseUrl}slow", TimeoutSeconds = 1 });

        Assert.Equal(ReplyStatus.TimedOut, replies[^1].Status);
        Assert.Equal("timed_out", replies[^1].Error?.Code);
    }

    [Fact]
    public async Task Sdk_http_call_returns_the_result_and_the_whole_body()
    {
        await using var guest = new GuestClient(_e2e.Bed.Client(_e2e.Tenant.Project), _e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"),
            new GuestClientOptions { SigningKeys = _e2e.Tenant.Keys });

        var big = await guest.HttpAsync(new HttpArgs { Url = $"{_allowed.BaseUrl}big" });
        var refused = await guest.HttpAsync(new HttpArgs { Url = $"{_other.BaseUrl}hello" });

        Assert.True(big.Succeeded, big.Error?.Message);
        Assert.Equal(200, big.Http!.Status);
        Assert.False(big.BodyTruncated);
        Assert.Equal(TestHttpServer.Big, big.Body);
        Assert.Equal("forbidden_destination", refused.Error?.Code);
        Assert.Null(refused.Http);
    }

    [Fact]
    public async Task Guestctl_http_prints_the_head_to_stderr_and_the_body_to_stdout()
    {
        var ok = await _e2e.GuestctlAsync("http", "-H", "X-Custom: from guestctl", "--method", "POST", "--data", "hi", $"{_allowed.BaseUrl}echo");
        var refused = await _e2e.GuestctlAsync("http", $"{_other.BaseUrl}hello");

        Assert.Equal(0, ok.ExitCode);
        Assert.Equal("POST\nX-Custom: from guestctl\nhi", ok.Stdout);
        Assert.StartsWith("200 OK\n", ok.Stderr);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("destination not allowed", refused.Stderr);
        Assert.Empty(refused.Stdout);
    }

    /// <summary>A small HttpListener server on 127.0.0.1 and a free port, counting the requests it gets.</summary>
    internal sealed class TestHttpServer : IDisposable
    {
        public const string Hello = "hello from the test server\n";

        public static readonly byte[] Big = MakeBig();

        private readonly HttpListener _listener = new();
        private int _requests;

        public TestHttpServer()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener.Prefixes.Add(BaseUrl);
            _listener.Start();
            Redirects["/redirect-inside"] = $"{BaseUrl}hello";
            _ = Task.Run(LoopAsync);
        }

        public int Port { get; }

        public string BaseUrl => $"http://127.0.0.1:{Port}/";

        public int Requests => Volatile.Read(ref _requests);

        /// <summary>This server with its request count back at nought, as a test finds it.</summary>
        public TestHttpServer Recounted()
        {
            Volatile.Write(ref _requests, 0);
            return this;
        }

        public Dictionary<string, string> Redirects { get; } = [];

        private static byte[] MakeBig()
        {
            var data = new byte[700_000];
            new Random(42).NextBytes(data);
            return data;
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                Interlocked.Increment(ref _requests);
                _ = Task.Run(() => HandleAsync(ctx));
            }
        }

        private async Task HandleAsync(HttpListenerContext ctx)
        {
            var response = ctx.Response;
            try
            {
                var path = ctx.Request.Url!.AbsolutePath;
                byte[] body;
                if (Redirects.TryGetValue(path, out var location))
                {
                    response.StatusCode = 302;
                    response.RedirectLocation = location;
                    body = [];
                }
                else if (path == "/hello")
                {
                    response.ContentType = "text/plain; charset=utf-8";
                    response.AddHeader("X-Test", "yes");
                    response.Headers.Add("X-Multi", "a");
                    response.Headers.Add("X-Multi", "b");
                    body = Encoding.UTF8.GetBytes(Hello);
                }
                else if (path == "/big")
                {
                    response.ContentType = "application/octet-stream";
                    body = Big;
                }
                else if (path == "/echo")
                {
                    using var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
                    var text = $"{ctx.Request.HttpMethod}\nX-Custom: {ctx.Request.Headers["X-Custom"]}\n" +
                        (ctx.Request.ContentType is { } ct ? $"Content-Type: {ct}\n" : "") + await reader.ReadToEndAsync();
                    body = Encoding.UTF8.GetBytes(text);
                }
                else if (path.StartsWith("/status/", StringComparison.Ordinal))
                {
                    response.StatusCode = int.Parse(path["/status/".Length..], System.Globalization.CultureInfo.InvariantCulture);
                    body = "teapot"u8.ToArray();
                }
                else if (path == "/slow")
                {
                    await Task.Delay(TimeSpan.FromSeconds(5));
                    body = "late"u8.ToArray();
                }
                else
                {
                    response.StatusCode = 404;
                    body = [];
                }
                response.ContentLength64 = body.Length;
                await response.OutputStream.WriteAsync(body);
                response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // The client went away (timeout test) or the server is stopping.
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
        }
    }
}
