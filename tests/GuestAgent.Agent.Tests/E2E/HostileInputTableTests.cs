using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Protocol.Signing;
using GuestAgent.Testing;
using Xunit.Abstractions;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// A table of hostile inputs, all posted to one real agent (real Zaqar, real process). Every row
/// names the outcome it must get: a <c>rejected</c> reply with a code, a <c>failed</c> reply with an
/// error code, no reply at all (logged and deleted: no usable id or reply_to), or a silent drop as
/// a duplicate. For every row nothing may run: exec rows would append to a marker file, file ops
/// would write outside the root, http rows would reach a listener that counts connections. At the
/// end a signed ping must still be answered by the same agent process, and the queue must be empty.
/// </summary>
public sealed class HostileInputTableTests : IDisposable
{
    /// <summary>How a row's body is posted.</summary>
    public enum Post
    {
        /// <summary>Signed with the binding's key (test-k1) by the controller, unless the body carries a sig.</summary>
        K1,
        /// <summary>Exactly as built (unsigned, or signed by the builder).</summary>
        Exact,
        /// <summary>Signed with test-k2, a key the binding does not have.</summary>
        K2,
        /// <summary>Signed with kid test-k1 but another secret.</summary>
        WrongSecret,
        /// <summary>Signed with another tenant's key (its own kid and secret).</summary>
        Foreign,
        /// <summary>Signed with test-k1, run once before the table, then posted again byte for byte.</summary>
        Replay,
    }

    /// <summary>
    /// One hostile input. <see cref="Expected"/>: <c>rejected:code</c>, <c>failed:code</c>,
    /// <c>logged:code</c> (no reply; the agent logs the rejection and deletes the message) or <c>duplicate</c>.
    /// </summary>
    public sealed record Row(string Name, string Expected, Func<Env, Guid, JsonNode?> Build, Post How = Post.K1);

    /// <summary>What the builders may use.</summary>
    public sealed record Env(string Dir, string Root, string Outside, string ReplyQueue, string ForbiddenUrl, string RedirectUrl)
    {
        public string Marker(Guid id) => Path.Combine(Dir, $"ran-{id:N}");

        public string Shell(Guid id) => $"echo run >> {Marker(id)}";
    }

    private static readonly SigningKey ForeignKey = new("tenant2-k1", Enumerable.Range(50, 32).Select(i => (byte)i).ToArray());
    private static readonly byte[] Payload = "pwned"u8.ToArray();

