using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Transports.Zaqar;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tests.Configuration;

/// <summary>A binding's push block: Zaqar's WebSocket endpoint and the timings around it.</summary>
public sealed class AgentSettingsPushTests
{
    private static string Config(string push, string auth = "auth { mode = none }") => $$"""
        guest-agent {
          state-dir = "/tmp/ga-settings"
          tenants.acme {
            endpoint = "http://127.0.0.1:8888", project = "p1", command-queue = "cmd-vm1", reply-queue = "rep-vm1"
            signing.keys = [{ id = "k1", secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" }]
            {{auth}}
            {{push}}
          }
        }
        """;

    private static ZaqarPush? PushOf(string config) => ZaqarTransport.AuthOf(Assert.Single(AgentSettings.Load(null, config).Tenants)).Push;

    [Fact]
    public void Without_a_push_block_the_binding_polls()
    {
        Assert.Null(PushOf(Config("")));
        Assert.Null(PushOf(Config("push { websocket = \"\" }")));
    }

    [Fact]
    public void A_websocket_url_alone_takes_the_documented_defaults()
    {
        var push = PushOf(Config("push { websocket = \"ws://127.0.0.1:9000\" }"))!;

        Assert.Equal(new Uri("ws://127.0.0.1:9000"), push.Url);
        Assert.Equal(TimeSpan.FromSeconds(60), push.SafetyPoll);
        Assert.Equal(3600, push.SubscriptionTtlSeconds);
        Assert.Equal(TimeSpan.FromMinutes(10), push.RenewInterval);
        Assert.Equal(TimeSpan.FromSeconds(60), push.PingInterval);
        Assert.Equal(TimeSpan.FromSeconds(60), push.PingTimeout);
    }

    [Fact]
    public void Every_timing_can_be_set()
    {
        const string block = """
            push { websocket = "wss://zaqar.example:9000", safety-poll = 5m, subscription-ttl = 2h, renew-interval = 30m,
                   ping-interval = 20s, ping-timeout = 5s, max-reconnect-delay = 2m }
            """;
        var push = PushOf(Config(block, "auth { mode = keystone, token = \"t\" }"))!;

        Assert.Equal(TimeSpan.FromMinutes(5), push.SafetyPoll);
        Assert.Equal(7200, push.SubscriptionTtlSeconds);
        Assert.Equal(TimeSpan.FromMinutes(30), push.RenewInterval);
        Assert.Equal(TimeSpan.FromSeconds(20), push.PingInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), push.PingTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), push.MaxReconnectDelay);
    }

    public static TheoryData<string, string> Bad => new()
    {
        { Config("push { websocket = \"http://127.0.0.1:9000\" }"), "push.websocket must be Zaqar's WebSocket URL, ws:// or wss://" },
        { Config("push { websocket = \"127.0.0.1:9000\" }"), "push.websocket must be Zaqar's WebSocket URL" },
        { Config("push = \"ws://127.0.0.1:9000\""), "push must be a block" },
        { Config("push { websocket = \"ws://h:1\", safety-poll = 0s }"), "push.safety-poll must be positive" },
        { Config("push { websocket = \"ws://h:1\", subscription-ttl = 30s }"), "push.subscription-ttl must be at least 60s" },
        { Config("push { websocket = \"ws://h:1\", subscription-ttl = 10m, renew-interval = 10m }"), "push.renew-interval" },
    };

    [Theory]
    [MemberData(nameof(Bad))]
    public void Bad_push_blocks_are_refused_naming_the_key(string config, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, config));

        Assert.Contains("guest-agent.tenants.acme.", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void A_presigned_binding_cannot_have_push_and_is_told_why()
    {
        var url = PreSignedUrl.Mint("s", "cmd-vm1", "p1", DateTimeOffset.UtcNow.AddDays(1), ["messages", "claims"], ["POST", "DELETE"]);
        var rep = PreSignedUrl.Mint("s", "rep-vm1", "p1", DateTimeOffset.UtcNow.AddDays(1), ["messages"], ["POST"]);
        string Block(PreSignedUrl u) =>
            $"{{ paths = [{string.Join(", ", u.Paths.Select(p => $"\"{p}\""))}], methods = [{string.Join(", ", u.Methods)}], " +
            $"expires = \"{u.Expires}\", signature = \"{u.Signature}\" }}";
        var auth = $"auth {{ mode = presigned, command-queue-signature = {Block(url)}, reply-queue-signature = {Block(rep)} }}";

        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, Config("push { websocket = \"ws://127.0.0.1:9000\" }", auth)));

        Assert.Contains("a guest on pre-signed URLs cannot use push", ex.Message);
        Assert.Contains("the binding polls", ex.Message);
    }
}
