using Akka.Configuration;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Transport;
using GuestAgent.Agent.Transports.Zaqar.Credentials;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Transports.Zaqar;

/// <summary>
/// How one binding authenticates to its Zaqar: mode none, keystone (<see cref="Token"/>) or presigned
/// (<see cref="CommandQueueUrl"/> for claiming and deleting commands, <see cref="ReplyQueueUrl"/> for
/// posting replies; the guest holds no keystone credentials at all).
/// </summary>
public sealed record TenantAuth(string Mode, string? Token, PreSignedUrl? CommandQueueUrl = null, PreSignedUrl? ReplyQueueUrl = null)
{
    /// <summary>Presigned: how long before the URLs expire the agent starts warning in its log.</summary>
    public TimeSpan ExpiryWarning { get; init; } = DefaultExpiryWarning;

    public static readonly TimeSpan DefaultExpiryWarning = TimeSpan.FromHours(24);

    /// <summary>Presigned: where the URLs in use came from (the configuration, or a renewal kept in the state directory).</summary>
    public string? Source { get; init; }

    /// <summary>Push over Zaqar's WebSocket, when the binding names the endpoint (none or keystone auth only).</summary>
    public ZaqarPush? Push { get; init; }

    /// <summary>What the agent does on the command queue: claim (POST .../claims) and delete claimed messages (DELETE .../messages/{id}).</summary>
    public static readonly IReadOnlyList<(string Method, string Path)> CommandQueueNeeds = [("POST", "claims"), ("DELETE", "messages")];

    /// <summary>What the agent does on the reply queue: post replies (POST .../messages).</summary>
    public static readonly IReadOnlyList<(string Method, string Path)> ReplyQueueNeeds = [("POST", "messages")];
}