    private static string Ts(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ");

    private static JsonObject Base(Env e, Guid id, string op, JsonObject? args)
    {
        var now = DateTimeOffset.UtcNow;
        var o = new JsonObject
        {
            ["v"] = 1,
            ["id"] = id.ToString(),
            ["op"] = op,
            ["mode"] = "call",
            ["reply_to"] = e.ReplyQueue,
            ["issued_at"] = Ts(now),
            ["expires_at"] = Ts(now.AddMinutes(10)),
        };
        if (args is not null)
        {
            o["args"] = args;
        }
        return o;
    }

    private static JsonObject Exec(Env e, Guid id) => Base(e, id, "exec", new JsonObject { ["shell"] = e.Shell(id) });

    private static JsonObject Exec(Env e, Guid id, Action<JsonObject> change)
    {
        var o = Exec(e, id);
        change(o);
        return o;
    }

    private static JsonObject Put(Env e, Guid id, string path) => Base(e, id, "file.put", new JsonObject
    {
        ["transfer_id"] = Guid.NewGuid().ToString(),
        ["path"] = path,
        ["size"] = Payload.Length,
        ["sha256"] = Chunker.Sha256Hex(Payload),
        ["chunk_bytes"] = 100,
        ["index"] = 0,
        ["count"] = 1,
        ["data_b64"] = Convert.ToBase64String(Payload),
        ["overwrite"] = true,
    });

    private static JsonObject Get(Env e, Guid id, string path) => Base(e, id, "file.get", new JsonObject { ["path"] = path });

    private static JsonObject Http(Env e, Guid id, JsonObject args) => Base(e, id, "http", args);

    /// <summary>
    /// A JSON-text string body: apart from NaN, Infinity and deep nesting (QueueWedgeTests), Zaqar
    /// stores only JSON, so broken JSON arrives like this. Its id and reply_to, when they can be read
    /// before the text breaks, still get the rejection.
    /// </summary>
    private static JsonNode Text(string json) => JsonValue.Create(json);

    public static IReadOnlyList<Row> Rows { get; } =
    [
        // The body as a whole.
        new("malformed JSON in a string body", "rejected:malformed_json", (e, id) => Text(Exec(e, id).ToJsonString()[..^5]), Post.Exact),
        new("duplicate property name (string body)", "rejected:malformed_json",
            (e, id) => Text(Exec(e, id).ToJsonString().Replace("\"op\":\"exec\"", "\"op\":\"ping\",\"op\":\"exec\"", StringComparison.Ordinal)), Post.Exact),
        new("nesting 100 levels deep (string body)", "rejected:malformed_json",
            (e, id) => Text(Exec(e, id).ToJsonString()[..^2] + ",\"deep\":" + new string('[', 100) + new string(']', 100) + "}}"), Post.Exact),
        new("a string of words", "logged:malformed_json", (_, _) => Text("rm -rf / please"), Post.Exact),
        new("an array, not an object", "logged:not_an_object", (e, id) => new JsonArray(Exec(e, id)), Post.Exact),
        new("oversize body (20 KB env value)", "rejected:oversize",
            (e, id) => Exec(e, id, o => o["args"]!["env"] = new JsonObject { ["PAD"] = new string('x', 20_000) })),
        new("v = 2", "rejected:unsupported_version", (e, id) => Exec(e, id, o => o["v"] = 2)),

        // Envelope fields.
        new("no id", "logged:missing_field", (e, id) => Exec(e, id, o => o.Remove("id"))),
        new("id is a number", "logged:wrong_type", (e, id) => Exec(e, id, o => o["id"] = 42)),
        new("id is not a UUID", "logged:invalid_value", (e, id) => Exec(e, id, o => o["id"] = "not-a-uuid")),
        new("reply_to is a bad queue name", "logged:invalid_value", (e, id) => Exec(e, id, o => o["reply_to"] = "evil.queue/../x")),
        new("unknown op", "rejected:unknown_op", (e, id) => Exec(e, id, o => o["op"] = "format_disk")),
        new("bad mode", "rejected:invalid_value", (e, id) => Exec(e, id, o => o["mode"] = "sometimes")),
        new("issued_at without a zone", "rejected:invalid_value", (e, id) => Exec(e, id, o => o["issued_at"] = "2026-11-25T13:00:00")),
        new("args is a string", "rejected:wrong_type", (e, id) => Exec(e, id, o => o["args"] = $"touch {e.Marker(id)}")),

        // Wrong types and values inside args.
        new("timeout_s is a string", "rejected:wrong_type", (e, id) => Exec(e, id, o => o["args"]!["timeout_s"] = "ten")),
        new("env value is a number", "rejected:wrong_type", (e, id) => Exec(e, id, o => o["args"]!["env"] = new JsonObject { ["N"] = 3 })),
        new("argv element is a number", "rejected:wrong_type",
            (e, id) => Exec(e, id, o => o["args"] = new JsonObject { ["argv"] = new JsonArray("/bin/sh", 5, e.Shell(id)) })),
        new("NUL in argv", "rejected:invalid_value",
            (e, id) => Exec(e, id, o => o["args"] = new JsonObject { ["argv"] = new JsonArray("/bin/sh", "-c", e.Shell(id) + "\0x") })),
        new("both argv and shell", "rejected:invalid_value",
            (e, id) => Exec(e, id, o => o["args"]!["argv"] = new JsonArray("/bin/sh", "-c", e.Shell(id)))),
        new("empty argv", "rejected:invalid_value", (e, id) => Exec(e, id, o => o["args"] = new JsonObject { ["argv"] = new JsonArray() })),
        new("negative timeout_s", "rejected:invalid_value", (e, id) => Exec(e, id, o => o["args"]!["timeout_s"] = -1)),

        // Time.
        new("expired an hour ago", "rejected:expired", (e, id) => Exec(e, id, o =>
        {
            o["issued_at"] = Ts(DateTimeOffset.UtcNow.AddHours(-2));
            o["expires_at"] = Ts(DateTimeOffset.UtcNow.AddHours(-1));
        })),
        new("issued 10 minutes in the future", "rejected:expired", (e, id) => Exec(e, id, o =>
        {
            o["issued_at"] = Ts(DateTimeOffset.UtcNow.AddMinutes(10));
            o["expires_at"] = Ts(DateTimeOffset.UtcNow.AddMinutes(20));
        })),
        new("lifetime of 2 h (max 1 h)", "rejected:invalid_value", (e, id) => Exec(e, id, o => o["expires_at"] = Ts(DateTimeOffset.UtcNow.AddHours(2)))),
        new("signed without expires_at", "rejected:missing_field", (e, id) => Exec(e, id, o => o.Remove("expires_at"))),

        // Signatures.
        new("unsigned", "rejected:unsigned", (e, id) => Exec(e, id), Post.Exact),
        new("unknown kid (test-k2)", "rejected:unknown_key", (e, id) => Exec(e, id), Post.K2),
        new("another tenant's key, posted to this tenant's queue", "rejected:unknown_key", (e, id) => Exec(e, id), Post.Foreign),
        new("right kid, wrong secret", "rejected:bad_signature", (e, id) => Exec(e, id), Post.WrongSecret),
        new("sig is a string", "rejected:bad_signature", (e, id) => Exec(e, id, o => o["sig"] = "trust me"), Post.Exact),
        new("sig without mac", "rejected:bad_signature", (e, id) => Exec(e, id, o => o["sig"] = new JsonObject { ["kid"] = TestKeys.K1.Id }), Post.Exact),
        new("args.shell changed after signing", "rejected:bad_signature", (e, id) =>
        {
            var signed = Signatures.Sign(System.Text.Json.JsonSerializer.SerializeToElement(Exec(e, id, o => o["args"]!["shell"] = "true")),
                TestKeys.K1, Signatures.CommandDomain);
            signed["args"]!["shell"] = e.Shell(id);
            return signed;
        }, Post.Exact),
        new("reply_to changed after signing", "rejected:bad_signature", (e, id) =>
        {
            var signed = Signatures.Sign(System.Text.Json.JsonSerializer.SerializeToElement(Exec(e, id, o => o["reply_to"] = "someone-else")),
                TestKeys.K1, Signatures.CommandDomain);
            signed["reply_to"] = e.ReplyQueue;
            return signed;
        }, Post.Exact),
        new("replay of a signed command that already ran", "duplicate", (e, id) => Exec(e, id), Post.Replay),

        // file.put: nothing may appear outside the root.
        new("file.put path traversal", "failed:forbidden_path", (e, id) => Put(e, id, Path.Combine(e.Root, "..", "outside", "traversal"))),
        new("file.put through a symlink escaping the root", "failed:forbidden_path", (e, id) => Put(e, id, Path.Combine(e.Root, "escape", "via-link"))),
        new("file.put outside every root", "failed:forbidden_path", (e, id) => Put(e, id, Path.Combine(e.Outside, "direct"))),
        new("file.put onto a symlink to /dev/zero", "failed:forbidden_path", (e, id) => Put(e, id, Path.Combine(e.Root, "zero"))),
        new("file.put onto a FIFO in the root", "failed:not_a_regular_file", (e, id) => Put(e, id, Path.Combine(e.Root, "fifo"))),
        new("file.put relative path", "rejected:invalid_value", (e, id) => Put(e, id, "../../etc/passwd")),
        new("file.put NUL in path", "rejected:invalid_value", (e, id) => Put(e, id, Path.Combine(e.Root, "a\0/../../x"))),

        // file.get: nothing outside the root, no devices.
        new("file.get path traversal", "failed:forbidden_path", (e, id) => Get(e, id, Path.Combine(e.Root, "..", "secret.txt"))),
        new("file.get through a symlink escaping the root", "failed:forbidden_path", (e, id) => Get(e, id, Path.Combine(e.Root, "secret-link"))),
        new("file.get /dev/zero", "failed:forbidden_path", (e, id) => Get(e, id, "/dev/zero")),
        new("file.get a symlink to /dev/zero in the root", "failed:forbidden_path", (e, id) => Get(e, id, Path.Combine(e.Root, "zero"))),
        new("file.get a FIFO in the root", "failed:not_a_regular_file", (e, id) => Get(e, id, Path.Combine(e.Root, "fifo"))),

        // http.
        new("http to a destination not in the list", "failed:forbidden_destination", (e, id) => Http(e, id, new JsonObject { ["url"] = e.ForbiddenUrl })),
        new("http redirect leaving the list", "failed:forbidden_destination", (e, id) => Http(e, id, new JsonObject { ["url"] = e.RedirectUrl })),
        new("http with a Host header", "rejected:invalid_value", (e, id) => Http(e, id, new JsonObject
        {
            ["url"] = e.RedirectUrl,
            ["headers"] = new JsonObject { ["Host"] = "metadata.internal" },
        })),
        new("http CRLF in a header value", "rejected:invalid_value", (e, id) => Http(e, id, new JsonObject
        {
            ["url"] = e.RedirectUrl,
            ["headers"] = new JsonObject { ["X-A"] = "a\r\nX-Injected: 1" },
        })),
        new("http file:// url", "rejected:invalid_value", (e, id) => Http(e, id, new JsonObject { ["url"] = "file:///etc/passwd" })),
    ];

    private readonly ITestOutputHelper _output;
    private readonly CancellationTokenSource _stop = new();
    private readonly TcpListener _forbidden = new(IPAddress.Loopback, 0);
    private readonly TcpListener _redirector = new(IPAddress.Loopback, 0);
    private readonly E2EContext _e2e;
    private int _forbiddenHits;

    public HostileInputTableTests(ITestOutputHelper output)
    {
        _output = output;
        _forbidden.Start();
        _redirector.Start();
        _ = CountAsync();
        _ = RedirectAsync();
        _e2e = new E2EContext(fileRoot: true, httpDestinations: [$"127.0.0.1:{Port(_redirector)}"], extraConfig: "max-command-bytes = 16384");
    }

    public void Dispose()
    {
        _e2e.Dispose();
        _stop.Cancel();
        _forbidden.Stop();
        _redirector.Stop();
    }

    private static int Port(TcpListener l) => ((IPEndPoint)l.LocalEndpoint).Port;

    /// <summary>The destination no row may reach: counts every connection.</summary>
    private async Task CountAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                using var c = await _forbidden.AcceptTcpClientAsync(_stop.Token);
                Interlocked.Increment(ref _forbiddenHits);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>An allowed destination that answers every request with a redirect to the forbidden one.</summary>
    private async Task RedirectAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                using var c = await _redirector.AcceptTcpClientAsync(_stop.Token);
                var stream = c.GetStream();
                var buffer = new byte[8192];
                var head = new StringBuilder();
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var n = await stream.ReadAsync(buffer, _stop.Token);
                    if (n == 0)
                    {
                        break;
                    }
                    head.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
                var response = $"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{Port(_forbidden)}/x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(response), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
        }
    }

    private RawController Sender(Post how) => how switch
    {
        Post.K1 or Post.Replay => _e2e.Controller,
        Post.Exact => _e2e.Controller.WithKey(null),
        Post.K2 => _e2e.Controller.WithKey(TestKeys.K2),
        Post.WrongSecret => _e2e.Controller.WithKey(TestKeys.WrongSecret),
        Post.Foreign => _e2e.Controller.WithKey(ForeignKey),
        _ => throw new ArgumentOutOfRangeException(nameof(how)),
    };

    [Fact]
    public async Task Every_hostile_input_gets_its_outcome_runs_nothing_and_the_agent_goes_on()
    {
        var started = Stopwatch.StartNew();
        var pid = _e2e.Agent.Pid;
        var outside = Directory.CreateDirectory(Path.Combine(_e2e.Dir, "outside")).FullName;
        var secret = Path.Combine(_e2e.Dir, "secret.txt");
        await File.WriteAllTextAsync(secret, "not yours");
        File.CreateSymbolicLink(Path.Combine(_e2e.FileRoot, "escape"), outside);
        File.CreateSymbolicLink(Path.Combine(_e2e.FileRoot, "secret-link"), secret);
        File.CreateSymbolicLink(Path.Combine(_e2e.FileRoot, "zero"), "/dev/zero");
        Process.Start("mkfifo", Path.Combine(_e2e.FileRoot, "fifo"))!.WaitForExit();
        var env = new Env(_e2e.Dir, _e2e.FileRoot, outside, _e2e.Controller.ReplyQueue,
            $"http://127.0.0.1:{Port(_forbidden)}/metadata", $"http://127.0.0.1:{Port(_redirector)}/go");

        Assert.True(Rows.Count >= 32, $"only {Rows.Count} rows");
        Assert.Equal(Rows.Count, Rows.Select(r => r.Name).Distinct().Count());
        var ids = Rows.Select(_ => Guid.NewGuid()).ToArray();
        var priorRuns = new int[Rows.Count];
        var priorReplies = new int[Rows.Count];
        var bodies = new JsonNode?[Rows.Count];

        // Replays: run the genuine command once, then capture it.
        for (var i = 0; i < Rows.Count; i++)
        {
            if (Rows[i].How == Post.Replay)
            {
                bodies[i] = _e2e.Controller.Signed(Rows[i].Build(env, ids[i]));
                await _e2e.Controller.PostExactAsync(bodies[i]!.DeepClone());
                var replies = await _e2e.Controller.RepliesAsync(ids[i], E2EContext.Wait);
                Assert.Equal(ReplyStatus.Succeeded, replies[^1].Status);
                priorRuns[i] = 1;
                priorReplies[i] = replies.Count;
            }
        }

        // Every hostile message, then one good ping.
        for (var i = 0; i < Rows.Count; i++)
        {
            if (Rows[i].How == Post.Replay)
            {
                await _e2e.Controller.PostExactAsync(bodies[i]!.DeepClone());
            }
            else
            {
                var body = Rows[i].Build(env, ids[i]);
                await (Rows[i].How == Post.Exact ? Sender(Post.Exact).PostExactAsync(body) : Sender(Rows[i].How).PostRawAsync(body));
            }
        }
        var ping = await _e2e.Controller.SendAsync(_e2e.Controller.Call(new PingArgs()));
        var pingReply = await _e2e.Controller.FinalAsync(ping.Id, E2EContext.Wait);

        // Collect: rows that should be answered get until a shared deadline; then one more look at all.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        for (var i = 0; i < Rows.Count; i++)
        {
            if (Rows[i].Expected.StartsWith("rejected:", StringComparison.Ordinal) || Rows[i].Expected.StartsWith("failed:", StringComparison.Ordinal))
            {
                var left = deadline - DateTime.UtcNow;
                try
                {
                    await _e2e.Controller.FinalAsync(ids[i], left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
                }
                catch (TimeoutException)
                {
                }
            }
        }
        await Task.Delay(1000);
        var log = _e2e.Agent.Log.Split('\n');
        var noIdLines = log.Where(l => l.Contains("no command id, nothing runs", StringComparison.Ordinal)).ToList();
        var observed = new string[Rows.Count];
        var mismatches = new List<string>();
        for (var i = 0; i < Rows.Count; i++)
        {
            var id = ids[i].ToString();
            var code = Rows[i].Expected.Split(':').Last();
            var seen = await _e2e.Controller.SeenAsync(ids[i]);
            var fresh = seen.Skip(priorReplies[i]).ToList();
            if (fresh.Count > 0)
            {
                var last = fresh[^1];
                observed[i] = $"{last.Status.ToString().ToLowerInvariant()}:{last.Error?.Code ?? "-"}";
            }
            else if (Rows[i].Expected == "duplicate" && log.Any(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("duplicate delivery", StringComparison.Ordinal)))
            {
                observed[i] = "duplicate";
            }
            else if (log.FirstOrDefault(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("rejected", StringComparison.Ordinal)) is { } byId)
            {
                var at = byId.IndexOf("rejected", StringComparison.Ordinal);
                var open = byId.IndexOf('(', at);
                observed[i] = open < 0 ? "logged:?" : $"logged:{byId[(open + 1)..byId.IndexOf(')', open)]}";
            }
            else if (noIdLines.FirstOrDefault(l => l.Contains($"rejected ({code})", StringComparison.Ordinal)) is { } noId)
            {
                noIdLines.Remove(noId); // each such log line accounts for one row
                observed[i] = $"logged:{code}";
            }
            else
            {
                observed[i] = "nothing seen";
            }

            var marker = env.Marker(ids[i]);
            var runs = File.Exists(marker) ? File.ReadAllLines(marker).Length : 0;
            if (runs > priorRuns[i])
            {
                observed[i] += " RAN";
            }
            if (observed[i] != Rows[i].Expected)
            {
                mismatches.Add($"{Rows[i].Name}: expected {Rows[i].Expected}, observed {observed[i]}");
            }
        }

        var width = Rows.Max(r => r.Name.Length);
        var table = new StringBuilder();
        table.AppendLine($"{"row".PadRight(width)}  {"expected",-30}  observed");
        for (var i = 0; i < Rows.Count; i++)
        {
            table.AppendLine($"{Rows[i].Name.PadRight(width)}  {Rows[i].Expected,-30}  {observed[i]}{(observed[i] == Rows[i].Expected ? "" : "   <-- MISMATCH")}");
        }
        table.AppendLine($"final ping: {pingReply.Status}; agent pid {pid} -> {_e2e.Agent.Pid}, starts {_e2e.Agent.Starts}; forbidden listener hits {Volatile.Read(ref _forbiddenHits)}; {started.Elapsed.TotalSeconds:F1} s");
        _output.WriteLine(table.ToString());

        // Whole-run checks: nothing escaped, the agent is the same process and still answers.
        if (pingReply.Status != ReplyStatus.Succeeded)
        {
            mismatches.Add($"final ping: {pingReply.Status}");
        }
        if (!_e2e.Agent.IsRunning || _e2e.Agent.Pid != pid || _e2e.Agent.Starts != 1)
        {
            mismatches.Add($"agent restarted or died: pid {pid} -> {_e2e.Agent.Pid}, starts {_e2e.Agent.Starts}, running {_e2e.Agent.IsRunning}");
        }
        if (Volatile.Read(ref _forbiddenHits) != 0)
        {
            mismatches.Add($"the forbidden http destination was reached {_forbiddenHits} time(s)");
        }
        if (Directory.EnumerateFileSystemEntries(outside).Any())
        {
            mismatches.Add($"files appeared outside the root: {string.Join(", ", Directory.EnumerateFileSystemEntries(outside))}");
        }
        if (await File.ReadAllTextAsync(secret) != "not yours")
        {
            mismatches.Add("secret.txt outside the root was changed");
        }
        var parts = Directory.EnumerateFiles(_e2e.FileRoot, "*.guestagent-part", SearchOption.TopDirectoryOnly).ToList();
        if (parts.Count > 0)
        {
            mismatches.Add($"temp files left in the root: {string.Join(", ", parts)}");
        }
        var queued = (await _e2e.Controller.Zaqar.GetQueueStatsAsync(_e2e.Controller.CommandQueue)).Total;
        if (queued != 0)
        {
            mismatches.Add($"{queued} message(s) left in the command queue");
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatch(es):\n{string.Join("\n", mismatches)}\n\n{table}");
    }
}
