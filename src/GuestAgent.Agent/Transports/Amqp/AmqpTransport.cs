using System.Net.Security;
using Akka.Actor;
using Akka.Configuration;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Diagnosis;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Transport;
using RabbitMQ.Client;

namespace GuestAgent.Agent.Transports.Amqp;

/// <summary>The AMQP transport: bindings on an AMQP 0-9-1 broker (RabbitMQ), one vhost per tenant, one user per guest.</summary>
public sealed class AmqpTransportFactory : ITransportFactory
{
    public string Name => AmqpTransport.TransportName;

    public object ReadSettings(Config binding, Func<string, string> key, BindingAddress address, string stateDir) =>
        AmqpBindingSettings.Read(binding, key, address);

    public IBindingTransport Create(TenantBinding binding, AgentSettings settings, GuestPlatform platform, TimeProvider time) =>
        new AmqpTransport(binding, settings.Name);

    public Task<IReadOnlyList<DoctorCheck>> DiagnoseAsync(TenantBinding binding, AgentSettings settings, TimeProvider time, CancellationToken ct) =>
        AmqpDoctor.DiagnoseAsync(binding, ct);
}

/// <summary>
/// One binding on an AMQP broker: the <see cref="QueueConsumer"/> that consumes its command queue
/// (manual acks, prefetch = free slots) and replies published with publisher confirms to the guest's
/// reply exchange. The consumer and the replies have a connection each, so that a publisher the
/// broker blocks (disk or memory alarm) never holds up the acks of commands.
/// </summary>
public sealed class AmqpTransport : IBindingTransport
{
    public const string TransportName = "amqp";

    private readonly AmqpSettings _settings;
    private readonly string _agentName;

    public AmqpTransport(TenantBinding binding, string agentName)
    {
        _settings = SettingsOf(binding);
        _agentName = agentName;
        Replies = new AmqpReplyChannel(binding.Name, binding.ReplyQueue, _settings,
            () => Connections.Factory(_settings, $"{agentName} {binding.Name} replies"));
        OnlyReplyQueue = binding.ReplyQueue;
    }

    /// <summary>The binding's AMQP settings, as <see cref="AmqpBindingSettings"/> read them.</summary>
    public static AmqpSettings SettingsOf(TenantBinding binding) =>
        binding.TransportSettings as AmqpSettings
        ?? throw new InvalidOperationException($"binding {binding.Name} has no AMQP settings (transport {binding.Transport})");

    public string Name => TransportName;

    public IReplyChannel Replies { get; }

    public IReadOnlyList<(string Name, Props Props)> Companions => [];

    /// <summary>
    /// The guest's broker user may publish to its own reply exchange only: a command naming another
    /// reply_to is refused by the ledger and answered on the binding's reply queue.
    /// </summary>
    public string? OnlyReplyQueue { get; }

    public ICredentialsRenewal? Credentials => null;

    public Props ReceiverProps(ReceiverContext context) =>
        QueueConsumer.Props(context.Binding, context.Poll, context.Limits, context.Ops, context.Ledger, context.Lifetime, context.TenantSlots,
            new PoisonWatch(), () => Connections.Factory(_settings, $"{_agentName} {context.Binding.Name} commands"), context.Time);
}

/// <summary>Connection factories of a binding: no automatic recovery, the transport reconnects itself and sees every close.</summary>
internal static class Connections
{
    /// <summary>A connection's failure in words: a failed TLS handshake says why the certificate was refused.</summary>
    public static string Describe(AmqpSettings s, Exception e)
    {
        if (s.Certificates?.Explain(e, out var refused) is { } tls)
        {
            return refused
                ? $"{tls}; check amqp.ca-file (the CA that signed the broker's certificate) and that the endpoint's host is in the certificate"
                : tls;
        }
        var inner = e;
        while (inner.InnerException is { } i)
        {
            inner = i;
        }
        return inner == e ? e.Message : $"{e.Message} ({inner.Message})";
    }

    public static ConnectionFactory Factory(AmqpSettings s, string clientName) => new()
    {
        HostName = s.Host,
        Port = s.Port,
        VirtualHost = s.VirtualHost,
        UserName = s.User,
        Password = s.Password,
        Ssl = new SslOption
        {
            Enabled = s.Tls,
            ServerName = s.Host,
            AcceptablePolicyErrors = SslPolicyErrors.None,
            // Host name and chain (to amqp.ca-file's CA, or the system's), with the reason of a refusal kept for the log.
            CertificateValidationCallback = s.Certificates is { } check ? check.Validate : null,
        },
        RequestedHeartbeat = s.Heartbeat,
        // Recovery would re-consume with its own prefetch and hide closes the consumer must see.
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        RequestedConnectionTimeout = TimeSpan.FromSeconds(10),
        ContinuationTimeout = TimeSpan.FromSeconds(10),
        ClientProvidedName = "guest-agent " + clientName,
    };
}