/// <summary>
/// A binding's <c>push</c> block: Zaqar's WebSocket endpoint, over which the agent subscribes to its
/// command queue and claims as soon as a message is announced, polling only every
/// <see cref="SafetyPoll"/> meanwhile.
/// </summary>
public sealed record ZaqarPush(Uri Url)
{
    /// <summary>Claims this often while push is up, in case a notification was lost.</summary>
    public TimeSpan SafetyPoll { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The subscription's TTL; renewed (HTTP PATCH) every <see cref="RenewInterval"/>, which also notices one deleted behind the agent's back.</summary>
    public int SubscriptionTtlSeconds { get; init; } = 3600;

    public TimeSpan RenewInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// WebSocket pings: the server sends none, and a half-dead connection loses pushes silently.
    /// A minute each: .NET checks the connection every quarter of the lesser of the two, and each
    /// check wakes an idle agent's timer and pool threads (every 2.5 s at 15 s and 10 s, twice the
    /// idle CPU: docs/performance.md); the safety poll bounds what a dead socket delays meanwhile.
    /// </summary>
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan PingTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest wait between attempts to reconnect (doubling from 1 s, with jitter); the binding polls meanwhile.</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>Reads a Zaqar binding's <c>auth</c> block (hocon/guest-agent.conf documents it).</summary>
public static class ZaqarBindingSettings
{
    /// <summary>The binding's <see cref="TenantAuth"/>; a <see cref="ConfigException"/> names a bad key.</summary>
    public static TenantAuth Read(Config t, Func<string, string> key, BindingAddress address, string stateDir)
    {
        var (name, project, queue, reply) = (address.Name, address.Project, address.CommandQueue, address.ReplyQueue);
            var mode = t.GetString("auth.mode", "none");
            if (mode is not ("none" or "keystone" or "presigned"))
            {
                throw new ConfigException($"{key("auth.mode")} must be none, keystone or presigned, not '{mode}'");
            }
            var token = t.GetString("auth.token", null);
            if (mode == "keystone" && string.IsNullOrEmpty(token))
            {
                throw new ConfigException($"{key("auth.token")} is required with auth.mode = keystone");
            }
            TenantAuth auth;
            if (mode == "presigned")
            {
                if (!string.IsNullOrEmpty(token))
                {
                    throw new ConfigException($"{key("auth.token")}: a presigned binding holds no keystone token; remove it");
                }
                auth = PreSignedAuth(name, t, key, project, queue, reply, stateDir);
            }
            else
            {
                foreach (var k in new[] { "auth.command-queue-signature", "auth.reply-queue-signature", "auth.expiry-warning" }.Where(t.HasPath))
                {
                    throw new ConfigException($"{key(k)} is only used with auth.mode = presigned (mode is {mode})");
                }
                auth = new TenantAuth(mode, token);
            }
        return t.HasPath("push") ? auth with { Push = ReadPush(t, key, mode) } : auth;
    }

    private static ZaqarPush? ReadPush(Config t, Func<string, string> key, string mode)
    {
        if (!t.GetValue("push").IsObject())
        {
            throw new ConfigException($"{key("push")} must be a block: push {{ websocket = \"ws://zaqar:9000\" }}");
        }
        var url = t.GetString("push.websocket", "");
        if (url == "")
        {
            // An empty block (or websocket = "") keeps polling: a template can leave it blank.
            return null;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("ws" or "wss"))
        {
            throw new ConfigException($"{key("push.websocket")} must be Zaqar's WebSocket URL, ws:// or wss://, such as ws://127.0.0.1:9000; got '{url}'");
        }
        if (mode == "presigned")
        {
            throw new ConfigException($"{key("push")}: a guest on pre-signed URLs cannot use push (Zaqar refuses claims and subscriptions " +
                                      "made with them over the WebSocket, and does not confine a signature to its queue there: " +
                                      "docs/security.md); remove the push block, the binding polls");
        }
        TimeSpan Positive(string k, TimeSpan fallback)
        {
            var v = t.GetTimeSpan(k, fallback);
            return v > TimeSpan.Zero ? v : throw new ConfigException($"{key(k)} must be positive");
        }
        var push = new ZaqarPush(uri);
        push = push with
        {
            SafetyPoll = Positive("push.safety-poll", push.SafetyPoll),
            SubscriptionTtlSeconds = (int)Positive("push.subscription-ttl", TimeSpan.FromSeconds(push.SubscriptionTtlSeconds)).TotalSeconds,
            RenewInterval = Positive("push.renew-interval", push.RenewInterval),
            PingInterval = Positive("push.ping-interval", push.PingInterval),
            PingTimeout = Positive("push.ping-timeout", push.PingTimeout),
            MaxReconnectDelay = Positive("push.max-reconnect-delay", push.MaxReconnectDelay),
        };
        if (push.SubscriptionTtlSeconds < 60)
        {
            throw new ConfigException($"{key("push.subscription-ttl")} must be at least 60s (Zaqar's minimum)");
        }
        if (push.RenewInterval.TotalSeconds >= push.SubscriptionTtlSeconds)
        {
            throw new ConfigException($"{key("push.renew-interval")} ({push.RenewInterval}) must be shorter than push.subscription-ttl " +
                                      $"({push.SubscriptionTtlSeconds} s), or the subscription lapses between renewals");
        }
        return push;
    }

    private const string Mint = "mint new ones with: guestctl credentials mint (or renew a running agent's with guestctl credentials renew)";

    /// <summary>
    /// A presigned binding's two URLs: the configured ones, or the renewed ones a <c>credentials</c>
    /// command left in the state directory when those expire later (and still fit the binding).
    /// Whichever is used must not have expired.
    /// </summary>
    private static TenantAuth PreSignedAuth(string name, Config t, Func<string, string> key, string project, string queue, string reply,
        string stateDir)
    {
        var commandUrl = Signature(t, key, "auth.command-queue-signature", project, queue, TenantAuth.CommandQueueNeeds);
        var replyUrl = Signature(t, key, "auth.reply-queue-signature", project, reply, TenantAuth.ReplyQueueNeeds);
        var source = "the configuration";
        CredentialsStore.Stored? stored;
        try
        {
            stored = CredentialsStore.Load(stateDir, name);
        }
        catch (InvalidDataException e)
        {
            throw new ConfigException($"{key("auth")}: {e.Message}");
        }
        if (stored is not null
            && PreSignedFit.Problem(stored.CommandQueue, project, queue, TenantAuth.CommandQueueNeeds) is null
            && PreSignedFit.Problem(stored.ReplyQueue, project, reply, TenantAuth.ReplyQueueNeeds) is null
            && Earliest(stored.CommandQueue, stored.ReplyQueue) > Earliest(commandUrl, replyUrl))
        {
            (commandUrl, replyUrl) = (stored.CommandQueue, stored.ReplyQueue);
            source = $"a renewal of {ProtocolJson.FormatTimestamp(stored.RenewedAt)} ({stored.File})";
        }
        foreach (var (url, path) in new[] { (commandUrl, "auth.command-queue-signature"), (replyUrl, "auth.reply-queue-signature") })
        {
            if (url.ExpiresAt <= DateTimeOffset.UtcNow)
            {
                throw new ConfigException($"{key(path)} expired at {url.Expires} UTC (from {source}); {Mint}");
            }
        }
        var warning = t.GetTimeSpan("auth.expiry-warning", TenantAuth.DefaultExpiryWarning);
        if (warning < TimeSpan.Zero)
        {
            throw new ConfigException($"{key("auth.expiry-warning")} must not be negative");
        }
        return new TenantAuth("presigned", null, commandUrl, replyUrl) { ExpiryWarning = warning, Source = source };
    }

    private static DateTimeOffset Earliest(PreSignedUrl a, PreSignedUrl b) => a.ExpiresAt < b.ExpiresAt ? a.ExpiresAt : b.ExpiresAt;

    /// <summary>
    /// One pre-signed URL block as Zaqar's share call returns it (paths, methods, expires,
    /// signature, optionally project). It must be for <paramref name="queue"/> of
    /// <paramref name="project"/> and cover what the agent does there; expiry is judged by the caller.
    /// </summary>
    private static PreSignedUrl Signature(Config t, Func<string, string> key, string path, string project, string queue,
        IReadOnlyList<(string Method, string Path)> needs)
    {
        var at = key(path);
        if (!t.HasPath(path) || !t.GetValue(path).IsObject())
        {
            throw new ConfigException($"{at} is required with auth.mode = presigned: {{ paths = [...], methods = [...], expires = \"...\", signature = \"...\" }}; {Mint}");
        }
        var block = t.GetConfig(path);
        IReadOnlyList<string> List(string f)
        {
            var v = block.HasPath(f) ? block.GetValue(f) : null;
            if (v is null || v.IsEmpty || !v.IsArray())
            {
                throw new ConfigException($"{at}.{f} is required: a non-empty list of strings");
            }
            return block.GetStringList(f).ToList();
        }
        var paths = List("paths");
        var methods = List("methods").Select(m => m.ToUpperInvariant()).ToList();
        var expires = block.GetString("expires", "");
        var signature = block.GetString("signature", "");
        var urlProject = block.GetString("project", project);
        if (string.IsNullOrEmpty(signature) || signature.Any(c => !Uri.IsHexDigit(c)))
        {
            throw new ConfigException($"{at}.signature is required: the hex HMAC Zaqar's share call (or guestctl credentials mint) returned");
        }
        if (urlProject != project)
        {
            throw new ConfigException($"{at}.project is '{urlProject}', but the binding's project is '{project}'");
        }
        var url = new PreSignedUrl(paths, methods, project, expires, signature);
        if (PreSignedFit.Problem(url, project, queue, needs) is { } problem)
        {
            throw new ConfigException($"{problem.At(at)}; {Mint}");
        }
        return url;
    }
}
