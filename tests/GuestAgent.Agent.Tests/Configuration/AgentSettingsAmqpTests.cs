using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Transports.Amqp;

namespace GuestAgent.Agent.Tests.Configuration;

/// <summary>A binding with transport = amqp: the broker's URL in endpoint, the tenant's vhost, the guest's user and its queue and exchange.</summary>
public sealed class AgentSettingsAmqpTests
{
    private static string Config(string amqp, string endpoint = "amqp://127.0.0.1:5672") => $$"""
        guest-agent {
          state-dir = "/tmp/ga-settings"
          tenants.acme {
            transport = amqp
            endpoint = "{{endpoint}}", project = "acme", command-queue = "commands", reply-queue = "replies"
            signing.keys = [{ id = "k1", secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" }]
            {{amqp}}
          }
        }
        """;

    private const string Minimal = """amqp { user = "acme.vm1", password = "pw", command-queue = "ga.vm1.commands", reply-exchange = "ga.vm1.replies" }""";

    private static AmqpSettings SettingsOf(string config) => AmqpTransport.SettingsOf(Assert.Single(AgentSettings.Load(null, config).Tenants));

    [Fact]
    public void A_minimal_block_takes_the_documented_defaults()
    {
        var s = SettingsOf(Config(Minimal));

        Assert.Equal(("127.0.0.1", 5672, false), (s.Host, s.Port, s.Tls));
        Assert.Equal("acme", s.VirtualHost);
        Assert.Equal(("acme.vm1", "pw"), (s.User, s.Password));
        Assert.Equal(("ga.vm1.commands", "ga.vm1.replies", "ga.vm1.replies"), (s.CommandQueue, s.ReplyExchange, s.ReplyRoutingKey));
        Assert.Equal(TimeSpan.FromSeconds(30), s.Heartbeat);
        Assert.Equal(TimeSpan.FromSeconds(30), s.MaxReconnectDelay);
        Assert.Equal(TimeSpan.FromSeconds(30), s.PublishTimeout);
        Assert.Equal(100, s.MaxPrefetch);
        Assert.Null(s.QueryQueue);
    }

    [Fact]
    public void The_password_can_come_from_a_file_and_every_other_key_can_be_set()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "from-file\n");
            var s = SettingsOf(Config($$"""
                amqp { user = u, password-file = "{{file}}", vhost = other, command-queue = q, query-queue = qq, reply-exchange = x, reply-routing-key = k,
                       heartbeat = 10s, max-reconnect-delay = 5s, publish-timeout = 7s, max-prefetch = 8 }
                """, "amqps://broker.example"));

            Assert.Equal(("broker.example", 5671, true), (s.Host, s.Port, s.Tls));
            Assert.Equal(("other", "from-file", "k", "qq"), (s.VirtualHost, s.Password, s.ReplyRoutingKey, s.QueryQueue));
            Assert.Equal((TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(7), 8),
                (s.Heartbeat, s.MaxReconnectDelay, s.PublishTimeout, s.MaxPrefetch));
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static TheoryData<string, string> Bad => new()
    {
        { Config(Minimal, "http://127.0.0.1:5672"), "endpoint must be the broker's URL, amqp://host:port" },
        { Config(Minimal, "amqp://u:p@127.0.0.1:5672"), "endpoint must hold only scheme, host and port" },
        { Config(""), "amqp is required with transport = amqp" },
        { Config("""amqp { password = pw, command-queue = q, reply-exchange = x }"""), "amqp.user is required" },
        { Config("""amqp { user = u, command-queue = q, reply-exchange = x }"""), "amqp.password-file (or amqp.password) is required" },
        { Config("""amqp { user = u, password = p, password-file = "/nonexistent", command-queue = q, reply-exchange = x }"""), "give one, not both" },
        { Config("""amqp { user = u, password-file = "/nonexistent/pw", command-queue = q, reply-exchange = x }"""), "amqp.password-file: cannot read" },
        { Config("""amqp { user = u, password = p, reply-exchange = x }"""), "amqp.command-queue is required" },
        { Config("""amqp { user = u, password = p, command-queue = "a b", reply-exchange = x }"""), "amqp.command-queue must be 1..255" },
        { Config("""amqp { user = u, password = p, command-queue = q, reply-exchange = "amq.default" }"""), "amqp.reply-exchange: 'amq.default' is a broker exchange" },
        { Config("""amqp { user = u, password = p, command-queue = q, reply-exchange = x, heartbeat = 0s }"""), "amqp.heartbeat must be positive" },
        { Config("""amqp { user = u, password = p, command-queue = q, reply-exchange = x, max-prefetch = 0 }"""), "amqp.max-prefetch must be 1 .. 65535" },
        { Config("""amqp { user = u, password = p, command-queue = q, query-queue = q, reply-exchange = x }"""), "amqp.query-queue must differ from" },
        { Config("""amqp { user = u, password = p, command-queue = q, query-queue = "q*", reply-exchange = x }"""), "amqp.query-queue must be 1..255" },
    };

    [Theory]
    [MemberData(nameof(Bad))]
    public void Bad_values_are_refused_naming_the_key(string config, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, config));

        Assert.Contains("guest-agent.tenants.acme.", ex.Message);
        Assert.Contains(expected, ex.Message);
    }
}
