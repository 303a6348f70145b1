using Akka.Configuration;
using GuestAgent.Agent.Blocks;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Transport;
using GuestAgent.Agent.Transports;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;

namespace GuestAgent.Agent.Configuration;

/// <summary>One tenant binding: a transport endpoint, project, credentials and command queue.</summary>
/// <param name="TransportSettings">What the binding's transport read from it (<see cref="Transport.ITransportFactory.ReadSettings"/>): credentials and the like.</param>
/// <param name="AllowedOps">The ops it runs: the core's and those of its blocks, narrowed by <c>allowed-ops</c>.</param>
/// <param name="Policies">Per allowed block (by name), what its <see cref="GuestAgent.Blocks.OperationBlock.ReadPolicy"/> read from the binding.</param>
public sealed record TenantBinding(
    string Name,
    string Endpoint,
    string Project,
    object TransportSettings,
    string CommandQueue,
    string ReplyQueue,
    int MaxOperations,
    IReadOnlySet<string> AllowedOps,
    IReadOnlyDictionary<string, object?> Policies,
    SigningPolicy? Signing = null,
    int? MaxCommandBytes = null,
    string Transport = "zaqar")
{
    /// <summary>
    /// How commands of this binding are authenticated. A binding built without one (tests of other
    /// parts) takes unsigned commands, as before signing existed; configuration always sets it.
    /// </summary>
    public SigningPolicy SigningPolicy => Signing ?? new SigningPolicy([], AllowUnsigned: true, SigningPolicy.DefaultMaxLifetime);

    /// <summary>The policy the binding gave block <paramref name="block"/>, as the block's type; null when it does not allow the block.</summary>
    public T? PolicyOf<T>(string block) where T : class => Policies.GetValueOrDefault(block) as T;
}

/// <summary>
/// A binding's limits on <c>exec</c>: the user commands run as (<see cref="RunAs"/>, null: the
/// agent's own), which other users a command may ask for, and, when <see cref="AllowedPrograms"/>
/// lists any, the only programs it may start (by real path) and the only environment variables it
/// may set.
/// </summary>
public sealed record ExecPolicy(string? RunAs, IReadOnlySet<string> AllowedRunAs, IReadOnlyList<string> AllowedPrograms, IReadOnlySet<string> AllowedEnv)
{
    public static readonly ExecPolicy Unrestricted = new(null, new HashSet<string>(), [], new HashSet<string>());

    public bool RestrictsPrograms => AllowedPrograms.Count > 0;
}

/// <summary>
/// One allowed destination of the <c>http</c> op: a host (DNS name, compared case-insensitively,
/// or IP literal, compared as an address) and a port, matched exactly.
/// </summary>
public sealed record HttpDestination(string Host, int Port)
{
    /// <summary>Parses "host:port", "1.2.3.4:80" or "[::1]:443"; null with <paramref name="error"/> when malformed.</summary>
    public static HttpDestination? TryParse(string entry, out string? error)
    {
        error = null;
        string host, portText;
        if (entry.StartsWith('['))
        {
            var close = entry.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                error = "an IPv6 destination is written [address]:port";
                return null;
            }
            host = entry[1..close];
            portText = entry[(close + 2)..];
            if (!System.Net.IPAddress.TryParse(host, out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                error = $"'{host}' is not an IPv6 address";
                return null;
            }
        }
        else
        {
            var colon = entry.LastIndexOf(':');
            if (colon <= 0 || entry.IndexOf(':') != colon)
            {
                error = "expected host:port (IPv6 as [address]:port)";
                return null;
            }
            host = entry[..colon];
            portText = entry[(colon + 1)..];
            if (Uri.CheckHostName(host) is not (UriHostNameType.Dns or UriHostNameType.IPv4))
            {
                error = $"'{host}' is not a DNS name or IP address";
                return null;
            }
        }
        if (!int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535)
        {
            error = $"'{portText}' is not a port (1 .. 65535)";
            return null;
        }
        return new HttpDestination(Normalize(host), port);
    }

