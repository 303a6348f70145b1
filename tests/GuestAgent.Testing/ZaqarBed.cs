using System.Diagnostics;
using GuestAgent.Zaqar;

namespace GuestAgent.Testing;

/// <summary>
/// A real Zaqar (Debian's zaqar-server on Redis) on 127.0.0.1, started by tools/zaqar/start.sh.
/// <see cref="Shared"/> is one bed per test run: the bed tools/test.sh started (its env file is
/// named by GUESTAGENT_ZAQAR_ENV), or else one this process starts and stops at exit. Tests keep
/// apart by using their own project ids and queue names (<see cref="NewProject"/>).
/// </summary>
public sealed class ZaqarBed : IDisposable
{
    public const string EnvVariable = "GUESTAGENT_ZAQAR_ENV";
    private static readonly Lazy<ZaqarBed> SharedBed = new(StartShared, LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly bool _owned;

    private ZaqarBed(IReadOnlyDictionary<string, string> env, bool owned)
    {
        Url = env["ZAQAR_URL"];
        Secret = env["ZAQAR_SECRET"];
        RunDir = env["ZAQAR_RUN_DIR"];
        RedisPort = int.Parse(env["REDIS_PORT"]);
        WebSocketUrl = env.GetValueOrDefault("ZAQAR_WS_URL");
        NotificationPort = env.TryGetValue("ZAQAR_NOTIFICATION_PORT", out var port) ? int.Parse(port) : null;
        _owned = owned;
    }

    public static ZaqarBed Shared => SharedBed.Value;

    public string Url { get; }

    /// <summary>The bed's [signed_url] secret_key, to mint pre-signed URLs offline.</summary>
    public string Secret { get; }
    public string RunDir { get; }
    public int RedisPort { get; }

    /// <summary>Zaqar's WebSocket server (ws://127.0.0.1:N), when the bed was started with --websocket.</summary>
    public string? WebSocketUrl { get; }

    /// <summary>The WebSocket server's unauthenticated notification listener on 127.0.0.1, with --websocket.</summary>
    public int? NotificationPort { get; }

    /// <summary>
    /// Starts a bed of its own (for tests that stop and restart Zaqar or Redis); with
    /// <paramref name="webSocket"/> it also runs Zaqar's WebSocket server (start.sh --websocket).
    /// </summary>
    public static ZaqarBed StartPrivate(bool webSocket = false) =>
        new(RunStart(Path.Combine(Path.GetTempPath(), "guestagent-bed-" + Guid.NewGuid().ToString("N")[..12]), webSocket), owned: true);

    public static string NewProject(string prefix = "p") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 33)];

    public static string NewQueue(string prefix = "q") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(60, prefix.Length + 33)];

    /// <summary>A client on this bed for <paramref name="project"/> (no auth: the project is a header).</summary>
    public ZaqarClient Client(string project, Guid? clientId = null, int maxAttempts = 4) => new(new ZaqarClientOptions
    {
        Endpoint = Url,
        ClientId = clientId ?? Guid.NewGuid(),
        Auth = new ZaqarAuth.None(project),
        MaxAttempts = maxAttempts,
        RequestTimeout = TimeSpan.FromSeconds(20),
    });

    public ZaqarClient Client(ZaqarAuth auth, Guid? clientId = null) => new(new ZaqarClientOptions
    {
        Endpoint = Url,
        ClientId = clientId ?? Guid.NewGuid(),
        Auth = auth,
        RequestTimeout = TimeSpan.FromSeconds(20),
    });

    /// <summary>
    /// Posts message bodies given as raw JSON text, exactly as written, past any client-side check:
    /// Zaqar's own reader takes what a strict one refuses (NaN, Infinity, deep nesting). Returns the new ids.
    /// </summary>
    public async Task<IReadOnlyList<string>> PostRawBodiesAsync(string project, string queue, params string[] bodies)
    {
        using var http = new HttpClient();
        var text = "{\"messages\":[" + string.Join(",", bodies.Select(b => "{\"ttl\":600,\"body\":" + b + "}")) + "]}";
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{Url.TrimEnd('/')}/v2/queues/{queue}/messages")
        {
            Content = new StringContent(text, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Client-ID", Guid.NewGuid().ToString());
        request.Headers.Add("X-Project-Id", project);
        using var response = await http.SendAsync(request);
        var answer = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Zaqar refused the raw post ({(int)response.StatusCode}): {answer}");
        }
        using var doc = System.Text.Json.JsonDocument.Parse(answer);
        return doc.RootElement.GetProperty("resources").EnumerateArray().Select(r => r.GetString()!.Split('/')[^1]).ToList();
    }

    /// <summary>A JSON object nested <paramref name="depth"/> levels deep (the top level counts), with <paramref name="inner"/> innermost.</summary>
    public static string Nested(int depth, string inner = "1") =>
        string.Concat(Enumerable.Repeat("{\"a\":", depth - 1)) + "{\"a\":" + inner + "}" + new string('}', depth - 1);

    /// <summary>Stops parts of the bed: "zaqar", "ws" (the WebSocket server), "redis", "gc".</summary>
    public void Stop(params string[] parts) => Run(RepoPaths.Tool("zaqar", "stop.sh"), [RunDir, .. parts]);

    /// <summary>Starts Redis again on its port after <see cref="Stop"/> (data is gone: the bed keeps none).</summary>
    public void RestartRedis()
    {
        Run("/bin/bash", ["-c",
            $"setsid redis-server --bind 127.0.0.1 --port {RedisPort} --daemonize no --save '' --appendonly no " +
            $"--dir '{RunDir}/redis-data' --logfile '{RunDir}/redis.log' </dev/null >/dev/null 2>&1 & echo $! > '{RunDir}/redis.pid'; " +
            $"for i in $(seq 1 100); do redis-cli -p {RedisPort} ping 2>/dev/null | grep -q PONG && exit 0; sleep 0.1; done; exit 1"]);
    }

    /// <summary>Starts zaqar-server again after <see cref="Stop"/>("zaqar"), on the same port and Redis.</summary>
    public void RestartZaqar()
    {
        var port = new Uri(Url).Port;
        Run("/bin/bash", ["-c",
            $"setsid /usr/bin/python3 /usr/bin/zaqar-server --config-file '{RunDir}/zaqar.conf' </dev/null >>'{RunDir}/zaqar.log' 2>&1 & echo $! > '{RunDir}/zaqar.pid'; " +
            $"for i in $(seq 1 100); do c=$(curl -s -o /dev/null -w '%{{http_code}}' -H 'Client-ID: 3a1e2f60-0d3c-4b8e-9d7a-1f2e3d4c5b6a' -H 'X-Project-Id: probe' http://127.0.0.1:{port}/v2/ping); [ \"$c\" = 204 ] && exit 0; sleep 0.1; done; exit 1"]);
    }

    /// <summary>Starts the WebSocket server again after <see cref="Stop"/>("ws"), on the same ports.</summary>
    public void RestartWebSocketServer() => Run(RepoPaths.Tool("zaqar", "restart.sh"), [RunDir, "ws"]);

    public void Dispose()
    {
        if (_owned)
        {
            Stop();
        }
    }

    private static ZaqarBed StartShared()
    {
        var envFile = Environment.GetEnvironmentVariable(EnvVariable);
        if (!string.IsNullOrEmpty(envFile) && File.Exists(envFile))
        {
            return new ZaqarBed(ReadEnv(File.ReadAllText(envFile)), owned: false);
        }
        var bed = new ZaqarBed(RunStart(Path.Combine(Path.GetTempPath(), "guestagent-bed-" + Environment.ProcessId)), owned: true);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => bed.Dispose();
        return bed;
    }

    private static Dictionary<string, string> RunStart(string dir, bool webSocket = false) =>
        ReadEnv(Run(RepoPaths.Tool("zaqar", "start.sh"), webSocket ? ["--dir", dir, "--websocket"] : ["--dir", dir]));

    private static Dictionary<string, string> ReadEnv(string text) => BedScripts.ReadEnv(text);

    private static string Run(string file, string[] args) => BedScripts.Run(file, args);
}
