using GuestAgent.Client;
using GuestAgent.Client.Transport;
using GuestAgent.Client.Transports.Amqp;
using GuestAgent.Protocol.Signing;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E.Matrix;

/// <summary>What a scenario asks of its guest's binding.</summary>
/// <param name="HttpDestinations">The binding's http-destinations (none: the http op reaches nothing).</param>
public sealed record MatrixSpec(IReadOnlyList<string>? HttpDestinations = null, int MaxOperations = 4);

/// <summary>
/// The transports every operation scenario runs on. A transport joins the matrix by one line here:
/// its name and how to start a guest on it.
/// </summary>
public static class MatrixTransports
{
    private static readonly Dictionary<string, Func<MatrixSpec, Task<MatrixGuest>>> Starts = new()
    {
        ["zaqar"] = ZaqarMatrixGuest.StartAsync,
        ["amqp"] = AmqpMatrixGuest.StartAsync,
    };

    /// <summary>The theory data: every transport's name.</summary>
    public static TheoryData<string> All => new(Starts.Keys);

    /// <summary>A real agent with one binding on <paramref name="transport"/>, its consumer or poller up.</summary>
    public static Task<MatrixGuest> StartAsync(string transport, MatrixSpec? spec = null) => Starts[transport](spec ?? new MatrixSpec());
}

/// <summary>
/// A real agent process with one binding on some transport, a scratch directory (its file root
/// under it) and SDK clients made for that transport, all disposed with it.
/// </summary>
public abstract class MatrixGuest : IAsyncDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private readonly List<IAsyncDisposable> _owned = [];

    protected MatrixGuest(string dir, TestTenant tenant, AgentProcess agent)
    {
        Dir = dir;
        Tenant = tenant;
        Agent = agent;
    }

    /// <summary>Scratch directory where commands leave their marks.</summary>
    public string Dir { get; }

    /// <summary>The binding's only file root.</summary>
    public string FileRoot => Path.Combine(Dir, "root");

    public TestTenant Tenant { get; }
    public AgentProcess Agent { get; }

    protected static string NewDir()
    {
        var dir = Directory.CreateTempSubdirectory("ga-matrix-").FullName;
        Directory.CreateDirectory(Path.Combine(dir, "root"));
        return dir;
    }

    /// <summary>A client of this guest (signing with <paramref name="keys"/>, default the binding's), disposed with the guest.</summary>
    public GuestClient NewClient(IReadOnlyList<SigningKey>? keys = null, GuestClientOptions? options = null)
    {
        var (transport, replyQueue, owned) = NewTransport();
        if (owned is not null)
        {
            _owned.Add(owned);
        }
        var client = new GuestClient(transport, Tenant.CommandQueue, replyQueue, (options ?? new GuestClientOptions()) with { SigningKeys = keys ?? Tenant.Keys });
        // Clients go before their transports.
        _owned.Insert(0, client);
        return client;
    }

    /// <summary>A controller transport to this guest, the reply queue its clients use, and what to dispose after them.</summary>
    protected abstract (IControllerTransport Transport, string ReplyQueue, IAsyncDisposable? Owned) NewTransport();

    public string[] MarkLines(string name)
    {
        var path = Path.Combine(Dir, name);
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }


    public async ValueTask DisposeAsync()
    {
        foreach (var d in _owned)
        {
            await d.DisposeAsync();
        }
        Agent.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>A guest on the shared Zaqar bed: a project and queues of its own; each client gets a reply queue of its own.</summary>
public sealed class ZaqarMatrixGuest : MatrixGuest
{
    private ZaqarMatrixGuest(string dir, TestTenant tenant, AgentProcess agent)
        : base(dir, tenant, agent)
    {
    }

    public static async Task<MatrixGuest> StartAsync(MatrixSpec spec)
    {
        var dir = NewDir();
        var tenant = E2EContext.NewTenant("t1", spec.MaxOperations) with
        {
            HttpDestinations = spec.HttpDestinations,
            FileRoots = [Path.Combine(dir, "root")],
        };
        var guest = new ZaqarMatrixGuest(dir, tenant, AgentProcess.Start(ZaqarBed.Shared, [tenant]));
        await guest.Agent.WaitForLogAsync($"ready: claiming commands from {tenant.CommandQueue}", Wait);
        return guest;
    }

    protected override (IControllerTransport, string, IAsyncDisposable?) NewTransport() =>
        (new GuestAgent.Client.Transports.Zaqar.ZaqarTransport(ZaqarBed.Shared.Client(Tenant.Project)), ZaqarBed.NewQueue("sdk"), null);
}

/// <summary>
/// A guest provisioned on the shared RabbitMQ bed (a vhost and user of its own); clients connect as
/// the bed's administrator, the tenant's controller, and read the binding's reply queue.
/// </summary>
public sealed class AmqpMatrixGuest : MatrixGuest
{
    private readonly RabbitGuest _guest;

    private AmqpMatrixGuest(string dir, TestTenant tenant, AgentProcess agent, RabbitGuest guest)
        : base(dir, tenant, agent) =>
        _guest = guest;

    public static async Task<MatrixGuest> StartAsync(MatrixSpec spec)
    {
        var bed = RabbitBed.Shared;
        var rabbit = bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        var dir = NewDir();
        var tenant = new TestTenant("t1", rabbit.VirtualHost, "commands", "replies", spec.MaxOperations,
            HttpDestinations: spec.HttpDestinations, FileRoots: [Path.Combine(dir, "root")], ExtraConfig: rabbit.BindingConfig());
        var guest = new AmqpMatrixGuest(dir, tenant, AgentProcess.Start($"amqp://127.0.0.1:{bed.AmqpPort}", [tenant]), rabbit);
        await guest.Agent.WaitForLogAsync("ready: consuming commands", Wait);
        return guest;
    }

    protected override (IControllerTransport, string, IAsyncDisposable?) NewTransport()
    {
        var bed = RabbitBed.Shared;
        var transport = new AmqpTransport(new AmqpTransportOptions
        {
            Endpoint = new Uri($"amqp://127.0.0.1:{bed.AmqpPort}/{Uri.EscapeDataString(_guest.VirtualHost)}"),
            User = bed.AdminUser,
            Password = bed.AdminPassword,
            NamePrefix = $"ga.{_guest.Guest}.",
            Heartbeat = TimeSpan.FromSeconds(5),
        });
        return (transport, Tenant.ReplyQueue, transport);
    }
}
