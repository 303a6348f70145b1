using System.CommandLine;
using System.Net.Sockets;
using System.Security.Authentication;
using GuestAgent.Client.Transports.Zaqar;
using GuestAgent.Zaqar;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// The options every Zaqar-speaking verb takes (--endpoint, --project, --token) and the client
/// built from them. guestctl keeps its state in ~/.config/guestctl/: the Zaqar Client-ID
/// (client-id) and the default reply queue name (reply-queue).
/// </summary>
internal sealed class ZaqarConnection
{
    /// <summary>Where guestctl looks for Zaqar when neither --endpoint nor ZAQAR_URL says.</summary>
    public const string DefaultEndpoint = "http://127.0.0.1:8888";

    public ZaqarConnection(bool recursive)
    {
        Endpoint = new("--endpoint")
        {
            Description = $"Zaqar base URL, e.g. http://127.0.0.1:8888 (env ZAQAR_URL; neither set: {DefaultEndpoint})",
            HelpName = "url",
            DefaultValueFactory = _ => EnvironmentEndpoint() ?? DefaultEndpoint,
            Recursive = recursive,
        };
        Project = new("--project")
        {
            Description = "Project id sent as X-Project-Id (env ZAQAR_PROJECT)",
            HelpName = "id",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ZAQAR_PROJECT") ?? "guestagent",
            Recursive = recursive,
        };
        Token = new("--token")
        {
            Description = "Keystone token (env OS_AUTH_TOKEN); without it no auth is sent",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OS_AUTH_TOKEN"),
            Recursive = recursive,
        };
        // A token is a secret: help must not print the one in the environment as a default.
        Token.HideDefault();
        WebSocket = new("--websocket")
        {
            Description = "Zaqar's WebSocket URL, e.g. ws://127.0.0.1:9000 (env ZAQAR_WS_URL): replies are read as soon as " +
                          "Zaqar pushes word of them instead of by polling, which goes on whenever the socket is down. With a " +
                          "keystone token give --project too: the socket's requests name their project themselves",
            HelpName = "url",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ZAQAR_WS_URL") is { Length: > 0 } url ? url : null,
            Recursive = recursive,
        };
    }

    private static string? EnvironmentEndpoint() =>
        Environment.GetEnvironmentVariable("ZAQAR_URL") is { Length: > 0 } url ? url : null;

    /// <summary>Whether the endpoint is guestctl's default because neither --endpoint nor ZAQAR_URL gave one.</summary>
    private bool IsDefault(ParseResult r) => r.GetResult(Endpoint) is null or { Implicit: true } && EnvironmentEndpoint() is null;

    /// <summary>Which option or variable the endpoint came from, for messages that ask to change it.</summary>
    private string Source(ParseResult r) =>
        IsDefault(r) ? $"ZAQAR_URL is not set and --endpoint was not given, so guestctl tried its default, {DefaultEndpoint}: " +
                       "set ZAQAR_URL to Zaqar's URL (tools/run.sh --keep prints it) or pass --endpoint"
        : r.GetResult(Endpoint) is { Implicit: false } ? "check --endpoint"
        : "check ZAQAR_URL (or pass --endpoint)";

