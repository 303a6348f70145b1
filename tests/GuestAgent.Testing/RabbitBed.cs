using RabbitMQ.Client;

namespace GuestAgent.Testing;

/// <summary>
/// One guest of one tenant as tools/rabbitmq/provision.sh made it: its own user on the tenant's
/// vhost, whose configure/write/read permissions (<see cref="Permission"/>) match only its two
/// queues and the two exchanges of the same names, each exchange bound to its queue with the
/// queue's name as routing key.
/// </summary>
public sealed record RabbitGuest(
    string Tenant,
    string Guest,
    string VirtualHost,
    string UserName,
    string Password,
    string Permission,
    string CommandQueue,
    string ReplyQueue,
    string CommandExchange,
    string ReplyExchange,
    string QueryQueue,
    string QueryExchange)
{
    /// <summary>
    /// What an agent's binding on this guest adds to a tenant block (<see cref="TestTenant.ExtraConfig"/>):
    /// <c>transport = amqp</c> and its <c>amqp</c> block with the guest's own user and broker names,
    /// with short heartbeat, reconnect and publish timeouts for tests; <paramref name="caFile"/>: its <c>ca-file</c> (amqps).
    /// </summary>
    public string BindingConfig(string? caFile = null) => $$"""
              transport = amqp
              amqp {
                {{(caFile is null ? "" : $"ca-file = \"{caFile}\"")}}
                user = "{{UserName}}"
                password = "{{Password}}"
                command-queue = "{{CommandQueue}}"
                query-queue = "{{QueryQueue}}"
                reply-exchange = "{{ReplyExchange}}"
                heartbeat = 5s
                max-reconnect-delay = 2s
                publish-timeout = 5s
              }
        """;
}

/// <summary>
/// A real RabbitMQ (Debian's rabbitmq-server) on 127.0.0.1, started by tools/rabbitmq/start.sh:
/// private node, epmd and ports, no guest/guest (only an administrator with a random password).
/// <see cref="Shared"/> is one broker per test run: the bed tools/test.sh started (its env file is
/// named by GUESTAGENT_RABBITMQ_ENV), or else one this process starts and stops at exit; it has an
/// amqps listener too (<see cref="AmqpsPort"/>, <see cref="CaFile"/>). Tests keep
/// apart by tenants and guests of their own (<see cref="NewName"/>, <see cref="Provision"/>);
/// tests that restart the broker, raise a disk alarm or close connections start a bed of their
/// own (<see cref="StartPrivate"/>): those faults hit every client of the node.
/// </summary>
public sealed class RabbitBed : IDisposable
{
    public const string EnvVariable = "GUESTAGENT_RABBITMQ_ENV";
    private static readonly Lazy<RabbitBed> SharedBed = new(StartShared, LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly bool _owned;

    private RabbitBed(IReadOnlyDictionary<string, string> env, bool owned)
    {
        Url = Get("RABBITMQ_URL");
        AmqpPort = int.Parse(Get("RABBITMQ_AMQP_PORT"));
        Node = Get("RABBITMQ_NODE");
        AdminUser = Get("RABBITMQ_ADMIN_USER");
        AdminPassword = Get("RABBITMQ_ADMIN_PASSWORD");
        RunDir = Get("RABBITMQ_RUN_DIR");
        StartSeconds = double.Parse(Get("RABBITMQ_START_SECONDS"), System.Globalization.CultureInfo.InvariantCulture);
        AmqpsPort = env.TryGetValue("RABBITMQ_AMQPS_PORT", out var tlsPort) && tlsPort.Length > 0 ? int.Parse(tlsPort) : null;
        CaFile = env.TryGetValue("RABBITMQ_CA_FILE", out var ca) && ca.Length > 0 ? ca : null;
        _owned = owned;

        string Get(string name) => env.TryGetValue(name, out var v) && v.Length > 0
            ? v
            : throw new InvalidOperationException($"The RabbitMQ bed's env file has no {name}.");
    }

    public static RabbitBed Shared => SharedBed.Value;

    /// <summary>amqp://admin:password@127.0.0.1:port/ (the administrator on vhost /).</summary>
    public string Url { get; }
    public int AmqpPort { get; }
    public string Node { get; }
    public string AdminUser { get; }
    public string AdminPassword { get; }
    public string RunDir { get; }

    /// <summary>The amqps listener's port (start.sh --tls; the shared bed has one), its certificate for localhost and 127.0.0.1.</summary>
    public int? AmqpsPort { get; }

    /// <summary>The throw-away CA (PEM) that signed the amqps listener's certificate.</summary>
    public string? CaFile { get; }

    /// <summary>How long start.sh waited for the broker to accept clients (epmd start to await_startup).</summary>
    public double StartSeconds { get; }

    /// <summary>Starts a broker of its own, stopped by <see cref="Dispose"/>; <paramref name="tls"/>: with an amqps listener.</summary>
    public static RabbitBed StartPrivate(bool tls = false) =>
        new(RunStart(Path.Combine(Path.GetTempPath(), "guestagent-rabbit-" + Guid.NewGuid().ToString("N")[..12]), tls), owned: true);

    /// <summary>A fresh tenant or guest name that provision.sh takes ([a-z0-9-], at most 64).</summary>
    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(64, prefix.Length + 33)];

