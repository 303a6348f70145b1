using Akka.Configuration;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Transport;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Transports.Amqp;

/// <summary>
/// One binding on an AMQP 0-9-1 broker (RabbitMQ): where to connect, as whom, the queue its commands
/// are consumed from and the exchange its replies are published to.
/// </summary>
/// <param name="Host">From the binding's <c>endpoint</c> (amqp://host:port or amqps://).</param>
/// <param name="VirtualHost">The tenant's vhost (<c>amqp.vhost</c>, default the binding's <c>project</c>).</param>
/// <param name="CommandQueue">The broker's name of the queue commands are consumed from.</param>
/// <param name="QueryQueue">
/// A second queue, for <c>status</c>, <c>cancel</c> and <c>ping</c> only (<c>amqp.query-queue</c>, optional):
/// consumed whatever the free slots, so that a command holding every slot can still be asked about and cancelled.
/// </param>
/// <param name="ReplyExchange">Replies are published here, with <paramref name="ReplyRoutingKey"/>: the guest may not use the default exchange.</param>
public sealed record AmqpSettings(
    string Host,
    int Port,
    bool Tls,
    string VirtualHost,
    string User,
    string Password,
    string CommandQueue,
    string ReplyExchange,
    string ReplyRoutingKey,
    string? QueryQueue = null)
{
    /// <summary>Heartbeats: a half-dead connection is noticed within about two of them.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait between attempts to reconnect the consumer (doubling from 1 s, with jitter).</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a post waits for the broker's confirms before the outbox tries again.</summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most deliveries in hand at once, whatever the free slots (AMQP's prefetch is 16 bits).</summary>
    public int MaxPrefetch { get; init; } = 100;

    /// <summary>Most query-queue deliveries in hand at once (queries need no slot; each is answered at once).</summary>
    public int QueryPrefetch { get; init; } = 8;

    /// <summary>With amqps: checks the broker's certificate (against <c>amqp.ca-file</c>, or the system's CAs); null with amqp.</summary>
    public BrokerCertificateCheck? Certificates { get; init; }

    public override string ToString() =>
        $"{(Tls ? "amqps" : "amqp")}://{Host}:{Port} vhost {VirtualHost} as {User}, queue {CommandQueue}{(QueryQueue is { } q ? $", queries {q}" : "")}, replies to {ReplyExchange}" +
        (Certificates?.CaFile is { } ca ? $", broker certificate checked against {ca}" : "");
}

