using GuestAgent.Client;
using GuestAgent.Client.Transports.Amqp;
using GuestAgent.Testing;

namespace GuestAgent.Amqp.Tests.Agent;

/// <summary>
/// A real agent process with one binding on AMQP (a guest provisioned on <see cref="Bed"/>, its own
/// vhost and user), and a controller that publishes to the guest's command exchange and reads its
/// reply queue. Waits until the agent's consumer is up.
/// </summary>
public sealed class AmqpAgentContext : IAsyncDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private AmqpAgentContext(RabbitBed bed, RabbitGuest guest, TestTenant tenant, AgentProcess agent, string dir, bool tls)
    {
        Bed = bed;
        Tls = tls;
        Guest = guest;
        Tenant = tenant;
        Agent = agent;
        Dir = dir;
        Controller = new AmqpController(bed, guest, tenant.ReplyQueue, tenant.Keys[0]);
    }

    public RabbitBed Bed { get; }

    /// <summary>The agent's binding is on the bed's amqps listener, and <see cref="TransportOptions"/> too.</summary>
    public bool Tls { get; }
    public RabbitGuest Guest { get; }
    public TestTenant Tenant { get; }
    public AgentProcess Agent { get; }
    public AmqpController Controller { get; }

    /// <summary>A directory for the commands' marks.</summary>
    public string Dir { get; }

    /// <summary>The binding of <paramref name="guest"/>: protocol names for its queues, the broker's names in its amqp block.</summary>
    public static TestTenant TenantFor(RabbitGuest guest, int maxOperations = 4, string? fileRoot = null, string? caFile = null) =>
        new("t1", guest.VirtualHost, "commands", "replies", MaxOperations: maxOperations, FileRoots: fileRoot is null ? null : [fileRoot],
            ExtraConfig: guest.BindingConfig(caFile));

    /// <summary>The directory the binding's file ops may reach (its file-roots), under <see cref="Dir"/>.</summary>
    public string FileRoot => Path.Combine(Dir, "files");

    /// <param name="tls">The binding on the bed's amqps listener, trusting <paramref name="caFile"/> (default: the bed's CA).</param>
    /// <param name="waitFor">What the agent's log must say before the context is handed over.</param>
    public static async Task<AmqpAgentContext> StartAsync(RabbitBed? bed = null, int maxOperations = 4, bool tls = false, string? caFile = null,
        string waitFor = "ready: consuming commands")
    {
        bed ??= RabbitBed.Shared;
        var guest = bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        var dir = Path.Combine(Path.GetTempPath(), "guestagent-amqp-e2e-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path.Combine(dir, "files"));
        var endpoint = $"amqp://127.0.0.1:{bed.AmqpPort}";
        if (tls)
        {
            endpoint = $"amqps://127.0.0.1:{bed.AmqpsPort ?? throw new InvalidOperationException("the bed has no amqps listener (start.sh --tls)")}";
            caFile ??= bed.CaFile;
        }
        var tenant = TenantFor(guest, maxOperations, Path.Combine(dir, "files"), caFile);
        var agent = AgentProcess.Start(endpoint, [tenant]);
        var context = new AmqpAgentContext(bed, guest, tenant, agent, dir, tls);
        try
        {
            await agent.WaitForLogAsync(waitFor, Wait);
        }
        catch
        {
            await context.DisposeAsync();
            throw;
        }
        return context;
    }

    /// <summary>
    /// How a controller reaches this guest over AMQP: the bed's administrator (the tenant's
    /// controller user, all permissions on the tenant's vhost), the broker names provision.sh gave.
    /// </summary>
    public AmqpTransportOptions TransportOptions => new()
    {
        Endpoint = new Uri(Tls
            ? $"amqps://127.0.0.1:{Bed.AmqpsPort}/{Uri.EscapeDataString(Guest.VirtualHost)}"
            : $"amqp://127.0.0.1:{Bed.AmqpPort}/{Uri.EscapeDataString(Guest.VirtualHost)}"),
        CaFile = Tls ? Bed.CaFile : null,
        User = Bed.AdminUser,
        Password = Bed.AdminPassword,
        NamePrefix = $"ga.{Guest.Guest}.",
        Heartbeat = TimeSpan.FromSeconds(5),
        PublishTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>The SDK over AMQP, signing with the binding's key; disposing it disposes its transport too.</summary>
    public ClientOverAmqp NewClient(GuestClientOptions? options = null)
    {
        var transport = new AmqpTransport(TransportOptions);
        var client = new GuestClient(transport, Tenant.CommandQueue, Tenant.ReplyQueue,
            (options ?? new GuestClientOptions()) with { SigningKeys = Tenant.Keys });
        return new ClientOverAmqp(client, transport);
    }

    public string[] MarkLines(string name)
    {
        var path = Path.Combine(Dir, name);
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    public static async Task WaitForAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Wait);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not happen within {timeout ?? Wait}");
            }
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Controller.DisposeAsync();
        Agent.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A <see cref="GuestClient"/> and the <see cref="AmqpTransport"/> it alone uses, disposed in that order.</summary>
public sealed class ClientOverAmqp(GuestClient client, AmqpTransport transport) : IAsyncDisposable
{
    public GuestClient Client { get; } = client;
    public AmqpTransport Transport { get; } = transport;

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Transport.DisposeAsync();
    }
}
