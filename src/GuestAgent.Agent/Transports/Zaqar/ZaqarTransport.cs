using Akka.Actor;
using Akka.Configuration;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Diagnosis;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Transport;
using GuestAgent.Agent.Transports.Zaqar.Credentials;
using GuestAgent.Agent.Transports.Zaqar.Push;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Transports.Zaqar;

/// <summary>The Zaqar transport: bindings on a Zaqar v2 endpoint, with keystone tokens, pre-signed URLs or no auth.</summary>
public sealed class ZaqarTransportFactory : ITransportFactory
{
    public string Name => ZaqarTransport.TransportName;

    public object ReadSettings(Config binding, Func<string, string> key, BindingAddress address, string stateDir) =>
        ZaqarBindingSettings.Read(binding, key, address, stateDir);

    /// <summary>The file in the state directory holding the agent's Client-ID toward Zaqar.</summary>
    public const string ClientIdFile = "client-id";

    public Task<IReadOnlyList<DoctorCheck>> DiagnoseAsync(TenantBinding binding, AgentSettings settings, TimeProvider time, CancellationToken ct) =>
        ZaqarDoctor.DiagnoseAsync(binding, settings, time, ct);

    /// <summary>The agent's Client-ID toward Zaqar, kept in the state directory: one per agent, whatever its bindings.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Guid>> ClientIds = new();

    public IBindingTransport Create(TenantBinding binding, AgentSettings settings, GuestPlatform platform, TimeProvider time) =>
        new ZaqarTransport(binding, settings, platform,
            ClientIds.GetOrAdd(settings.StateDir, dir => new(() => ClientIdentity.LoadOrCreate(Path.Combine(dir, ClientIdFile)))).Value, time);
}

/// <summary>
/// One binding on Zaqar: its client (with the binding's credentials), the <see cref="QueuePoller"/>
/// that claims its command queue, replies posted as messages, and on pre-signed URLs the watch and
/// renewal of those.
/// </summary>
public sealed class ZaqarTransport : IBindingTransport
{
    public const string TransportName = "zaqar";

    private readonly TenantBinding _binding;
    private readonly GuestCredentials? _credentials;

    public ZaqarTransport(TenantBinding binding, AgentSettings settings, GuestPlatform platform, Guid clientId, TimeProvider time)
    {
        _binding = binding;
        var auth = AuthOf(binding);
        // Pre-signed: one client holds both URLs; it picks, per request, the one whose paths and
        // methods cover it (claims and deletes: the command queue's, reply posts: the reply queue's).
        // A credentials command swaps them while the client is in use.
        _credentials = auth.Mode == "presigned" ? new GuestCredentials(auth.CommandQueueUrl!, auth.ReplyQueueUrl!) : null;
        Client = ClientFor(binding, _credentials, clientId, time, settings.ZaqarConnections);
        Replies = new ZaqarReplyChannel(Client);
        Credentials = _credentials is null ? null : new PreSignedRenewal(binding, _credentials, Client, platform.Files, settings.StateDir, time);
        Companions = _credentials is null ? [] : [("credentials-watch", CredentialsWatch.Props(binding, _credentials, time))];
    }

    /// <summary>A client of the binding's Zaqar with its credentials (<paramref name="credentials"/>: a presigned binding's URLs).</summary>
    internal static ZaqarClient ClientFor(TenantBinding binding, GuestCredentials? credentials, Guid clientId, TimeProvider time, int maxConnections)
    {
        var auth = AuthOf(binding);
        return new ZaqarClient(new ZaqarClientOptions
        {
            Endpoint = binding.Endpoint,
            ClientId = clientId,
            Auth = auth.Mode switch
            {
                "keystone" => ZaqarAuth.Keystone.WithToken(auth.Token!, binding.Project),
                "presigned" => new ZaqarAuth.PreSigned(credentials!.Zaqar),
                _ => new ZaqarAuth.None(binding.Project),
            },
            MaxAttempts = 3,
            RequestTimeout = TimeSpan.FromSeconds(20),
            TimeProvider = time,
            MaxConnections = maxConnections,
        });
    }

    /// <summary>The binding's Zaqar settings, as <see cref="ZaqarBindingSettings"/> read them.</summary>
    public static TenantAuth AuthOf(TenantBinding binding) =>
        binding.TransportSettings as TenantAuth
        ?? throw new InvalidOperationException($"binding {binding.Name} has no Zaqar settings (transport {binding.Transport})");

    public string Name => TransportName;

    public ZaqarClient Client { get; }

    public IReplyChannel Replies { get; }

    public IReadOnlyList<(string Name, Props Props)> Companions { get; }

    /// <summary>A guest on pre-signed URLs can post to its binding's reply queue only: its URL covers no other.</summary>
    public string? OnlyReplyQueue => _credentials is null ? null : _binding.ReplyQueue;

    public ICredentialsRenewal? Credentials { get; }

    public Props ReceiverProps(ReceiverContext context)
    {
        var push = AuthOf(context.Binding).Push;
        return QueuePoller.Props(context.Binding, context.Poll, context.Limits, context.Ops, Client, context.Ledger, context.Lifetime,
            context.TenantSlots, new OpenClaims(OpenClaims.PathFor(context.StateDir, context.Binding.Name), context.Time), new PoisonWatch(),
            context.Time,
            push: push is null ? null : CommandQueuePush.Props(context.Binding.Name, context.Binding.CommandQueue, push, Client, context.Time),
            safetyPoll: push?.SafetyPoll);
    }
}

/// <summary>Replies as Zaqar messages, several per POST where they fit one.</summary>
public sealed class ZaqarReplyChannel(ZaqarClient zaqar) : IReplyChannel
{
    public int MaxPostBytes => ZaqarLimits.MaxPostBodyBytes;

    public int SizeOf(IReadOnlyList<OutboundReply> batch) => ZaqarClient.PostBodySize(batch.Select(ToMessage).ToList());

    public async Task PostAsync(string queue, IReadOnlyList<OutboundReply> batch, CancellationToken ct = default)
    {
        try
        {
            await zaqar.PostAsync(queue, batch.Select(ToMessage).ToList(), ct).ConfigureAwait(false);
        }
        catch (ZaqarException e) when (e is { IsTransient: false, StatusCode: >= 400 and < 500 })
        {
            // Zaqar will never take it (queue name refused, no right to post there).
            throw new ReplyPostException($"refused by Zaqar ({e.StatusCode}): {e.Message}", permanent: true, e);
        }
        catch (ZaqarLimitException e)
        {
            throw new ReplyPostException($"larger than Zaqar takes: {e.Message}", permanent: true, e);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ReplyPostException(e.Message, permanent: false, e);
        }
    }

    private static OutgoingMessage ToMessage(OutboundReply reply) => new(reply.Body, reply.TtlSeconds);
}
