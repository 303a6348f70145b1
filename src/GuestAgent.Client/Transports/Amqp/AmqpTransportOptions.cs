using System.Net.Security;
using GuestAgent.Protocol;
using RabbitMQ.Client;

namespace GuestAgent.Client.Transports.Amqp;

/// <summary>
/// Where an <see cref="AmqpTransport"/> connects and how it names the broker's queues. The
/// controller connects as the tenant's controller user (with tools/rabbitmq, the administrator of
/// the tenant's vhost), never as a guest: a guest's user may only consume its own commands and
/// publish its own replies.
/// </summary>
public sealed record AmqpTransportOptions
{
    /// <summary>Variable of <see cref="FromEnvironment"/>: the broker's URL, amqp[s]://[user[:password]@]host[:port][/vhost].</summary>
    public const string UrlVariable = "GUESTAGENT_AMQP_URL";

    /// <summary>Variable of <see cref="FromEnvironment"/>: the controller's user (over the URL's).</summary>
    public const string UserVariable = "GUESTAGENT_AMQP_USER";

    /// <summary>Variable of <see cref="FromEnvironment"/>: the controller's password (over the URL's).</summary>
    public const string PasswordVariable = "GUESTAGENT_AMQP_PASSWORD";

    /// <summary>Variable of <see cref="FromEnvironment"/>: the tenant's vhost (over the URL's path).</summary>
    public const string VirtualHostVariable = "GUESTAGENT_AMQP_VHOST";

    /// <summary>Variable of <see cref="FromEnvironment"/>: <see cref="NamePrefix"/>.</summary>
    public const string PrefixVariable = "GUESTAGENT_AMQP_PREFIX";

    /// <summary>Variable of <see cref="FromEnvironment"/>: <see cref="CaFile"/>.</summary>
    public const string CaFileVariable = "GUESTAGENT_AMQP_CA_FILE";

    /// <summary>
    /// The broker: amqp://host[:port][/vhost] or amqps:// (TLS, the server's certificate checked).
    /// A path names the vhost, URL-escaped (amqp://h/t1 is vhost "t1", %2F is "/"); none means
    /// <see cref="VirtualHost"/> or "/". User and password in the URL are taken unless
    /// <see cref="User"/> / <see cref="Password"/> are set.
    /// </summary>
    public required Uri Endpoint { get; init; }

    /// <summary>
    /// With amqps: a PEM file with the CA that signed the broker's certificate (a cloud's own CA).
    /// The certificate must then chain to that CA alone; without it, to one this machine trusts.
    /// Either way it must name the endpoint's host. Not allowed with amqp://.
    /// </summary>
    public string? CaFile { get; init; }

    /// <summary>The tenant's vhost; overrides the URL's path.</summary>
    public string? VirtualHost { get; init; }

    /// <summary>The controller's broker user; overrides the URL's.</summary>
    public string? User { get; init; }

    /// <summary>Its password; overrides the URL's.</summary>
    public string? Password { get; init; }

    /// <summary>
    /// Put in front of a channel (the protocol's queue name, e.g. a binding's <c>reply-queue</c>) to
    /// get the broker's name: with tools/rabbitmq/provision.sh's guest vm1, "ga.vm1." makes
    /// "commands" ga.vm1.commands and "replies" ga.vm1.replies. The protocol's names allow no dots,
    /// the broker's do; <see cref="Names"/> overrides it for single channels.
    /// </summary>
    public string NamePrefix { get; init; } = "";

    /// <summary>The broker's name of single channels, over <see cref="NamePrefix"/> (channel → broker name).</summary>
    public IReadOnlyDictionary<string, string>? Names { get; init; }

    /// <summary>
    /// Where commands are published: null (the default) publishes to the exchange named like the
    /// command queue, with that name as routing key, as provision.sh binds it; "" publishes
    /// through the default exchange, straight to the queue (the user then needs write on amq.default).
    /// </summary>
    public string? CommandExchange { get; init; }

    /// <summary>How long a command's publish waits for the broker's confirm (a broker alarm holds it) before it fails as transient.</summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Heartbeats: a half-dead connection is noticed within about two of them.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long connecting may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Most replies the broker hands the reply consumer ahead of their acknowledgement (a file's chunks come many at once).</summary>
    public ushort Prefetch { get; init; } = 64;

    /// <summary>
    /// How long a reply the client gives up (one for another controller sharing the reply queue) is
    /// held before it goes back to the queue: given back at once, the broker could hand it straight
    /// back to this consumer, round and round.
    /// </summary>
    public TimeSpan ReleaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the reply queue is read anyway while its consumer is up (a safety net: deliveries are announced as they come).</summary>
    public TimeSpan SafetyPollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The connections' name in the broker's listings.</summary>
    public string ClientName { get; init; } = "guestagent-controller";