    /// <summary>Whether <paramref name="url"/> (its host and port, default 80/443) is this destination.</summary>
    public bool Matches(Uri url) =>
        url.Port == Port && string.Equals(Normalize(url.IdnHost), Host, StringComparison.OrdinalIgnoreCase);

    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>IP literals in canonical form (no brackets), DNS names lower-case without a trailing dot.</summary>
    private static string Normalize(string host)
    {
        var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        if (System.Net.IPAddress.TryParse(bare, out var ip) && (bare.Contains(':') || Uri.CheckHostName(bare) == UriHostNameType.IPv4))
        {
            return ip.ToString();
        }
        return bare.TrimEnd('.').ToLowerInvariant();
    }
}

public sealed record PollSettings(
    TimeSpan MinInterval, TimeSpan MaxInterval, double Jitter, TimeSpan MaxFaultBackoff,
    int ClaimTtlSeconds, int ClaimGraceSeconds, TimeSpan BusyPeriod = default,
    TimeSpan FullScanInterval = default, int FullScanDepth = 20, TimeSpan TransferInterval = default);

public sealed record JournalSettings(string Provider, string ConnectionString);

/// <summary>The agent's configuration, read from HOCON (hocon/guest-agent.conf documents every key).</summary>
public sealed record AgentSettings(
    string Name,
    string StateDir,
    int MaxOperations,
    TimeSpan DedupWindow,
    int SnapshotEvery,
    int MaxAttempts,
    int ReplyTtlSeconds,
    TimeSpan ShutdownGrace,
    PollSettings Poll,
    int InlineOutputBytes,
    int ChunkBytes,
    JournalSettings Journal,
    string LogLevel,
    bool LogToFile,
    IReadOnlyList<TenantBinding> Tenants,
    int MaxCommandBytes = ProtocolLimits.ZaqarMaxPostBodyBytes,
    TimeSpan? TransferIdleTimeout = null,
    int ZaqarConnections = 64)
{
    /// <summary>The blocks the agent loaded and the core ops: what commands may name.</summary>
    public BlockRegistry Blocks { get; init; } = BlockRegistry.Of([]);

    /// <summary>Where the Prometheus endpoint listens (a loopback address); null: it is off.</summary>
    public System.Net.IPEndPoint? PrometheusListen { get; init; }

    /// <summary>How long an unfinished file.put transfer keeps its chunks without progress.</summary>
    public TimeSpan TransferIdle => TransferIdleTimeout ?? TimeSpan.FromHours(24);

    public const string ReferenceResource = "guest-agent.conf";

    /// <summary>The reference configuration shipped in the binary.</summary>
    public static Config Reference()
    {
        using var s = typeof(AgentSettings).Assembly.GetManifestResourceStream(ReferenceResource)
            ?? throw new InvalidOperationException("reference configuration missing from the build");
        using var r = new StreamReader(s);
        return ConfigurationFactory.ParseString(r.ReadToEnd());
    }

    /// <summary>Reads a config file (or text) merged over the reference; throws <see cref="ConfigException"/> with the key on bad values.</summary>
    public static AgentSettings Load(string? file, string? overrideText = null, GuestPlatform? platform = null)
    {
        var config = Reference();
        if (file is not null)
        {
            if (!File.Exists(file))
            {
                throw new ConfigException($"config file {file} not found");
            }
            config = ConfigurationFactory.ParseString(File.ReadAllText(file)).WithFallback(config);
        }
        if (overrideText is not null)
        {
            config = ConfigurationFactory.ParseString(overrideText).WithFallback(config);
        }
        return FromConfig(config.GetConfig("guest-agent"), platform);
    }

    /// <param name="platform">The guest's platform, for the built-in blocks; this machine's when not given.</param>
    public static AgentSettings FromConfig(Config c, GuestPlatform? platform = null)
    {
        var name = c.GetString("name", "");
        if (string.IsNullOrWhiteSpace(name))
        {
            name = Environment.MachineName;
        }
        var stateDir = Path.GetFullPath(Required(c, "state-dir"));
        var maxOps = Positive(c, "max-operations");
        var poll = c.GetConfig("poll");
        var pollSettings = new PollSettings(
            poll.GetTimeSpan("min-interval"), poll.GetTimeSpan("max-interval"), poll.GetDouble("jitter"),
            poll.GetTimeSpan("max-fault-backoff"),
            Range(poll, "claim-ttl-seconds", 60, 43200, "poll."), Range(poll, "claim-grace-seconds", 60, 43200, "poll."),
            poll.GetTimeSpan("busy-period", TimeSpan.Zero),
            poll.GetTimeSpan("full-scan-interval", TimeSpan.Zero), Range(poll, "full-scan-depth", 1, 1000, "poll."),
            poll.GetTimeSpan("transfer-interval", TimeSpan.Zero));
        if (pollSettings.MinInterval <= TimeSpan.Zero || pollSettings.MaxInterval < pollSettings.MinInterval)
        {
            throw new ConfigException("guest-agent.poll: need 0 < min-interval <= max-interval");
        }
        if (pollSettings.TransferInterval < TimeSpan.Zero || pollSettings.TransferInterval > pollSettings.MinInterval)
        {
            throw new ConfigException($"guest-agent.poll: need 0s <= transfer-interval <= min-interval ({pollSettings.MinInterval.TotalMilliseconds} ms), " +
                                      $"got {pollSettings.TransferInterval.TotalMilliseconds} ms");
        }
        var chunk = c.GetInt("exec.chunk-bytes", 0);
        var maxChunk = ProtocolLimits.MaxChunkDataBytes();
        if (chunk <= 0 || chunk > maxChunk)
        {
            chunk = maxChunk;
        }
        var journal = c.GetConfig("journal");
        var provider = journal.GetString("provider", "sqlite").ToLowerInvariant();
        if (provider is not ("sqlite" or "postgresql"))
        {
            throw new ConfigException($"guest-agent.journal.provider must be sqlite or postgresql, not '{provider}'");
        }
        var cs = journal.GetString("connection-string", "");
        if (string.IsNullOrWhiteSpace(cs))
        {
            if (provider == "postgresql")
            {
                throw new ConfigException("guest-agent.journal.connection-string is required for postgresql");
            }
            cs = $"Data Source={Path.Combine(stateDir, "journal.db")};Pooling=True;Default Timeout=30";
        }

        platform ??= GuestPlatform.OfThisMachine()
            ?? throw new ConfigException($"this agent has no platform for {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
        var blocks = BlockLoader.Load(c.HasPath("blocks") ? c.GetConfig("blocks") : Config.Empty, platform, stateDir, name);
        var tenants = new List<TenantBinding>();
        var tenantsValue = c.HasPath("tenants") ? c.GetValue("tenants") : null;
        if (tenantsValue is not null && !tenantsValue.IsEmpty && tenantsValue.IsObject())
        {
            var tenantsConfig = c.GetConfig("tenants");
            foreach (var key in tenantsValue.GetObject().Items.Keys)
            {
                tenants.Add(Tenant(key, tenantsConfig.GetConfig(key), blocks, maxOps, c.GetTimeSpan("dedup-window"), stateDir,
                    Range(c, "max-command-bytes", 1024, ProtocolLimits.ZaqarMaxPostBodyBytes, "")));
            }
        }
        if (tenants.Count == 0)
        {
            throw new ConfigException("guest-agent.tenants: no tenant binding configured; the agent would have nothing to do");
        }
        if (tenants.GroupBy(t => (t.Endpoint, t.Project, t.CommandQueue)).FirstOrDefault(g => g.Count() > 1) is { } dup)
        {
            throw new ConfigException($"guest-agent.tenants: {string.Join(" and ", dup.Select(t => t.Name))} bind the same queue");
        }

        return new AgentSettings(
            name, stateDir, maxOps, c.GetTimeSpan("dedup-window"), Positive(c, "snapshot-every"),
            Positive(c, "max-attempts"), Range(c, "reply-ttl-seconds", 60, 1_209_600, ""),
            c.GetTimeSpan("shutdown-grace"), pollSettings,
            Range(c, "exec.inline-output-bytes", 1, MaxInlineOutputBytes, ""), chunk,
            new JournalSettings(provider, cs), c.GetString("log.level", "Information"), c.GetBoolean("log.file", true),
            tenants, Range(c, "max-command-bytes", 1024, ProtocolLimits.ZaqarMaxPostBodyBytes, ""),
            PositiveSpan(c, "file-transfer-idle-timeout"), Range(c, "zaqar-connections", 1, 1024, ""))
        {
            Blocks = blocks,
            PrometheusListen = LoopbackEndpoint(c.GetString("metrics.prometheus-listen", ""), "guest-agent.metrics.prometheus-listen"),
        };
    }

    /// <summary>
    /// "127.0.0.1:9464", "[::1]:9464" or "localhost:9464" as an address to listen on; null for "" (off).
    /// Loopback only: the endpoint has no authentication, and its figures cover every tenant.
    /// </summary>
    private static System.Net.IPEndPoint? LoopbackEndpoint(string value, string key)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }
        var hostPort = value.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase) ? "127.0.0.1" + value["localhost".Length..] : value;
        if (!System.Net.IPEndPoint.TryParse(hostPort, out var at) || at.Port is < 1 or > 65535 || !hostPort.Contains(':'))
        {
            throw new ConfigException($"{key}: '{value}' is not ADDRESS:PORT, such as 127.0.0.1:9464");
        }
        if (!System.Net.IPAddress.IsLoopback(at.Address))
        {
            throw new ConfigException($"{key}: {value} is not a loopback address; the metrics endpoint has no authentication and shows " +
                                      "every tenant's figures, so it listens on 127.0.0.1 or [::1] only (scrape it from the guest, " +
                                      "e.g. with a local Prometheus agent or node_exporter's textfile collector)");
        }
        return at;
    }

    /// <summary>
    /// The most exec.inline-output-bytes may be: stdout and stderr inline, as base64 at worst (4/3),
    /// with the reply's envelope and signature, must still fit one Zaqar message, or the final reply
    /// could never be posted.
    /// </summary>
    public const int MaxInlineOutputBytes = 94_208;

    /// <summary>The parser's limits under this configuration.</summary>
    public ProtocolLimits CommandLimits => ProtocolLimits.Default with { MaxCommandBytes = MaxCommandBytes };

    /// <summary>The parser's limits for one binding (its own max-command-bytes, if lower).</summary>
    public ProtocolLimits CommandLimitsFor(TenantBinding binding) =>
        ProtocolLimits.Default with { MaxCommandBytes = Math.Min(MaxCommandBytes, binding.MaxCommandBytes ?? MaxCommandBytes) };

    private static TenantBinding Tenant(string name, Config t, BlockRegistry blocks, int globalMax, TimeSpan dedupWindow, string stateDir, int globalMaxCommandBytes)
    {
        string Key(string k) => $"guest-agent.tenants.{name}.{k}";
        if (!QueueNames.IsValid(name))
        {
            throw new ConfigException($"guest-agent.tenants.{name}: tenant names use letters, digits, '_' and '-'");
        }
        var endpoint = t.GetString("endpoint", "");
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out _))
        {
            throw new ConfigException($"{Key("endpoint")}: an http(s) URL is required");
        }
        var project = t.GetString("project", "");
        if (string.IsNullOrEmpty(project))
        {
            throw new ConfigException($"{Key("project")} is required");
        }
        var queue = t.GetString("command-queue", "");
        var reply = t.GetString("reply-queue", "");
        if (!QueueNames.IsValid(queue) || !QueueNames.IsValid(reply))
        {
            throw new ConfigException($"{Key("command-queue")} and {Key("reply-queue")} must be valid queue names");
        }
        var transportName = t.GetString("transport", "zaqar");
        var transport = TransportRegistry.Find(transportName)
            ?? throw new ConfigException($"{Key("transport")}: unknown transport '{transportName}' (known: {string.Join(", ", TransportRegistry.Names)})");
        var transportSettings = transport.ReadSettings(t, Key, new BindingAddress(name, endpoint, project, queue, reply), stateDir);
        var max = t.GetInt("max-operations", globalMax);
        if (max < 1)
        {
            throw new ConfigException($"{Key("max-operations")} must be at least 1");
        }
        var (ops, policies) = BlockPolicies(t, Key, name, blocks);
        var signing = Signing(t, Key, dedupWindow);
        int? maxCommand = null;
        if (t.HasPath("max-command-bytes"))
        {
            maxCommand = t.GetInt("max-command-bytes");
            if (maxCommand < 1024 || maxCommand > globalMaxCommandBytes)
            {
                throw new ConfigException($"{Key("max-command-bytes")} must be 1024 .. {globalMaxCommandBytes} (guest-agent.max-command-bytes), not {maxCommand}");
            }
        }
        return new TenantBinding(name, endpoint, project, transportSettings, queue, reply, Math.Min(max, globalMax), ops, policies, signing, maxCommand,
            transport.Name);
    }

    /// <summary>
    /// The blocks a binding allows (<c>blocks</c>; the built-in ones the agent loaded by default),
    /// each one's policy read from the binding, and the ops it runs: the core's and its blocks',
    /// narrowed by <c>allowed-ops</c>.
    /// </summary>
    private static (IReadOnlySet<string> Ops, IReadOnlyDictionary<string, object?> Policies) BlockPolicies(Config t, Func<string, string> key,
        string tenant, BlockRegistry registry)
    {
        var names = t.HasPath("blocks")
            ? (t.GetValue("blocks").IsEmpty ? [] : t.GetStringList("blocks").Distinct(StringComparer.Ordinal).ToList())
            : BlockLoader.BuiltInNames.Where(registry.Blocks.ContainsKey).ToList();
        var policies = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (!registry.Blocks.TryGetValue(name, out var block))
            {
                throw new ConfigException($"{key("blocks")}: block '{name}' is not loaded (loaded: {string.Join(", ", registry.Blocks.Keys.Order())}; see guest-agent.blocks.load)");
            }
            try
            {
                policies[name] = block.ReadPolicy(new BindingSettings(tenant, t));
            }
            catch (BlockConfigException e)
            {
                throw new ConfigException($"{key(e.Key)}: {e.Message}");
            }
            catch (Exception e) when (e is not ConfigException and not OutOfMemoryException)
            {
                throw new ConfigException($"{key(name)}: block '{name}' could not read its policy: {e.GetType().Name}: {e.Message}");
            }
        }
        var ops = registry.OpsOf(names);
        if (!t.HasPath("allowed-ops"))
        {
            return (ops, policies);
        }
        var allowed = t.GetStringList("allowed-ops").ToHashSet(StringComparer.Ordinal);
        foreach (var op in allowed.Where(o => !ops.Contains(o)))
        {
            throw new ConfigException(registry.BlockOf(op) is { } owner
                ? $"{key("allowed-ops")}: op '{op}' belongs to block '{owner.Name}', which {key("blocks")} does not name"
                : $"{key("allowed-ops")}: unknown op '{op}'");
        }
        return (allowed, policies);
    }

    /// <summary>
    /// The binding's <c>signing</c> block. Unsigned commands are refused unless the binding says
    /// <c>allow-unsigned = true</c>, and a binding without keys must say so: there is no silent
    /// default that lets anyone with access to the queue run commands.
    /// </summary>
    private static SigningPolicy Signing(Config t, Func<string, string> key, TimeSpan dedupWindow)
    {
        var keys = new List<SigningKey>();
        var keysValue = t.HasPath("signing.keys") ? t.GetValue("signing.keys") : null;
        // Akka's HOCON does not count an empty list as an array: "keys = []" is simply no keys.
        if (keysValue is not null && !keysValue.IsEmpty && (keysValue.IsArray() || keysValue.IsString() || keysValue.IsObject()))
        {
            if (!keysValue.IsArray())
            {
                throw new ConfigException($"{key("signing.keys")} must be a list of {{ id = \"...\", secret = \"<base64>\" }} or {{ id = \"...\", secret-file = \"/path\" }}");
            }
            var i = 0;
            foreach (var item in keysValue.GetArray())
            {
                var at = key($"signing.keys[{i++}]");
                if (!item.IsObject())
                {
                    throw new ConfigException($"{at} must be an object {{ id = \"...\", secret = \"<base64>\" }}");
                }
                var fields = item.GetObject().Items;
                string? Field(string f) => fields.TryGetValue(f, out var v) && !v.IsEmpty ? v.GetString() : null;
                var id = Field("id");
                if (string.IsNullOrEmpty(id) || id.Length > 64 || id.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
                {
                    throw new ConfigException($"{at}.id is required: 1-64 characters without spaces");
                }
                var secret = Field("secret");
                var file = Field("secret-file");
                if ((secret is null) == (file is null))
                {
                    throw new ConfigException($"{at} (key '{id}'): give exactly one of secret (base64) and secret-file");
                }
                if (file is not null)
                {
                    try
                    {
                        secret = File.ReadAllText(file);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        throw new ConfigException($"{at}.secret-file (key '{id}'): cannot read {file}: {e.Message}");
                    }
                }
                byte[] bytes;
                try
                {
                    bytes = Convert.FromBase64String(secret!.Trim());
                }
                catch (FormatException)
                {
                    throw new ConfigException($"{at} (key '{id}'): the secret is not base64");
                }
                if (bytes.Length < SigningKey.MinSecretBytes)
                {
                    throw new ConfigException(
                        $"{at} (key '{id}'): the secret has {bytes.Length} bytes; at least {SigningKey.MinSecretBytes} are required (e.g. head -c 32 /dev/urandom | base64)");
                }
                if (keys.Any(k => k.Id == id))
                {
                    throw new ConfigException($"{at}: key id '{id}' is given twice");
                }
                keys.Add(new SigningKey(id, bytes));
            }
        }
        var allowUnsigned = t.GetBoolean("signing.allow-unsigned", false);
        if (keys.Count == 0 && !allowUnsigned)
        {
            throw new ConfigException(
                $"{key("signing")}: no signing.keys are configured, so every command would be refused as unsigned; " +
                "add keys, or set signing.allow-unsigned = true to accept unsigned commands from anyone who can post to the queue");
        }
        var lifetime = t.GetTimeSpan("signing.max-command-lifetime", SigningPolicy.DefaultMaxLifetime);
        var skew = ProtocolLimits.Default.ClockSkew;
        if (lifetime <= TimeSpan.Zero)
        {
            throw new ConfigException($"{key("signing.max-command-lifetime")} must be a positive duration");
        }
        if (lifetime + skew + skew >= dedupWindow)
        {
            // A signed command stays acceptable until expires_at + skew, and issued_at may be skew in
            // the future: the id must be remembered at least that long, or a captured command replays.
            throw new ConfigException(
                $"{key("signing.max-command-lifetime")} ({lifetime}) plus twice the clock skew ({skew.TotalSeconds:0} s) must be shorter than guest-agent.dedup-window ({dedupWindow})");
        }
        return new SigningPolicy(keys, allowUnsigned, lifetime);
    }

    private static string Required(Config c, string key)
    {
        var v = c.GetString(key, "");
        return string.IsNullOrWhiteSpace(v) ? throw new ConfigException($"guest-agent.{key} is required") : v;
    }

    private static int Positive(Config c, string key)
    {
        var v = c.GetInt(key, 0);
        return v >= 1 ? v : throw new ConfigException($"guest-agent.{key} must be at least 1");
    }

    private static TimeSpan PositiveSpan(Config c, string key)
    {
        var v = c.GetTimeSpan(key, TimeSpan.Zero);
        return v > TimeSpan.Zero ? v : throw new ConfigException($"guest-agent.{key} must be a positive duration");
    }

    private static int Range(Config c, string key, int min, int max, string prefix)
    {
        var v = c.GetInt(key, 0);
        return v >= min && v <= max ? v : throw new ConfigException($"guest-agent.{prefix}{key} must be {min} .. {max}, not {v}");
    }
}

/// <summary>A configuration value the agent cannot run with; the message names the key.</summary>
public sealed class ConfigException(string message) : Exception(message);