    /// <summary>
    /// A Zaqar failure in words that say what is wrong and what to change: for a connection that
    /// failed, why (refused, not TLS, not HTTP) and where the URL came from; Zaqar's own errors as they are.
    /// </summary>
    public string Explain(ZaqarException e, ParseResult r)
    {
        if (e.StatusCode is not null)
        {
            return e.Message;
        }
        var endpoint = r.GetValue(Endpoint);
        var chain = new List<Exception>();
        for (Exception? x = e.InnerException; x is not null; x = x.InnerException)
        {
            chain.Add(x);
        }
        var innermost = chain.Count > 0 ? chain[^1].Message.TrimEnd('.') : e.Description;
        if (chain.Any(x => x is AuthenticationException) || innermost.Contains("SSL", StringComparison.Ordinal))
        {
            return $"cannot reach Zaqar at {endpoint}: the TLS handshake failed ({innermost}). A Zaqar that serves plain HTTP " +
                   $"needs an http:// URL; {Source(r)}.";
        }
        if (chain.OfType<SocketException>().FirstOrDefault() is { } socket)
        {
            var why = socket.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "nothing accepts connections there (connection refused)",
                SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "the host name does not resolve",
                _ => innermost,
            };
            return $"cannot reach Zaqar at {endpoint}: {why}. {Capital(Source(r))}.";
        }
        if (e.Title == "Timed out")
        {
            return $"Zaqar at {endpoint} did not answer in time ({innermost}); is it running? {Capital(Source(r))}.";
        }
        if (chain.Any(x => x is HttpIOException or HttpRequestException))
        {
            return $"something answers at {endpoint}, but not as an HTTP server ({innermost}): is that Zaqar's port? " +
                   $"(Redis's port, for one, speaks another protocol.) {Capital(Source(r))}.";
        }
        return $"cannot reach Zaqar at {endpoint}: {innermost}. {Capital(Source(r))}.";
    }

    private static string Capital(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    public Option<string> Endpoint { get; }
    public Option<string> Project { get; }
    public Option<string?> Token { get; }

    /// <summary>Only on the verbs that wait for replies (see <see cref="AddWebSocketTo"/>).</summary>
    public Option<string?> WebSocket { get; }

    public static string ConfigDir { get; } = FindConfigDir();

    private static string FindConfigDir()
    {
        // DoNotVerify: a HOME that does not exist yet must not turn into "" (a path relative to the cwd).
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile, Environment.SpecialFolderOption.DoNotVerify);
        if (string.IsNullOrEmpty(home))
        {
            home = Path.GetTempPath();
        }
        return Path.Combine(home, ".config", "guestctl");
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Endpoint);
        command.Options.Add(Project);
        command.Options.Add(Token);
    }

    /// <summary>--websocket, for the verbs that wait for replies.</summary>
    public void AddWebSocketTo(Command command) => command.Options.Add(WebSocket);

    /// <summary>
    /// The controller transport: <see cref="Client"/>, and push over --websocket (ZAQAR_WS_URL) when
    /// given. Push failing is only a warning, once: replies then come by polling.
    /// </summary>
    public ZaqarTransport Transport(ParseResult r)
    {
        var zaqar = Client(r);
        if (r.GetValue(WebSocket) is not { Length: > 0 } ws)
        {
            return new ZaqarTransport(zaqar);
        }
        if (!Uri.TryCreate(ws, UriKind.Absolute, out var url) || url.Scheme is not ("ws" or "wss") || url.Host.Length == 0)
        {
            var from = r.GetResult(WebSocket) is { Implicit: false } ? "--websocket" : "ZAQAR_WS_URL";
            throw new ArgumentException($"{from} must be Zaqar's WebSocket URL, scheme included, like ws://127.0.0.1:9000; got '{ws}'");
        }
        var warned = 0;
        return new ZaqarTransport(zaqar, new ZaqarTransportOptions
        {
            WebSocketUrl = url,
            OnPushError = e =>
            {
                if (Interlocked.Exchange(ref warned, 1) == 0)
                {
                    Console.Error.WriteLine($"guestctl: warning: no push over {url} ({e.Message}); waiting for replies by polling");
                }
            },
        });
    }

    public ZaqarClient Client(ParseResult r)
    {
        var token = r.GetValue(Token);
        var project = r.GetValue(Project)!;
        ZaqarAuth auth = string.IsNullOrEmpty(token) ? new ZaqarAuth.None(project) : ZaqarAuth.Keystone.WithToken(token, project);
        var endpoint = r.GetValue(Endpoint)!;
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
        {
            var from = r.GetResult(Endpoint) is { Implicit: false } ? "--endpoint" : "ZAQAR_URL";
            var missing = endpoint.Contains("://", StringComparison.Ordinal) ? "" : $" (no http:// in front: try http://{endpoint})";
            throw new ArgumentException($"{from} must be Zaqar's URL, scheme included, like http://127.0.0.1:8888; got '{endpoint}'{missing}");
        }
        return new ZaqarClient(new ZaqarClientOptions
        {
            Endpoint = endpoint,
            ClientId = ClientIdentity.LoadOrCreate(Path.Combine(ConfigDir, "client-id")),
            Auth = auth,
        });
    }

    /// <summary>
    /// "replies-" and 12 hex digits, made once per user and machine and kept in
    /// ~/.config/guestctl/reply-queue next to the client id.
    /// </summary>
    public static string DefaultReplyQueue()
    {
        var path = Path.Combine(ConfigDir, "reply-queue");
        if (File.Exists(path))
        {
            var existing = File.ReadAllText(path).Trim();
            if (GuestAgent.Protocol.QueueNames.IsValid(existing))
            {
                return existing;
            }
        }
        var name = "replies-" + Guid.NewGuid().ToString("N")[..12];
        Directory.CreateDirectory(ConfigDir);
        var tmp = path + "." + Environment.ProcessId + ".tmp";
        File.WriteAllText(tmp, name + "\n");
        try
        {
            // Another guestctl may have made one meanwhile: keep the first.
            File.Move(tmp, path, overwrite: false);
            return name;
        }
        catch (IOException)
        {
            File.Delete(tmp);
            return File.ReadAllText(path).Trim();
        }
    }
}