    /// <summary>
    /// Options from the environment: <see cref="UrlVariable"/> (required), <see cref="UserVariable"/>,
    /// <see cref="PasswordVariable"/>, <see cref="VirtualHostVariable"/>, <see cref="PrefixVariable"/>, <see cref="CaFileVariable"/>.
    /// </summary>
    /// <exception cref="ArgumentException">GUESTAGENT_AMQP_URL is missing or no amqp:// URL.</exception>
    public static AmqpTransportOptions FromEnvironment()
    {
        static string? Get(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        var url = Get(UrlVariable) ?? throw new ArgumentException($"{UrlVariable} is not set: give the broker's URL, e.g. amqp://127.0.0.1:5672/tenant");
        return new AmqpTransportOptions
        {
            Endpoint = ParseEndpoint(url, UrlVariable),
            User = Get(UserVariable),
            Password = Get(PasswordVariable),
            VirtualHost = Get(VirtualHostVariable),
            NamePrefix = Get(PrefixVariable) ?? "",
            CaFile = Get(CaFileVariable),
        };
    }

    /// <summary>An amqp:// or amqps:// URL with a host; <paramref name="source"/> names where it came from in the error.</summary>
    /// <exception cref="ArgumentException">Anything else.</exception>
    public static Uri ParseEndpoint(string url, string source)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps") || uri.Host.Length == 0)
        {
            var hint = url.Contains("://", StringComparison.Ordinal) ? "" : $" (no amqp:// in front: try amqp://{url})";
            throw new ArgumentException($"{source} must be the broker's URL, like amqp://127.0.0.1:5672/tenant or amqps://host/tenant; " +
                                        $"got '{Redact(url)}'{hint}");
        }
        return uri;
    }

    /// <summary>The broker's name of <paramref name="channel"/>.</summary>
    public string BrokerName(string channel) =>
        Names is not null && Names.TryGetValue(channel, out var name) ? name : NamePrefix + channel;

    internal string ResolvedVirtualHost
    {
        get
        {
            if (VirtualHost is { Length: > 0 } v)
            {
                return v;
            }
            var path = Endpoint.AbsolutePath;
            return path is "" or "/" ? "/" : Uri.UnescapeDataString(path[1..]);
        }
    }

    internal (string User, string Password) Credentials
    {
        get
        {
            var info = Endpoint.UserInfo;
            var colon = info.IndexOf(':', StringComparison.Ordinal);
            var urlUser = Uri.UnescapeDataString(colon < 0 ? info : info[..colon]);
            var urlPassword = colon < 0 ? "" : Uri.UnescapeDataString(info[(colon + 1)..]);
            return (User ?? urlUser, Password ?? urlPassword);
        }
    }

    /// <summary>What to say in messages: the broker and vhost, never the password.</summary>
    internal string Describe() => $"{Endpoint.Scheme}://{Endpoint.Host}:{Port} vhost '{ResolvedVirtualHost}' as '{Credentials.User}'";

    internal bool Tls => Endpoint.Scheme == "amqps";

    private int Port => Endpoint.IsDefaultPort || Endpoint.Port < 0 ? (Tls ? 5671 : 5672) : Endpoint.Port;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Endpoint);
        ParseEndpoint(Endpoint.OriginalString, nameof(Endpoint));
        if (Credentials.User.Length == 0)
        {
            throw new ArgumentException($"No AMQP user: put it in the URL (amqp://user@host/vhost) or set {nameof(User)} ({UserVariable}).");
        }
        if (PublishTimeout <= TimeSpan.Zero || ConnectTimeout <= TimeSpan.Zero || ReleaseDelay < TimeSpan.Zero || SafetyPollInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(PublishTimeout), "Timeouts and intervals must be positive.");
        }
        if (Heartbeat.TotalSeconds is < 1 or > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(Heartbeat), Heartbeat, $"Heartbeat must be 1 s .. {ushort.MaxValue} s.");
        }
        if (CaFile is not null && !Tls)
        {
            // A CA file with a plain endpoint would leave the caller believing the link is checked.
            throw new ArgumentException($"{nameof(CaFile)} ({CaFileVariable}) is for an amqps:// endpoint; {Endpoint.Scheme}:// has no TLS.");
        }
        if (Prefetch == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Prefetch), Prefetch, "Prefetch must be at least 1.");
        }
        if (CommandExchange is { Length: > 0 } exchange && !AmqpTransport.IsBrokerName(exchange))
        {
            throw new ArgumentException($"CommandExchange '{exchange}' is no AMQP name (1..255 of letters, digits, '-', '_', '.', ':').");
        }
    }

    /// <param name="certificates">With amqps: the broker certificate's check (host name, and chain to <see cref="CaFile"/> or the system's CAs).</param>
    internal ConnectionFactory Factory(string purpose, BrokerCertificateCheck? certificates) => new()
    {
        HostName = Endpoint.Host,
        Port = Port,
        VirtualHost = ResolvedVirtualHost,
        UserName = Credentials.User,
        Password = Credentials.Password,
        Ssl = new SslOption
        {
            Enabled = Tls,
            ServerName = Endpoint.Host,
            AcceptablePolicyErrors = SslPolicyErrors.None,
            CertificateValidationCallback = certificates is null ? null : certificates.Validate,
        },
        RequestedHeartbeat = Heartbeat,
        // The transport reconnects itself: recovery would hide the closes it must see and re-consume behind its back.
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        RequestedConnectionTimeout = ConnectTimeout,
        ContinuationTimeout = ConnectTimeout,
        ClientProvidedName = $"{ClientName} {purpose}",
    };

    private static string Redact(string url)
    {
        // A password in a URL that failed to parse must not reach a log.
        var at = url.IndexOf('@', StringComparison.Ordinal);
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        return at > 0 && scheme >= 0 && scheme < at ? url[..(scheme + 3)] + "***@" + url[(at + 1)..] : url;
    }
}
