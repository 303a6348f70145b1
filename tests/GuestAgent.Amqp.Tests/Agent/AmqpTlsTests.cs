using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Amqp.Tests.Agent;

/// <summary>
/// AMQP over TLS with a cloud's own CA, on the shared bed's amqps listener (start.sh --tls: a
/// throw-away CA signed its certificate for localhost and 127.0.0.1): a real agent and guestctl
/// that trust that CA work end to end; trusting another CA, neither talks to the broker, both say
/// why, and nothing runs.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AmqpTlsTests
{
    private static readonly TimeSpan Wait = AmqpAgentContext.Wait;

    [Fact]
    public async Task Call_over_amqps_with_the_clouds_ca_runs_end_to_end_and_the_guests_connections_are_tls()
    {
        await using var e2e = await AmqpAgentContext.StartAsync(tls: true);
        var home = Path.Combine(e2e.Dir, "home");
        Directory.CreateDirectory(home);

        var run = await Guestctl.RunAsync(["exec", "--wait", "30", "--", "sh", "-c", "echo over tls; exit 4"],
            GuestctlEnv(e2e, home, e2e.Bed.CaFile!));

        Assert.True(run.ExitCode == 4, run.Stderr);
        Assert.Equal("over tls\n", run.Stdout);
        // The broker's own word: every connection of the guest's user came in on the TLS listener.
        var ssl = e2e.Bed.Ctl("list_connections", "user", "ssl").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith(e2e.Guest.UserName + "\t", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(ssl);
        Assert.All(ssl, l => Assert.EndsWith("\ttrue", l));
    }

    [Fact]
    public async Task A_broker_certificate_from_another_ca_is_refused_by_agent_doctor_and_guestctl_and_nothing_runs()
    {
        var dir = Directory.CreateTempSubdirectory("ga-amqps-").FullName;
        try
        {
            var otherCa = Path.Combine(dir, "other-ca.pem");
            await File.WriteAllTextAsync(otherCa, AnotherCa());
            await using var e2e = await AmqpAgentContext.StartAsync(tls: true, caFile: otherCa, waitFor: "TLS handshake");
            var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"echo ran >> {e2e.Dir}/mark" }));

            // Refused again after its backoff, never consuming: the command stays in the broker.
            await e2e.Agent.WaitForLogAsync("TLS handshake", Wait, times: 2);
            var doctor = AgentProcess.RunOnce("doctor", "--config", e2e.Agent.ConfigPath);
            var home = Path.Combine(e2e.Dir, "home");
            Directory.CreateDirectory(home);
            var guestctl = await Guestctl.RunAsync(["exec", "--wait", "10", "--", "true"], GuestctlEnv(e2e, home, otherCa));

            var refusal = $"the TLS handshake with 127.0.0.1 failed: the broker's certificate (CN=localhost, issued by CN=GuestAgent bed CA {e2e.Bed.AmqpPort}) " +
                          $"does not chain to the CA in {otherCa}";
            Assert.Contains(refusal, e2e.Agent.Log);
            Assert.Contains("check amqp.ca-file", e2e.Agent.Log);
            Assert.DoesNotContain("ready: consuming commands", e2e.Agent.Log);
            Assert.Equal((1u, 0u), await e2e.Controller.CommandQueueAsync());
            Assert.Empty(e2e.MarkLines("mark"));
            Assert.Empty(await e2e.Controller.SeenAsync(cmd.Id));

            Assert.Equal(1, doctor.ExitCode);
            var lines = doctor.Stdout.Split('\n', StringSplitOptions.TrimEntries);
            Assert.Contains(lines, l => l.StartsWith($"FAIL  t1 tls: {refusal}", StringComparison.Ordinal)
                                        && l.Contains("Fix: check that guest-agent.tenants.t1.amqp.ca-file holds the CA that signed the broker's certificate",
                                            StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("SKIP  t1 credentials: not checked", StringComparison.Ordinal));

            Assert.Equal(125, guestctl.ExitCode);
            Assert.Contains(refusal, guestctl.Stderr);
            Assert.Contains("GUESTAGENT_AMQP_CA_FILE", guestctl.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Doctor_over_amqps_says_the_brokers_certificate_chains_to_the_clouds_ca()
    {
        var bed = RabbitBed.Shared;
        var guest = bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        var dir = Directory.CreateTempSubdirectory("ga-amqps-doctor-").FullName;
        try
        {
            var config = AgentProcess.WriteConfig(dir, $"amqps://localhost:{bed.AmqpsPort}",
                [new TestTenant("t1", guest.VirtualHost, "commands", "replies", ExtraConfig: guest.BindingConfig(bed.CaFile))]);

            var (exit, stdout, stderr) = AgentProcess.RunOnce("doctor", "--config", config);

            Assert.True(exit == 0, stdout + stderr);
            Assert.Contains($"OK    t1 tls: the broker's certificate is for localhost and chains to the CA in {bed.CaFile}", stdout);
            Assert.Contains($"OK    t1 credentials: the broker lets user {guest.UserName} into vhost {guest.VirtualHost}", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_ca_file_with_a_plain_amqp_endpoint_is_a_configuration_error_on_both_sides()
    {
        var bed = RabbitBed.Shared;
        var guest = bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        var dir = Directory.CreateTempSubdirectory("ga-amqps-config-").FullName;
        try
        {
            var config = AgentProcess.WriteConfig(dir, $"amqp://127.0.0.1:{bed.AmqpPort}",
                [new TestTenant("t1", guest.VirtualHost, "commands", "replies", ExtraConfig: guest.BindingConfig(bed.CaFile))]);

            var (exit, stdout, stderr) = AgentProcess.RunOnce("--check-config", "--config", config);

            Assert.NotEqual(0, exit);
            Assert.Contains("guest-agent.tenants.t1.amqp.ca-file is for an amqps:// endpoint", stdout + stderr);
            var error = Assert.Throws<ArgumentException>(() => new GuestAgent.Client.Transports.Amqp.AmqpTransport(new()
            {
                Endpoint = new Uri($"amqp://127.0.0.1:{bed.AmqpPort}/{guest.VirtualHost}"),
                User = bed.AdminUser,
                CaFile = bed.CaFile,
            }));
            Assert.Contains("is for an amqps:// endpoint", error.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>guestctl over the bed's amqps listener as the tenant's administrator, trusting <paramref name="caFile"/>.</summary>
    private static Dictionary<string, string> GuestctlEnv(AmqpAgentContext e2e, string home, string caFile) => new()
    {
        ["HOME"] = home,
        ["GUESTAGENT_TRANSPORT"] = "amqp",
        ["GUESTAGENT_AMQP_URL"] = $"amqps://127.0.0.1:{e2e.Bed.AmqpsPort}/{Uri.EscapeDataString(e2e.Guest.VirtualHost)}",
        ["GUESTAGENT_AMQP_CA_FILE"] = caFile,
        ["GUESTAGENT_AMQP_USER"] = e2e.Bed.AdminUser,
        ["GUESTAGENT_AMQP_PASSWORD"] = e2e.Bed.AdminPassword,
        ["GUESTAGENT_AMQP_PREFIX"] = $"ga.{e2e.Guest.Guest}.",
        ["GUESTAGENT_QUEUE"] = e2e.Tenant.CommandQueue,
        ["GUESTAGENT_SIGNING_KEYS"] = $"{e2e.Tenant.Keys[0].Id}={Convert.ToBase64String(e2e.Tenant.Keys[0].Secret)}",
    };

    /// <summary>A CA of another cloud (PEM): a real CA certificate, but not the one that signed the bed's.</summary>
    private static string AnotherCa()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Another cloud's CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return ca.ExportCertificatePem();
    }
}