/// <summary>Reads an AMQP binding's <c>amqp</c> block (hocon/guest-agent.conf documents it).</summary>
public static class AmqpBindingSettings
{
    /// <summary>The binding's <see cref="AmqpSettings"/>; a <see cref="ConfigException"/> names a bad key.</summary>
    public static AmqpSettings Read(Config t, Func<string, string> key, BindingAddress address)
    {
        if (!Uri.TryCreate(address.Endpoint, UriKind.Absolute, out var url) || url.Scheme is not ("amqp" or "amqps") || url.Host == "")
        {
            throw new ConfigException($"{key("endpoint")} must be the broker's URL, amqp://host:port or amqps://host:port; got '{address.Endpoint}'");
        }
        if (url.UserInfo != "" || url.AbsolutePath is not ("" or "/"))
        {
            // Credentials go in amqp.user / amqp.password(-file), the vhost in amqp.vhost: one place each.
            throw new ConfigException($"{key("endpoint")} must hold only scheme, host and port; put the user in amqp.user, " +
                                      "the password in amqp.password or amqp.password-file and the vhost in amqp.vhost");
        }
        if (!t.HasPath("amqp") || !t.GetValue("amqp").IsObject())
        {
            throw new ConfigException($"{key("amqp")} is required with transport = amqp: amqp {{ user = ..., password-file = ..., " +
                                      "command-queue = ..., reply-exchange = ... }}");
        }
        var tls = url.Scheme == "amqps";
        var port = url.IsDefaultPort || url.Port < 0 ? (tls ? 5671 : 5672) : url.Port;
        var vhost = t.GetString("amqp.vhost", address.Project);
        if (string.IsNullOrEmpty(vhost))
        {
            throw new ConfigException($"{key("amqp.vhost")} must not be empty");
        }
        var user = t.GetString("amqp.user", "");
        if (user == "")
        {
            throw new ConfigException($"{key("amqp.user")} is required: the guest's own broker user");
        }
        var password = Password(t, key);
        var queue = Name(t, key, "amqp.command-queue", null);
        var exchange = Name(t, key, "amqp.reply-exchange", null);
        if (exchange.StartsWith("amq.", StringComparison.Ordinal))
        {
            // amq.default reaches every queue of the vhost; a guest publishes to its own exchange only.
            throw new ConfigException($"{key("amqp.reply-exchange")}: '{exchange}' is a broker exchange; name the guest's own reply exchange");
        }
        var routingKey = Name(t, key, "amqp.reply-routing-key", exchange);
        var queries = t.HasPath("amqp.query-queue") ? Name(t, key, "amqp.query-queue", null) : null;
        if (queries == queue)
        {
            throw new ConfigException($"{key("amqp.query-queue")} must differ from {key("amqp.command-queue")} ('{queue}')");
        }
        TimeSpan Positive(string k, TimeSpan fallback)
        {
            var v = t.GetTimeSpan(k, fallback);
            return v > TimeSpan.Zero ? v : throw new ConfigException($"{key(k)} must be positive");
        }
        var settings = new AmqpSettings(url.Host, port, tls, vhost, user, password, queue, exchange, routingKey, queries);
        settings = settings with
        {
            Heartbeat = Positive("amqp.heartbeat", settings.Heartbeat),
            MaxReconnectDelay = Positive("amqp.max-reconnect-delay", settings.MaxReconnectDelay),
            PublishTimeout = Positive("amqp.publish-timeout", settings.PublishTimeout),
            MaxPrefetch = t.GetInt("amqp.max-prefetch", settings.MaxPrefetch),
            Certificates = Certificates(t, key, url.Host, tls),
        };
        if (settings.MaxPrefetch is < 1 or > ushort.MaxValue)
        {
            throw new ConfigException($"{key("amqp.max-prefetch")} must be 1 .. {ushort.MaxValue}");
        }
        if (settings.Heartbeat.TotalSeconds is < 1 or > ushort.MaxValue)
        {
            throw new ConfigException($"{key("amqp.heartbeat")} must be 1s .. {ushort.MaxValue}s");
        }
        return settings;
    }

    /// <summary>The broker certificate's check of an amqps endpoint, with <c>amqp.ca-file</c> when given.</summary>
    private static BrokerCertificateCheck? Certificates(Config t, Func<string, string> key, string host, bool tls)
    {
        var caFile = t.GetString("amqp.ca-file", null);
        if (string.IsNullOrEmpty(caFile))
        {
            return tls ? new BrokerCertificateCheck(host, null) : null;
        }
        if (!tls)
        {
            // A CA file with a plain endpoint would leave the operator believing the link is checked.
            throw new ConfigException($"{key("amqp.ca-file")} is for an amqps:// endpoint; {key("endpoint")} is amqp:// (no TLS)");
        }
        try
        {
            return new BrokerCertificateCheck(host, caFile);
        }
        catch (InvalidDataException e)
        {
            throw new ConfigException($"{key("amqp.ca-file")}: {e.Message}");
        }
    }

    private static string Password(Config t, Func<string, string> key)
    {
        var inline = t.GetString("amqp.password", null);
        var file = t.GetString("amqp.password-file", null);
        if (!string.IsNullOrEmpty(inline) && !string.IsNullOrEmpty(file))
        {
            throw new ConfigException($"{key("amqp.password")} and {key("amqp.password-file")}: give one, not both");
        }
        if (!string.IsNullOrEmpty(inline))
        {
            return inline;
        }
        if (string.IsNullOrEmpty(file))
        {
            throw new ConfigException($"{key("amqp.password-file")} (or amqp.password) is required");
        }
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{key("amqp.password-file")}: cannot read {file}: {e.Message}");
        }
        // A trailing newline is an editor's, not the password's.
        var password = text.TrimEnd('\r', '\n');
        return password != "" ? password : throw new ConfigException($"{key("amqp.password-file")}: {file} is empty");
    }

    /// <summary>An AMQP queue, exchange or routing-key name: 1..255 of letters, digits and <c>-_.:</c>.</summary>
    private static string Name(Config t, Func<string, string> key, string path, string? fallback)
    {
        var v = t.GetString(path, fallback) ?? "";
        if (v == "")
        {
            throw new ConfigException($"{key(path)} is required");
        }
        if (v.Length > 255 || !v.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
        {
            throw new ConfigException($"{key(path)} must be 1..255 of letters, digits, '-', '_', '.' and ':'; got '{v}'");
        }
        return v;
    }
}
