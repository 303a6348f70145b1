using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Operations.Files;
using GuestAgent.Agent.Operations.Http;

namespace GuestAgent.Agent.Tests.Configuration;

public sealed class AgentSettingsTests
{
    private const string OneTenant = """
        guest-agent {
          state-dir = "/tmp/ga-settings"
          tenants {
            acme {
              endpoint = "http://127.0.0.1:8888", project = "p1", command-queue = "cmd-vm1", reply-queue = "rep-vm1"
              signing.keys = [{ id = "k1", secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" }]
            }
          }
        }
        """;

    private const string Acme = "\nguest-agent.tenants.acme.";

    [Fact]
    public void Reference_defaults_apply_to_a_minimal_config()
    {
        var s = AgentSettings.Load(null, OneTenant);

        Assert.Equal(Environment.MachineName, s.Name);
        Assert.Equal(16, s.MaxOperations);
        Assert.Equal(TimeSpan.FromHours(24), s.DedupWindow);
        Assert.Equal("sqlite", s.Journal.Provider);
        Assert.Contains("/tmp/ga-settings/journal.db", s.Journal.ConnectionString);
        var t = Assert.Single(s.Tenants);
        Assert.Equal(("acme", "p1", "cmd-vm1", "rep-vm1", 16), (t.Name, t.Project, t.CommandQueue, t.ReplyQueue, t.MaxOperations));
        Assert.Equal(["cancel", "credentials", "exec", "file.get", "file.put", "http", "ping", "status"], t.AllowedOps.Order());
        Assert.Empty(t.PolicyOf<FilesPolicy>("files")!.Roots);
        Assert.Empty(t.PolicyOf<HttpPolicy>("http")!.Destinations);
        Assert.Equal(TimeSpan.FromMilliseconds(50), s.Poll.MinInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(5), s.Poll.TransferInterval);
        Assert.Equal((TimeSpan.FromSeconds(1), 20), (s.Poll.FullScanInterval, s.Poll.FullScanDepth));
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("127.0.0.1:9464", "127.0.0.1:9464")]
    [InlineData("localhost:9100", "127.0.0.1:9100")]
    [InlineData("[::1]:9464", "[::1]:9464")]
    public void The_prometheus_endpoint_is_off_by_default_and_listens_on_a_loopback_address(string listen, string? expected)
    {
        var s = AgentSettings.Load(null, OneTenant + $"\nguest-agent.metrics.prometheus-listen = \"{listen}\"");
        Assert.Equal(expected, s.PrometheusListen?.ToString());
    }