    /// <summary>
    /// Provisions <paramref name="guest"/> of <paramref name="tenant"/> (tools/rabbitmq/provision.sh:
    /// the tenant's vhost, the guest's user, queues, exchanges and permissions) and returns its credentials.
    /// </summary>
    public RabbitGuest Provision(string tenant, string guest, string? password = null)
    {
        string[] args = password is null ? [RunDir, tenant, guest] : [RunDir, tenant, guest, "--password", password];
        var env = BedScripts.ReadEnv(Run(RepoPaths.Tool("rabbitmq", "provision.sh"), args));
        return new RabbitGuest(tenant, guest, env["RABBITMQ_VHOST"], env["RABBITMQ_USER"], env["RABBITMQ_PASSWORD"],
            env["RABBITMQ_PERMISSION"], env["COMMAND_QUEUE"], env["REPLY_QUEUE"], env["COMMAND_EXCHANGE"], env["REPLY_EXCHANGE"],
            env["QUERY_QUEUE"], env["QUERY_EXCHANGE"]);
    }

    /// <summary>
    /// A connection factory for <paramref name="user"/> on <paramref name="virtualHost"/>, without
    /// automatic recovery: a test sees every refusal and every close exactly as the broker sent it.
    /// </summary>
    public ConnectionFactory Factory(string user, string password, string virtualHost) => new()
    {
        HostName = "127.0.0.1",
        Port = AmqpPort,
        UserName = user,
        Password = password,
        VirtualHost = virtualHost,
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        RequestedConnectionTimeout = TimeSpan.FromSeconds(10),
        ContinuationTimeout = TimeSpan.FromSeconds(10),
        ClientProvidedName = $"guestagent-test {user}",
    };

    /// <summary>Connects as <paramref name="guest"/> to its own vhost, or to <paramref name="virtualHost"/>.</summary>
    public Task<IConnection> ConnectAsync(RabbitGuest guest, string? virtualHost = null) =>
        Factory(guest.UserName, guest.Password, virtualHost ?? guest.VirtualHost).CreateConnectionAsync();

    /// <summary>Connects as the bed's administrator (all permissions on every provisioned vhost).</summary>
    public Task<IConnection> ConnectAdminAsync(string virtualHost = "/") =>
        Factory(AdminUser, AdminPassword, virtualHost).CreateConnectionAsync();

    /// <summary>rabbitmqctl on this bed's node (tools/rabbitmq/ctl.sh); its stdout.</summary>
    public string Ctl(params string[] args) => Run(RepoPaths.Tool("rabbitmq", "ctl.sh"), [RunDir, .. args]);

    /// <summary>
    /// Stops the broker and starts it again on the same ports and data (tools/rabbitmq/restart.sh),
    /// returning once it accepts clients: users, vhosts, durable queues and persistent messages
    /// survive; every connection is gone. <paramref name="kill"/>: kill -9 instead of a clean stop;
    /// <paramref name="down"/>: how long it stays stopped.
    /// </summary>
    public void RestartBroker(bool kill = false, TimeSpan? down = null)
    {
        List<string> args = [RunDir];
        if (kill)
        {
            args.Add("--kill");
        }
        if (down is { } d)
        {
            args.AddRange(["--down", d.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)]);
        }
        Run(RepoPaths.Tool("rabbitmq", "restart.sh"), [.. args]);
    }

    /// <summary>Stops the broker (epmd keeps running); <see cref="RestartBroker"/> starts it again.</summary>
    public void StopBroker() => Run(RepoPaths.Tool("rabbitmq", "stop.sh"), [RunDir, "broker"]);

    /// <summary>
    /// Raises the disk alarm: the free-disk limit is set far above any disk's size, so the broker
    /// blocks every publishing connection (connection.blocked) until <see cref="ClearDiskAlarm"/>.
    /// Consumers go on. The setting is the running node's only: a restart clears it too.
    /// </summary>
    public void RaiseDiskAlarm() => Ctl("set_disk_free_limit", "1000000GB");

    /// <summary>Sets the free-disk limit back to the bed's 50MB: the alarm clears, publishers are unblocked.</summary>
    public void ClearDiskAlarm() => Ctl("set_disk_free_limit", "50MB");

    /// <summary>Whether the node reports a disk alarm now.</summary>
    public bool DiskAlarmRaised() => Ctl("eval", "rabbit_alarm:get_alarms().").Contains("disk", StringComparison.Ordinal);

    /// <summary>The broker closes every connection of <paramref name="user"/> (reply code 320, CONNECTION_FORCED, with <paramref name="reason"/>).</summary>
    public void CloseConnections(string user, string reason = "closed by the test bed") =>
        Ctl("close_all_user_connections", user, reason);

    /// <summary>How many connections the broker holds for <paramref name="user"/>.</summary>
    public int ConnectionCount(string user) =>
        Ctl("list_connections", "user").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Count(l => l == user);

    public void Dispose()
    {
        if (_owned)
        {
            Run(RepoPaths.Tool("rabbitmq", "stop.sh"), [RunDir]);
        }
    }

    private static RabbitBed StartShared()
    {
        var envFile = Environment.GetEnvironmentVariable(EnvVariable);
        if (!string.IsNullOrEmpty(envFile) && File.Exists(envFile))
        {
            return new RabbitBed(BedScripts.ReadEnv(File.ReadAllText(envFile)), owned: false);
        }
        var bed = new RabbitBed(RunStart(Path.Combine(Path.GetTempPath(), "guestagent-rabbit-" + Environment.ProcessId), tls: true), owned: true);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => bed.Dispose();
        return bed;
    }

    private static Dictionary<string, string> RunStart(string dir, bool tls) =>
        BedScripts.ReadEnv(Run(RepoPaths.Tool("rabbitmq", "start.sh"), tls ? ["--dir", dir, "--tls"] : ["--dir", dir]));

    private static string Run(string file, string[] args) => BedScripts.Run(file, args, TimeSpan.FromMinutes(3));
}
