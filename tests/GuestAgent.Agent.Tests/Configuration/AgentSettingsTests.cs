using GuestAgent.Agent.Configuration;

namespace GuestAgent.Agent.Tests.Configuration;

public sealed class AgentSettingsTests
{
    private const string OneTenant = """
        guest-agent {
          state-dir = "/tmp/ga-settings"
          tenants {
            acme { endpoint = "http://127.0.0.1:8888", project = "p1", command-queue = "cmd-vm1", reply-queue = "rep-vm1" }
          }
        }
        """;

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
        Assert.Equal(["cancel", "exec", "ping", "status"], t.AllowedOps.Order());
        Assert.Equal(TimeSpan.FromMilliseconds(50), s.Poll.MinInterval);
    }

    [Theory]
    [InlineData("guest-agent.tenants = null", "no tenant binding")]
    [InlineData("guest-agent.tenants.acme.endpoint = \"not a url\"", "endpoint")]
    [InlineData("guest-agent.tenants.acme.command-queue = \"bad.name\"", "command-queue")]
    [InlineData("guest-agent.tenants.acme.allowed-ops = [exec, format]", "unknown op 'format'")]
    [InlineData("guest-agent.tenants.acme.auth.mode = keystone", "auth.token")]
    [InlineData("guest-agent.journal.provider = mysql", "journal.provider")]
    [InlineData("guest-agent.journal.provider = postgresql", "connection-string is required")]
    [InlineData("guest-agent.poll.claim-ttl-seconds = 30", "claim-ttl-seconds")]
    [InlineData("guest-agent.max-operations = 0", "max-operations")]
    public void Bad_values_are_refused_naming_the_key(string change, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, OneTenant + "\n" + change));

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
    public void Missing_config_file_is_a_clear_error()
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load("/nonexistent/agent.conf"));

        Assert.Contains("/nonexistent/agent.conf", ex.Message);
    }
}