    [Theory]
    [InlineData("0.0.0.0:9464", "is not a loopback address")]
    [InlineData("10.1.2.3:9464", "is not a loopback address")]
    [InlineData("9464", "is not ADDRESS:PORT")]
    [InlineData("127.0.0.1", "is not ADDRESS:PORT")]
    public void A_prometheus_endpoint_off_loopback_or_without_a_port_is_refused(string listen, string message)
    {
        var e = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, OneTenant + $"\nguest-agent.metrics.prometheus-listen = \"{listen}\""));
        Assert.Contains("guest-agent.metrics.prometheus-listen", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("guest-agent.tenants = null", "no tenant binding")]
    [InlineData("guest-agent.poll.transfer-interval = 80ms", "need 0s <= transfer-interval <= min-interval (50 ms), got 80 ms")]
    [InlineData("guest-agent.tenants.acme.endpoint = \"not a url\"", "endpoint")]
    [InlineData("guest-agent.tenants.acme.command-queue = \"bad.name\"", "command-queue")]
    [InlineData("guest-agent.tenants.acme.allowed-ops = [exec, format]", "unknown op 'format'")]
    [InlineData("guest-agent.tenants.acme.file-roots = [\"relative/dir\"]", "file-roots")]
    [InlineData("guest-agent.tenants.acme.auth.mode = keystone", "auth.token")]
    [InlineData("guest-agent.journal.provider = mysql", "journal.provider")]
    [InlineData("guest-agent.journal.provider = postgresql", "connection-string is required")]
    [InlineData("guest-agent.poll.claim-ttl-seconds = 30", "claim-ttl-seconds")]
    [InlineData("guest-agent.max-operations = 0", "max-operations")]
    [InlineData("guest-agent.poll.full-scan-depth = 0", "poll.full-scan-depth must be 1 .. 1000")]
    [InlineData("guest-agent.poll.full-scan-depth = 5000", "poll.full-scan-depth must be 1 .. 1000")]
    [InlineData("guest-agent.zaqar-connections = 0", "zaqar-connections")]
    [InlineData("guest-agent.file-transfer-idle-timeout = 0s", "file-transfer-idle-timeout")]
    [InlineData("guest-agent.tenants.acme.exec.allowed-programs = [\"sh\"]", "exec.allowed-programs: 'sh' is not an absolute path")]
    [InlineData("guest-agent.tenants.acme.exec.allowed-env = [LANG]", "only applies with exec.allowed-programs")]
    [InlineData("guest-agent.tenants.acme.exec.run-as = \"a b\"", "not a user name")]
    [InlineData("guest-agent.tenants.acme.max-command-bytes = 300000", "max-command-bytes must be 1024 .. 262144")]
    [InlineData("guest-agent.tenants.acme.auth.expiry-warning = 1h", "only used with auth.mode = presigned")]
    [InlineData("guest-agent.blocks.load = [exec, nosuch]", "'nosuch' is not a built-in block (exec, http, files) and guest-agent.blocks.directories names no directory")]
    [InlineData("guest-agent.blocks { load = [nosuch], directories = [\"/nonexistent\"] }", "none of /nonexistent has a directory 'nosuch'")]
    [InlineData("guest-agent.blocks.directories = [\"relative\"]", "guest-agent.blocks.directories: 'relative' is not an absolute path")]
    [InlineData("guest-agent.tenants.acme.blocks = [exec, sysinfo]", "tenants.acme.blocks: block 'sysinfo' is not loaded")]
    [InlineData("guest-agent.tenants.acme { blocks = [exec], allowed-ops = [exec, http] }", "op 'http' belongs to block 'http', which guest-agent.tenants.acme.blocks does not name")]
    [InlineData("guest-agent.tenants.acme.transport = mqtt", "tenants.acme.transport: unknown transport 'mqtt' (known: zaqar, amqp)")]
    [InlineData("guest-agent.tenants.acme.transport = amqp", "tenants.acme.endpoint must be the broker's URL, amqp://host:port")]
    public void Bad_values_are_refused_naming_the_key(string change, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, OneTenant + "\n" + change));

        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void A_binding_without_blocks_gets_the_built_in_ones_and_one_that_names_fewer_runs_only_their_ops_and_the_cores()
    {
        var narrowed = AgentSettings.Load(null, OneTenant + "\nguest-agent.tenants.acme.blocks = [http]").Tenants[0];

        Assert.Equal(["cancel", "credentials", "http", "ping", "status"], narrowed.AllowedOps.Order());
        Assert.Equal(["http"], narrowed.Policies.Keys);
        Assert.Null(narrowed.PolicyOf<ExecPolicy>("exec"));
    }

    [Fact]
    public void Exec_policy_and_size_caps_are_read_with_cautious_defaults()
    {
        var defaults = AgentSettings.Load(null, OneTenant).Tenants[0];
        var defaultExec = defaults.PolicyOf<ExecPolicy>("exec")!;
        Assert.Null(defaultExec.RunAs);
        Assert.Empty(defaultExec.AllowedRunAs);
        Assert.False(defaultExec.RestrictsPrograms);
        Assert.Equal(1L << 30, defaults.PolicyOf<FilesPolicy>("files")!.MaxFileBytes);

        var s = AgentSettings.Load(null, OneTenant + """

            guest-agent.tenants.acme {
              max-file-bytes = 512M
              max-command-bytes = 4096
              exec { run-as = deploy, allowed-run-as = [www-data], allowed-programs = ["/usr/bin/systemctl"], allowed-env = [LANG] }
            }
            """);
        var t = s.Tenants[0];
        var exec = t.PolicyOf<ExecPolicy>("exec")!;
        Assert.Equal(512L << 20, t.PolicyOf<FilesPolicy>("files")!.MaxFileBytes);
        Assert.Equal(4096, s.CommandLimitsFor(t).MaxCommandBytes);
        Assert.Equal("deploy", exec.RunAs);
        Assert.Equal(["www-data"], exec.AllowedRunAs);
        Assert.Equal(["/usr/bin/systemctl"], exec.AllowedPrograms);
        Assert.Equal(["LANG"], exec.AllowedEnv);
    }

    [Fact]
    public void Http_destinations_are_read_and_matched_exactly()
    {
        var s = AgentSettings.Load(null, OneTenant +
            "\nguest-agent.tenants.acme.http-destinations = [\"Metadata.Internal:80\", \"10.0.0.5:8443\", \"[::1]:443\"]");
        var list = s.Tenants[0].PolicyOf<HttpPolicy>("http")!.Destinations;

        Assert.Equal(["metadata.internal:80", "10.0.0.5:8443", "[::1]:443"], list.Select(d => d.ToString()));
        bool Allowed(string url) => list.Any(d => d.Matches(new Uri(url)));
        Assert.True(Allowed("http://METADATA.internal/x"));
        Assert.True(Allowed("https://10.0.0.5:8443/"));
        Assert.True(Allowed("https://[0:0::1]/"));
        Assert.False(Allowed("https://metadata.internal/x"));
        Assert.False(Allowed("http://metadata.internal:8080/x"));
        Assert.False(Allowed("http://10.0.0.6:8443/"));
        Assert.False(Allowed("http://metadata.internal.evil.example/"));
    }

    [Theory]
    [InlineData("[\"example.org\"]", "'example.org'")]
    [InlineData("[\"example.org:0\"]", "not a port")]
    [InlineData("[\"example.org:65536\"]", "not a port")]
    [InlineData("[\"example.org:http\"]", "not a port")]
    [InlineData("[\":80\"]", "host:port")]
    [InlineData("[\"::1:443\"]", "host:port")]
    [InlineData("[\"[not-v6]:443\"]", "not an IPv6 address")]
    [InlineData("[\"[::1]\"]", "[address]:port")]
    [InlineData("[\"bad host:80\"]", "not a DNS name")]
    [InlineData("[\"http://example.org:80\"]", "host:port")]
    public void Bad_http_destinations_are_refused_naming_the_key(string value, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, OneTenant + "\nguest-agent.tenants.acme.http-destinations = " + value));

        Assert.Contains("guest-agent.tenants.acme.http-destinations", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Tenant_cap_never_exceeds_the_global_cap_and_two_tenants_on_one_queue_are_refused()
    {
        var s = AgentSettings.Load(null, OneTenant + "\nguest-agent.max-operations = 2\nguest-agent.tenants.acme.max-operations = 8");
        Assert.Equal(2, s.Tenants[0].MaxOperations);

        var twice = OneTenant + "\nguest-agent.tenants.other = ${guest-agent.tenants.acme}";
        Assert.Contains("bind the same queue", Assert.Throws<ConfigException>(() => AgentSettings.Load(null, twice)).Message);
    }

    [Theory]
    [InlineData("single-tenant.conf", 1)]
    [InlineData("two-tenants-postgresql.conf", 2)]
    public void Shipped_examples_are_valid(string file, int tenants)
    {
        var s = AgentSettings.Load(Path.Combine(GuestAgent.Testing.RepoPaths.Root, "hocon", "examples", file));

        Assert.Equal(tenants, s.Tenants.Count);
    }

    [Fact]
    public void Signing_defaults_require_signed_commands_with_a_one_hour_lifetime()
    {
        var policy = AgentSettings.Load(null, OneTenant).Tenants[0].SigningPolicy;

        Assert.False(policy.AllowUnsigned);
        Assert.Equal(TimeSpan.FromHours(1), policy.MaxLifetime);
        Assert.Equal(["k1"], policy.Keys.Select(k => k.Id));
        Assert.Equal(32, policy.Keys[0].Secret.Length);
    }

    [Fact]
    public void Signing_keys_come_inline_or_from_a_file_and_rotation_lists_two()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, Convert.ToBase64String(new byte[48]) + "\n");
        try
        {
            var s = AgentSettings.Load(null, OneTenant + Acme +
                $"signing.keys = [{{ id = \"new\", secret-file = \"{file}\" }}, {{ id = \"old\", secret = \"{Convert.ToBase64String(new byte[32])}\" }}]");
            var policy = s.Tenants[0].SigningPolicy;
            Assert.Equal(["new", "old"], policy.Keys.Select(k => k.Id));
            Assert.Equal(48, policy.Keys[0].Secret.Length);
            Assert.Equal("new", policy.Current!.Id);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Binding_without_keys_must_allow_unsigned_explicitly()
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, OneTenant + Acme + "signing.keys = []"));
        Assert.Contains("guest-agent.tenants.acme.signing", ex.Message);
        Assert.Contains("allow-unsigned = true", ex.Message);

        var open = AgentSettings.Load(null, OneTenant + Acme + "signing { keys = [], allow-unsigned = true }").Tenants[0].SigningPolicy;
        Assert.True(open.AllowUnsigned);
        Assert.Empty(open.Keys);
    }

    [Theory]
    [InlineData("signing.keys = [{ id = \"k1\", secret = \"AAEC\" }]", "at least 32")]
    [InlineData("signing.keys = [{ id = \"k1\", secret = \"not base64!\" }]", "not base64")]
    [InlineData("signing.keys = [{ id = \"k1\" }]", "exactly one of secret")]
    [InlineData("signing.keys = [{ id = \"k1\", secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\", secret-file = \"/x\" }]", "exactly one of secret")]
    [InlineData("signing.keys = [{ id = \"k1\", secret-file = \"/nonexistent/k1.key\" }]", "cannot read /nonexistent/k1.key")]
    [InlineData("signing.keys = [{ secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\" }]", "id is required")]
    [InlineData("signing.keys = [{ id = \"k1\", secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\" }, { id = \"k1\", secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\" }]", "given twice")]
    [InlineData("signing.keys = \"k1\"", "must be a list")]
    [InlineData("signing.max-command-lifetime = 24h", "dedup-window")]
    [InlineData("signing.max-command-lifetime = 0s", "positive")]
    public void Bad_signing_settings_are_refused_naming_the_key(string change, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, OneTenant + Acme + change));

        Assert.Contains("guest-agent.tenants.acme.signing", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Missing_config_file_is_a_clear_error()
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load("/nonexistent/agent.conf"));

        Assert.Contains("/nonexistent/agent.conf", ex.Message);
    }
}
