using System.Text.Json.Nodes;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// <c>guest-agent doctor</c>, the built agent run against the Zaqar bed: what it says of a binding
/// that works, of an endpoint nobody listens on, and of credentials Zaqar refuses or that expired.
/// </summary>
public sealed class DoctorTests : IDisposable
{
    private readonly ZaqarBed _bed = ZaqarBed.Shared;
    private readonly string _dir = Directory.CreateTempSubdirectory("ga-doctor-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int ExitCode, string Stdout, string Stderr) Doctor(string endpoint, params TestTenant[] tenants) =>
        AgentProcess.RunOnce("doctor", "--config", AgentProcess.WriteConfig(_dir, endpoint, tenants));

    private static string[] Lines(string stdout) => stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Asserts a line that starts with <paramref name="start"/> and holds every one of <paramref name="parts"/>; a failure shows all lines.</summary>
    private static void HasLine(string[] lines, string start, params string[] parts) =>
        Assert.True(lines.Any(l => l.StartsWith(start, StringComparison.Ordinal) && parts.All(p => l.Contains(p, StringComparison.Ordinal))),
            $"no line starting \"{start}\"{(parts.Length > 0 ? " with " + string.Join(", ", parts) : "")} in:\n{string.Join('\n', lines)}");

    [Fact]
    public async Task Doctor_passes_a_working_binding_without_taking_its_commands_or_creating_state_and_only_warns_of_a_dead_push_server()
    {
        var pushPort = LoopbackPorts.Free();
        var tenant = E2EContext.NewTenant("t1") with { ExtraConfig = $"push {{ websocket = \"ws://127.0.0.1:{pushPort}\" }}" };
        var zaqar = _bed.Client(tenant.Project);
        await zaqar.PostAsync(tenant.CommandQueue, [new OutgoingMessage(new JsonObject { ["waiting"] = true }, 300)]);

        var (exit, stdout, stderr) = Doctor(_bed.Url, tenant);

        Assert.True(exit == 0, stdout + stderr);
        var lines = Lines(stdout);
        HasLine(lines, $"OK    t1 endpoint: Zaqar answers at {_bed.Url}");
        HasLine(lines, $"OK    t1 credentials: Zaqar lets project {tenant.Project} claim commands from {tenant.CommandQueue}");
        HasLine(lines, $"OK    t1 reply queue: Zaqar takes posts to {tenant.ReplyQueue}");
        HasLine(lines, "OK    t1 clock: the guest's clock is within");
        HasLine(lines, $"WARN  t1 push: unreachable: 127.0.0.1:{pushPort}: connection refused", "the binding polls instead", "Fix: check push.websocket");
        Assert.Equal("doctor: every check passed", lines[^1]);
        var stats = await zaqar.GetQueueStatsAsync(tenant.CommandQueue);
        Assert.Equal((1L, 0L), (stats.Free, stats.Claimed));
        Assert.Equal(0, (await zaqar.GetQueueStatsAsync(tenant.ReplyQueue)).Total);
        Assert.False(Directory.Exists(Path.Combine(_dir, "state")), "doctor created the state directory");
    }

    [Fact]
    public void Doctor_names_an_unreachable_endpoint_and_skips_what_depends_on_it()
    {
        var port = LoopbackPorts.Free();

        var (exit, stdout, _) = Doctor($"http://127.0.0.1:{port}", E2EContext.NewTenant("t1"));

        Assert.Equal(1, exit);
        var lines = Lines(stdout);
        HasLine(lines, $"FAIL  t1 endpoint: unreachable: 127.0.0.1:{port}: connection refused", "Fix: check the binding's endpoint");
        HasLine(lines, "SKIP  t1 credentials: not checked: the endpoint is not reachable");
        Assert.Equal("doctor: 1 check(s) failed", lines[^1]);
    }

    [Fact]
    public void Doctor_says_which_pre_signed_urls_Zaqar_refuses_and_when_good_ones_expire()
    {
        var expires = DateTimeOffset.UtcNow.AddDays(3);
        TestTenant Signed(string name, string secret)
        {
            var t = E2EContext.NewTenant(name);
            var command = PreSignedUrl.Mint(secret, t.CommandQueue, t.Project, expires, ["claims", "messages"], ["DELETE", "POST"]);
            var reply = PreSignedUrl.Mint(secret, t.ReplyQueue, t.Project, expires, ["messages"], ["POST"]);
            return t with { ExtraConfig = Guestctl.PreSignedAuthBlock(command, reply) };
        }

        var (exit, stdout, _) = Doctor(_bed.Url, Signed("good", _bed.Secret), Signed("forged", "not-zaqars-secret"));

        Assert.Equal(1, exit);
        var lines = Lines(stdout);
        HasLine(lines, "OK    good credentials: Zaqar accepts the command queue's pre-signed URL", "expire at", "in 2 d 23 h");
        HasLine(lines, "OK    good reply queue:");
        HasLine(lines, "FAIL  forged credentials: Zaqar refused the pre-signed URL for claiming commands",
            "Fix: mint new URLs", "guest-agent.tenants.forged.auth.command-queue-signature");
        HasLine(lines, "FAIL  forged reply queue: Zaqar refused the pre-signed URL for posting replies");
        Assert.Equal("doctor: 2 check(s) failed", lines[^1]);
    }

    [Fact]
    public void Doctor_names_expired_urls_as_the_configuration_error_check_config_reports()
    {
        var t = E2EContext.NewTenant("t1");
        var past = DateTimeOffset.UtcNow.AddHours(-1);
        var command = PreSignedUrl.Mint(_bed.Secret, t.CommandQueue, t.Project, past, ["claims", "messages"], ["DELETE", "POST"]);
        var reply = PreSignedUrl.Mint(_bed.Secret, t.ReplyQueue, t.Project, past, ["messages"], ["POST"]);

        var (exit, stdout, _) = Doctor(_bed.Url, t with { ExtraConfig = Guestctl.PreSignedAuthBlock(command, reply) });

        Assert.Equal(78, exit);
        Assert.StartsWith("FAIL  configuration: guest-agent.tenants.t1.auth.command-queue-signature expired at", stdout);
        Assert.Contains("no binding was checked", stdout);
    }

    [Fact]
    public async Task Doctor_tells_a_keystone_token_Zaqar_accepts_from_one_it_refuses()
    {
        var keystone = KeystoneBed.Shared;
        var token = await keystone.TokenAsync(Tenant.A);
        TestTenant WithToken(string name, string value) =>
            new(name, keystone.ProjectId(Tenant.A), ZaqarBed.NewQueue("dr-cmd"), ZaqarBed.NewQueue("dr-rep"),
                ExtraConfig: $"auth {{ mode = keystone, token = \"{value}\" }}");

        var (exit, stdout, _) = Doctor(keystone.ZaqarUrl, WithToken("valid", token), WithToken("stale", "gAAAAABnot-a-token"));

        Assert.Equal(1, exit);
        var lines = Lines(stdout);
        HasLine(lines, "OK    valid credentials: Zaqar accepts the keystone token");
        HasLine(lines, "OK    valid reply queue:");
        HasLine(lines, "FAIL  stale credentials: Zaqar refused the keystone token for claiming commands",
            "HTTP 401", "Fix: put a valid token in guest-agent.tenants.stale.auth.token");
    }

    [Fact]
    public void Doctor_finds_an_amqp_guests_queue_and_exchange_and_names_a_refused_password_and_a_missing_queue()
    {
        var rabbit = RabbitBed.Shared;
        var guest = rabbit.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        TestTenant Binding(string name, RabbitGuest g) =>
            new(name, g.VirtualHost, $"commands-{name}", $"replies-{name}", ExtraConfig: g.BindingConfig(), AllowUnsigned: true);

        var (exit, stdout, _) = Doctor($"amqp://127.0.0.1:{rabbit.AmqpPort}",
            Binding("good", guest), Binding("badpass", guest with { Password = "not-the-password" }),
            Binding("noqueue", guest with { CommandQueue = "ga.nobody.commands" }));

        Assert.Equal(1, exit);
        var lines = Lines(stdout);
        HasLine(lines, $"OK    good credentials: the broker lets user {guest.UserName} into vhost {guest.VirtualHost}");
        HasLine(lines, $"OK    good command queue: queue {guest.CommandQueue} exists: 0 message(s) waiting, 0 consumer(s)");
        HasLine(lines, $"OK    good reply exchange: exchange {guest.ReplyExchange} exists");
        HasLine(lines, "SKIP  good clock: AMQP carries no server time");
        HasLine(lines, $"FAIL  badpass credentials: the broker refused user {guest.UserName}");
        HasLine(lines, "FAIL  noqueue command queue: there is no queue ga.nobody.commands in the vhost");
        Assert.Equal("doctor: 2 check(s) failed", lines[^1]);
    }
}
