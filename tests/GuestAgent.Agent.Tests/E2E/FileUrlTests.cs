using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// The URL modes against a real agent and a small object store on 127.0.0.1 standing in for
/// Swift temp URLs: file.put with <c>url</c> (the agent downloads into a file root) and file.get
/// with <c>upload_url</c> (the agent uploads from one). A second store is not allow-listed.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class FileUrlTests : IClassFixture<FileUrlTests.Agent>
{
    /// <summary>A temp URL's signature: it must reach the store, and never show in a reply.</summary>
    private const string Signature = "temp_url_sig=5ecre7dead&temp_url_expires=1795000000";

    private readonly ObjectStore _store;
    private readonly ObjectStore _outside;
    private readonly E2EContext _e2e;
    /// <summary>This test's directory inside the file root.</summary>
    private readonly string _root;

    public FileUrlTests(Agent agent)
    {
        _e2e = agent.E2E;
        _store = agent.Store.Emptied();
        _outside = agent.Outside.Emptied();
        _root = SharedAgent.NewDirectory(_e2e.FileRoot);
    }

    /// <summary>One agent and the two stores for every test here; each test starts with both stores empty.</summary>
    public sealed class Agent : IDisposable
    {
        public Agent()
        {
            Store = new();
            Outside = new();
            // No size cap of the binding's own, so the disk's free space is what refuses a huge file.
            E2E = new E2EContext(httpDestinations: [$"127.0.0.1:{Store.Port}"], fileRoot: true,
                tenant: t => t with { ExtraConfig = "max-file-bytes = 9223372036854775807" });
        }

        public E2EContext E2E { get; }

        internal ObjectStore Store { get; }

        /// <summary>Not on the binding's list of destinations.</summary>
        internal ObjectStore Outside { get; }

        public void Dispose()
        {
            E2E.Dispose();
            Store.Dispose();
            Outside.Dispose();
        }
    }

    private string Target(string name) => Path.Combine(_root, name);

    private static string Sha(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static FilePutUrlArgs Download(string path, byte[] expected, string url) =>
        new() { Path = path, Size = expected.Length, Sha256 = Sha(expected), Url = url };

    private async Task<(Command Command, Reply Final)> RunAsync(OpArgs args)
    {
        var cmd = await _e2e.Controller.SendAsync(_e2e.Controller.Call(args));
        return (cmd, await _e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait));
    }

    /// <summary>The file root holds exactly these names: no temp file left behind, nothing half-written.</summary>
    private void AssertRootHolds(params string[] names) =>
        Assert.Equal(names.Order(), Directory.EnumerateFileSystemEntries(_root).Select(Path.GetFileName).Order());

    private static void AssertFailed(Reply final, string code)
    {
        Assert.True(final.Status == ReplyStatus.Failed && final.Error?.Code == code,
            $"expected failed/{code}, got {final.Status}/{final.Error?.Code}: {final.Error?.Message}");
        Assert.Null(final.Result);
        Assert.DoesNotContain("5ecre7", final.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_multi_mib_binary_download_lands_exactly_with_its_mode_and_checksum()
    {
        var content = RandomNumberGenerator.GetBytes((6 * 1024 * 1024) + 123);
        _store.Objects["/v1/AUTH_p/c/app.bin"] = content;
        var args = Download(Target("app.bin"), content, $"{_store.BaseUrl}v1/AUTH_p/c/app.bin?{Signature}") with
        {
            Mode = "0640",
            Headers = new Dictionary<string, string> { ["X-Auth-Token"] = "tok-1" },
        };

        var (_, final) = await RunAsync(args);

        Assert.True(final.Status == ReplyStatus.Succeeded, $"{final.Status}: {final.Error?.Code}: {final.Error?.Message}");
        var result = final.ResultAs<FileDownloadResult>()!;
        Assert.Equal(content, await File.ReadAllBytesAsync(Target("app.bin")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(Target("app.bin")));
        Assert.Equal((args.Path, (long)content.Length, Sha(content), true), (result.Path, result.Bytes, result.Sha256, result.Complete));
        Assert.Equal((200, 0, 1), (result.HttpStatus, result.Redirects, result.Attempt));
        // The signature went to the store, but the reply shows the URL without it.
        Assert.Equal($"{_store.BaseUrl}v1/AUTH_p/c/app.bin", result.Url);
        var seen = Assert.Single(_store.Seen);
        Assert.Equal(("GET", $"?{Signature}", "tok-1"), (seen.Method, seen.Query, seen.Headers.GetValueOrDefault("X-Auth-Token")));
        AssertRootHolds("app.bin");
    }

    [Fact]
    public async Task The_target_does_not_exist_until_the_whole_file_is_in()
    {
        var content = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var half = content.Length / 2;
        var release = new TaskCompletionSource();
        _store.Routes["/stall"] = async ctx =>
        {
            ctx.Response.ContentLength64 = content.Length;
            await ctx.Response.OutputStream.WriteAsync(content.AsMemory(0, half));
            await ctx.Response.OutputStream.FlushAsync();
            await release.Task;
            await ctx.Response.OutputStream.WriteAsync(content.AsMemory(half));
        };

        var cmd = await _e2e.Controller.SendAsync(_e2e.Controller.Call(Download(Target("big.bin"), content, $"{_store.BaseUrl}stall")));
        // The bytes so far sit in a hidden temp file beside the target, named after the command.
        var part = Target($".big.bin.{cmd.Id:N}.guestagent-part");
        await E2EContext.WaitForAsync(() => File.Exists(part) && new FileInfo(part).Length >= half, "the first half in the temp file");

        Assert.False(File.Exists(Target("big.bin")));
        AssertRootHolds(Path.GetFileName(part));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(part));
        release.SetResult();
        var final = await _e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(content, await File.ReadAllBytesAsync(Target("big.bin")));
        AssertRootHolds("big.bin");
    }

    [Fact]
    public async Task Other_bytes_of_the_right_size_end_checksum_mismatch_and_leave_the_old_file_alone()
    {
        var expected = RandomNumberGenerator.GetBytes(1024 * 1024);
        _store.Objects["/o"] = RandomNumberGenerator.GetBytes(expected.Length);
        await File.WriteAllTextAsync(Target("conf"), "old version");

        var (_, final) = await RunAsync(Download(Target("conf"), expected, $"{_store.BaseUrl}o?{Signature}") with { Overwrite = true });

        AssertFailed(final, "checksum_mismatch");
        Assert.Contains(Sha(expected), final.Error!.Message, StringComparison.Ordinal);
        Assert.Equal("old version", await File.ReadAllTextAsync(Target("conf")));
        AssertRootHolds("conf");
    }

    [Fact]
    public async Task A_body_shorter_or_longer_than_size_ends_size_mismatch_and_installs_nothing()
    {
        var expected = RandomNumberGenerator.GetBytes(300_000);
        // A store that says up front it holds fewer bytes, one that just stops early (chunked),
        // and one that sends more than announced (chunked, so only counting notices).
        _store.Objects["/short"] = expected[..200_000];
        _store.Routes["/short-chunked"] = ctx => Chunked(ctx, expected[..299_999]);
        _store.Routes["/long-chunked"] = ctx => Chunked(ctx, [.. expected, .. expected]);

        foreach (var path in new[] { "short", "short-chunked", "long-chunked" })
        {
            var (_, final) = await RunAsync(Download(Target("data"), expected, $"{_store.BaseUrl}{path}"));

            AssertFailed(final, "size_mismatch");
            Assert.Contains("300000", final.Error!.Message, StringComparison.Ordinal);
            AssertRootHolds();
        }

        static async Task Chunked(HttpListenerContext ctx, byte[] body)
        {
            ctx.Response.SendChunked = true;
            await ctx.Response.OutputStream.WriteAsync(body);
        }
    }

    [Fact]
    public async Task A_404_ends_download_failed_with_the_status_and_nothing_in_place()
    {
        var (_, final) = await RunAsync(Download(Target("missing"), [1, 2, 3], $"{_store.BaseUrl}v1/AUTH_p/c/missing?{Signature}"));

        AssertFailed(final, "download_failed");
        Assert.Contains("404", final.Error!.Message, StringComparison.Ordinal);
        Assert.Contains("no such object", final.Error.Message, StringComparison.Ordinal);
        Assert.Equal(1, _store.Requests);
        AssertRootHolds();
    }

    [Fact]
    public async Task A_destination_outside_the_allow_list_is_refused_and_gets_no_request()
    {
        _outside.Objects["/o"] = [1, 2, 3];

        var (_, final) = await RunAsync(Download(Target("o"), [1, 2, 3], $"{_outside.BaseUrl}o?{Signature}"));

        AssertFailed(final, "forbidden_destination");
        Assert.Contains($"127.0.0.1:{_outside.Port}", final.Error!.Message, StringComparison.Ordinal);
        Assert.Equal(0, _outside.Requests);
        AssertRootHolds();
    }

    [Fact]
    public async Task A_redirect_inside_the_list_is_followed_and_one_leaving_it_is_refused_before_anything_is_sent()
    {
        var content = RandomNumberGenerator.GetBytes(100_000);
        _store.Objects["/real"] = content;
        _outside.Objects["/real"] = content;
        _store.Redirects["/moved"] = (302, $"{_store.BaseUrl}real?{Signature}");
        _store.Redirects["/away"] = (302, $"{_outside.BaseUrl}real?{Signature}");

        var (_, inside) = await RunAsync(Download(Target("inside"), content, $"{_store.BaseUrl}moved"));
        var (_, away) = await RunAsync(Download(Target("away"), content, $"{_store.BaseUrl}away"));

        Assert.Equal(ReplyStatus.Succeeded, inside.Status);
        Assert.Equal((1, $"{_store.BaseUrl}real"), (inside.ResultAs<FileDownloadResult>()!.Redirects, inside.ResultAs<FileDownloadResult>()!.Url));
        AssertFailed(away, "forbidden_destination");
        Assert.Contains($"127.0.0.1:{_outside.Port}", away.Error!.Message, StringComparison.Ordinal);
        Assert.Equal(0, _outside.Requests);
        Assert.Equal(3, _store.Requests);
        AssertRootHolds("inside");
    }

    [Fact]
    public async Task An_existing_target_without_overwrite_or_a_file_too_big_for_the_disk_is_refused_before_any_download()
    {
        _store.Objects["/o"] = [1, 2, 3];
        await File.WriteAllTextAsync(Target("keep"), "mine");

        var (_, exists) = await RunAsync(Download(Target("keep"), [1, 2, 3], $"{_store.BaseUrl}o"));
        var (_, huge) = await RunAsync(new FilePutUrlArgs { Path = Target("huge"), Size = 1L << 55, Sha256 = Sha([]), Url = $"{_store.BaseUrl}o" });

        AssertFailed(exists, "exists");
        AssertFailed(huge, "no_space");
        Assert.Equal("mine", await File.ReadAllTextAsync(Target("keep")));
        Assert.Equal(0, _store.Requests);
        AssertRootHolds("keep");
    }

    [Fact]
    public async Task A_stalled_download_ends_timed_out_without_a_temp_file()
    {
        _store.Routes["/forever"] = async ctx =>
        {
            ctx.Response.ContentLength64 = 10;
            await ctx.Response.OutputStream.WriteAsync(new byte[5]);
            await ctx.Response.OutputStream.FlushAsync();
            await Task.Delay(TimeSpan.FromSeconds(20));
        };

        var (_, final) = await RunAsync(Download(Target("slow"), new byte[10], $"{_store.BaseUrl}forever") with { TimeoutSeconds = 1 });

        Assert.Equal(ReplyStatus.TimedOut, final.Status);
        Assert.Equal("timed_out", final.Error?.Code);
        AssertRootHolds();
    }

    [Fact]
    public async Task A_cancelled_download_ends_cancelled_and_takes_its_temp_file_along()
    {
        var stop = new TaskCompletionSource();
        _store.Routes["/stuck"] = async ctx =>
        {
            ctx.Response.ContentLength64 = 200_000;
            await ctx.Response.OutputStream.WriteAsync(new byte[100_000]);
            await ctx.Response.OutputStream.FlushAsync();
            await stop.Task;
        };
        var cmd = await _e2e.Controller.SendAsync(_e2e.Controller.Call(Download(Target("c"), new byte[200_000], $"{_store.BaseUrl}stuck")));
        var part = Target($".c.{cmd.Id:N}.guestagent-part");
        await E2EContext.WaitForAsync(() => File.Exists(part) && new FileInfo(part).Length > 0, "bytes in the temp file");

        var (_, cancel) = await RunAsync(new CancelArgs(cmd.Id));
        var final = await _e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait);
        stop.SetResult();

        Assert.Equal(ReplyStatus.Succeeded, cancel.Status);
        Assert.Equal((ReplyStatus.Cancelled, "cancelled"), (final.Status, final.Error?.Code));
        AssertRootHolds();
    }

    [Fact]
    public async Task A_multi_mib_upload_arrives_byte_exact_with_the_reported_checksum()
    {
        var content = RandomNumberGenerator.GetBytes((5 * 1024 * 1024) + 7);
        await File.WriteAllBytesAsync(Target("dump"), content);
        File.SetUnixFileMode(Target("dump"), UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var (_, final) = await RunAsync(new FileGetArgs
        {
            Path = Target("dump"),
            UploadUrl = $"{_store.BaseUrl}v1/AUTH_p/backups/dump?{Signature}",
            UploadHeaders = new Dictionary<string, string> { ["Content-Type"] = "application/octet-stream", ["X-Auth-Token"] = "tok-2" },
        });

        Assert.True(final.Status == ReplyStatus.Succeeded, $"{final.Status}: {final.Error?.Code}: {final.Error?.Message}");
        var result = final.ResultAs<FileUploadResult>()!;
        Assert.Equal(content, _store.Objects["/v1/AUTH_p/backups/dump"]);
        Assert.Equal(Sha(content), result.Sha256);
        Assert.Equal((content.Length, 0L, content.Length, "0600"), (result.Size, result.Offset, result.Bytes, result.Mode));
        Assert.Equal((201, $"{_store.BaseUrl}v1/AUTH_p/backups/dump", 0), (result.HttpStatus, result.Url, result.Redirects));
        var seen = Assert.Single(_store.Seen);
        Assert.Equal(("PUT", $"?{Signature}"), (seen.Method, seen.Query));
        Assert.Equal(content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), seen.Headers["Content-Length"]);
        Assert.Equal(("application/octet-stream", "tok-2"), (seen.Headers["Content-Type"], seen.Headers["X-Auth-Token"]));
    }

    [Fact]
    public async Task An_upload_from_an_offset_follows_a_307_sending_the_body_again_and_reports_the_whole_file_checksum()
    {
        var content = RandomNumberGenerator.GetBytes(1024 * 1024);
        await File.WriteAllBytesAsync(Target("log"), content);
        _store.Redirects["/upload"] = (307, $"{_store.BaseUrl}objects/tail");
        _store.Redirects["/see-other"] = (303, $"{_store.BaseUrl}objects/lost");

        var (_, final) = await RunAsync(new FileGetArgs
        {
            Path = Target("log"), Offset = 1000, UploadUrl = $"{_store.BaseUrl}upload", UploadMethod = "POST",
        });
        var (_, seeOther) = await RunAsync(new FileGetArgs { Path = Target("log"), UploadUrl = $"{_store.BaseUrl}see-other" });

        Assert.True(final.Status == ReplyStatus.Succeeded, $"{final.Status}: {final.Error?.Code}: {final.Error?.Message}");
        var result = final.ResultAs<FileUploadResult>()!;
        Assert.Equal(content[1000..], _store.Objects["/objects/tail"]);
        Assert.Equal((1000L, content.Length - 1000L, Sha(content), 1), (result.Offset, result.Bytes, result.Sha256, result.Redirects));
        Assert.Equal(["POST /upload", "POST /objects/tail"], _store.Seen.Take(2).Select(s => $"{s.Method} {s.Path}"));
        // A 303 would turn the upload into a GET: it is not followed, and the upload has failed.
        AssertFailed(seeOther, "upload_failed");
        Assert.Contains("303", seeOther.Error!.Message, StringComparison.Ordinal);
        Assert.False(_store.Objects.ContainsKey("/objects/lost"));
    }

    [Fact]
    public async Task Uploads_to_a_forbidden_destination_or_refused_by_the_store_fail_and_say_why()
    {
        await File.WriteAllBytesAsync(Target("f"), [1, 2, 3]);
        _store.Routes["/expired"] = async ctx =>
        {
            ctx.Response.StatusCode = 401;
            await ctx.Response.OutputStream.WriteAsync("Temp URL expired"u8.ToArray());
        };

        var (_, forbidden) = await RunAsync(new FileGetArgs { Path = Target("f"), UploadUrl = $"{_outside.BaseUrl}o?{Signature}" });
        var (_, refused) = await RunAsync(new FileGetArgs { Path = Target("f"), UploadUrl = $"{_store.BaseUrl}expired?{Signature}" });
        var (_, missing) = await RunAsync(new FileGetArgs { Path = Target("nope"), UploadUrl = $"{_store.BaseUrl}o" });

        AssertFailed(forbidden, "forbidden_destination");
        Assert.Equal(0, _outside.Requests);
        Assert.Empty(_outside.Objects);
        AssertFailed(refused, "upload_failed");
        Assert.Contains("401", refused.Error!.Message, StringComparison.Ordinal);
        Assert.Contains("Temp URL expired", refused.Error.Message, StringComparison.Ordinal);
        AssertFailed(missing, "not_found");
        Assert.Equal(1, _store.Requests);
    }

    [Fact]
    public async Task The_sdk_wrappers_return_the_results_and_throw_for_failures()
    {
        var content = RandomNumberGenerator.GetBytes(200_000);
        _store.Objects["/in"] = content;
        await using var guest = new GuestClient(_e2e.Bed.Client(_e2e.Tenant.Project), _e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"),
            new GuestClientOptions { SigningKeys = _e2e.Tenant.Keys });

        var down = await guest.PutFileFromUrlAsync(Download(Target("in"), content, $"{_store.BaseUrl}in"));
        var up = await guest.GetFileToUrlAsync(new FileGetArgs { Path = Target("in"), UploadUrl = $"{_store.BaseUrl}out" });
        var failure = await Assert.ThrowsAsync<GuestCallFailedException>(
            () => guest.PutFileFromUrlAsync(Download(Target("x"), content, $"{_store.BaseUrl}absent")));

        Assert.Equal((Sha(content), true), (down.Sha256, down.Complete));
        Assert.Equal(content, await File.ReadAllBytesAsync(Target("in")));
        Assert.Equal(Sha(content), up.Sha256);
        Assert.Equal(content, _store.Objects["/out"]);
        Assert.Equal("download_failed", failure.Reply.Error?.Code);
        await Assert.ThrowsAsync<ArgumentException>(() => guest.GetFileToUrlAsync(new FileGetArgs { Path = Target("in") }));
    }

    /// <summary>One request as the store saw it.</summary>
    internal sealed record SeenRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers);

    /// <summary>
    /// An object store in miniature on 127.0.0.1: GET serves <see cref="Objects"/>, PUT and POST
    /// store the body there (201); <see cref="Redirects"/> and <see cref="Routes"/> override a path.
    /// Every request is recorded before it is answered.
    /// </summary>
    internal sealed class ObjectStore : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentQueue<SeenRequest> _seen = new();

        public ObjectStore()
        {
            // A free port: bind to 0, read it back, let go, and listen there.
            using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                Port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            }
            _listener.Prefixes.Add(BaseUrl);
            _listener.Start();
            _ = Task.Run(ServeAsync);
        }

        public int Port { get; }

        public string BaseUrl => $"http://127.0.0.1:{Port}/";

        public ConcurrentDictionary<string, byte[]> Objects { get; } = new();

        public ConcurrentDictionary<string, (int Status, string Location)> Redirects { get; } = new();

        public ConcurrentDictionary<string, Func<HttpListenerContext, Task>> Routes { get; } = new();

        public IReadOnlyList<SeenRequest> Seen => [.. _seen];

        public int Requests => _seen.Count;

        /// <summary>This store with no objects, redirects, routes or requests seen: as a test finds it.</summary>
        public ObjectStore Emptied()
        {
            Objects.Clear();
            Redirects.Clear();
            Routes.Clear();
            _seen.Clear();
            return this;
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                try
                {
                    var ctx = await _listener.GetContextAsync();
                    _ = Task.Run(() => AnswerAsync(ctx));
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    break;
                }
            }
        }

        private async Task AnswerAsync(HttpListenerContext ctx)
        {
            var request = ctx.Request;
            var path = request.Url!.AbsolutePath;
            _seen.Enqueue(new SeenRequest(request.HttpMethod, path, request.Url.Query,
                request.Headers.AllKeys.ToDictionary(k => k!, k => request.Headers[k]!, StringComparer.OrdinalIgnoreCase)));
            try
            {
                if (Routes.TryGetValue(path, out var route))
                {
                    await route(ctx);
                }
                else if (Redirects.TryGetValue(path, out var redirect))
                {
                    ctx.Response.StatusCode = redirect.Status;
                    ctx.Response.RedirectLocation = redirect.Location;
                }
                else if (request.HttpMethod is "PUT" or "POST")
                {
                    using var body = new MemoryStream();
                    await request.InputStream.CopyToAsync(body);
                    Objects[path] = body.ToArray();
                    ctx.Response.StatusCode = 201;
                }
                else if (Objects.TryGetValue(path, out var data))
                {
                    ctx.Response.ContentType = "application/octet-stream";
                    ctx.Response.ContentLength64 = data.Length;
                    await ctx.Response.OutputStream.WriteAsync(data);
                }
                else
                {
                    ctx.Response.StatusCode = 404;
                    await ctx.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes($"no such object: {path}\n"));
                }
                ctx.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // The agent hung up (a refused or timed-out transfer), or the store is stopping.
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
        }
    }
}

/// <summary>What a URL looks like in replies: never with the signature a temp URL carries.</summary>
public sealed class FileUrlRedactionTests
{
    [Theory]
    [InlineData("https://swift.example.com:443/v1/AUTH_p/c/o?temp_url_sig=abc&temp_url_expires=1", "https://swift.example.com/v1/AUTH_p/c/o")]
    [InlineData("http://user:secret@127.0.0.1:8080/c/o%20x?X-Amz-Signature=abc#frag", "http://127.0.0.1:8080/c/o%20x")]
    [InlineData("http://[::1]:80/", "http://[::1]/")]
    public void Query_fragment_and_user_info_are_removed(string url, string shown)
    {
        Assert.Equal(shown, GuestAgent.Agent.Operations.Http.HttpHops.Redact(new Uri(url)));
    }
}
