using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Platform.Linux;
using GuestAgent.Zaqar;
using GuestAgent.Agent.Transports.Zaqar;
using GuestAgent.Agent.Transports.Zaqar.Credentials;

namespace GuestAgent.Agent.Tests.Configuration;

/// <summary>auth.mode = presigned: the binding's two pre-signed URL blocks and their checks.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentSettingsPreSignedTests
{
    private const string Secret = "not-a-real-secret";
    private static readonly IFileSystem Files = new LinuxFileSystem();
    private static readonly DateTimeOffset Later = DateTimeOffset.UtcNow.AddDays(7);

    private static string Block(PreSignedUrl u, bool withProject = true) =>
        $"{{ {(withProject ? $"project = \"{u.Project}\", " : "")}paths = [{string.Join(", ", u.Paths.Select(p => $"\"{p}\""))}], " +
        $"methods = [{string.Join(", ", u.Methods)}], expires = \"{u.Expires}\", signature = \"{u.Signature}\" }}";

    private static PreSignedUrl Cmd(string queue = "cmd-vm1", string project = "p1", DateTimeOffset? expires = null, string[]? methods = null) =>
        PreSignedUrl.Mint(Secret, queue, project, expires ?? Later, ["messages", "claims"], methods ?? ["POST", "DELETE"]);

    private static PreSignedUrl Rep(string queue = "rep-vm1", string[]? methods = null) =>
        PreSignedUrl.Mint(Secret, queue, "p1", Later, ["messages"], methods ?? ["POST"]);

    private static string Config(string? command, string? reply, string extra = "", string stateDir = "/tmp/ga-settings") => $$"""
        guest-agent {
          state-dir = "{{stateDir}}"
          tenants.acme {
            endpoint = "http://127.0.0.1:8888", project = "p1", command-queue = "cmd-vm1", reply-queue = "rep-vm1"
            signing.keys = [{ id = "k1", secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" }]
            auth {
              mode = presigned
              {{(command is null ? "" : "command-queue-signature = " + command)}}
              {{(reply is null ? "" : "reply-queue-signature = " + reply)}}
              {{extra}}
            }
          }
        }
        """;

    [Fact]
    public void Both_signatures_are_read_as_zaqar_returns_them()
    {
        var cmd = Cmd();
        var rep = Rep();
        var t = Assert.Single(AgentSettings.Load(null, Config(Block(cmd), Block(rep, withProject: false))).Tenants);

        Assert.Equal("presigned", ZaqarTransport.AuthOf(t).Mode);
        Assert.Null(ZaqarTransport.AuthOf(t).Token);
        Assert.Equal(cmd, ZaqarTransport.AuthOf(t).CommandQueueUrl! with { Paths = cmd.Paths, Methods = cmd.Methods });
        Assert.Equal(cmd.Paths, ZaqarTransport.AuthOf(t).CommandQueueUrl!.Paths);
        Assert.Equal(cmd.Methods, ZaqarTransport.AuthOf(t).CommandQueueUrl!.Methods);
        Assert.Equal(rep.Signature, ZaqarTransport.AuthOf(t).ReplyQueueUrl!.Signature);
        Assert.Equal("p1", ZaqarTransport.AuthOf(t).ReplyQueueUrl!.Project);
    }

    public static TheoryData<string, string> Bad => new()
    {
        { Config(null, Block(Rep())), "guest-agent.tenants.acme.auth.command-queue-signature is required" },
        { Config(Block(Cmd()), null), "guest-agent.tenants.acme.auth.reply-queue-signature is required" },
        { Config(Block(Cmd(queue: "other")), Block(Rep())), "command-queue-signature.paths: '/v2/queues/other/claims' is not a path of queue 'cmd-vm1'" },
        { Config(Block(Cmd()), Block(Rep(queue: "cmd-vm1"))), "reply-queue-signature.paths" },
        { Config(Block(Cmd(methods: ["POST"])), Block(Rep())), "command-queue-signature does not allow DELETE /v2/queues/cmd-vm1/messages" },
        { Config(Block(Cmd()), Block(Rep(methods: ["GET"]))), "reply-queue-signature does not allow POST /v2/queues/rep-vm1/messages" },
        { Config(Block(Cmd(project: "p2")), Block(Rep())), "command-queue-signature.project is 'p2'" },
        { Config(Block(Cmd(expires: DateTimeOffset.UtcNow.AddMinutes(-1))), Block(Rep())), "command-queue-signature expired" },
        { Config(Block(Cmd() with { Expires = "next week" }), Block(Rep())), "command-queue-signature.expires" },
        { Config(Block(Cmd() with { Signature = "" }), Block(Rep())), "command-queue-signature.signature is required" },
        { Config(Block(Cmd()), Block(Rep()), "token = \"abc\""), "auth.token: a presigned binding holds no keystone token" },
        { Config(Block(Cmd()), "{ paths = [], methods = [POST], expires = \"2030-01-01T00:00:00\", signature = \"ab\" }"), "reply-queue-signature.paths is required" },
        { Config(Block(Cmd()), Block(Rep())).Replace("mode = presigned", "mode = keystone, token = \"t\""), "only used with auth.mode = presigned" },
        { Config(null, null).Replace("mode = presigned", "mode = magic"), "auth.mode must be none, keystone or presigned" },
    };

    [Theory]
    [MemberData(nameof(Bad))]
    public void Bad_presigned_blocks_are_refused_naming_the_key(string config, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, config));

        Assert.Contains(expected, ex.Message);
    }

    private static string NewStateDir() => Directory.CreateTempSubdirectory("ga-settings-").FullName;

    [Fact]
    public void A_renewal_kept_in_the_state_directory_replaces_older_configured_urls_even_expired_ones()
    {
        var dir = NewStateDir();
        var expired = Cmd(expires: DateTimeOffset.UtcNow.AddMinutes(-5));
        var renewedCmd = Cmd(expires: DateTimeOffset.UtcNow.AddDays(30));
        var renewedRep = Rep();
        CredentialsStore.Save(Files, dir, "acme", renewedCmd, renewedRep, DateTimeOffset.UtcNow);

        var t = Assert.Single(AgentSettings.Load(null, Config(Block(expired), Block(Rep()), stateDir: dir)).Tenants);

        Assert.Equal(renewedCmd.Signature, ZaqarTransport.AuthOf(t).CommandQueueUrl!.Signature);
        Assert.Equal(renewedRep.Signature, ZaqarTransport.AuthOf(t).ReplyQueueUrl!.Signature);
        Assert.Contains("a renewal of", ZaqarTransport.AuthOf(t).Source);
    }

    [Fact]
    public void Configured_urls_that_expire_later_than_the_kept_renewal_win()
    {
        var dir = NewStateDir();
        CredentialsStore.Save(Files, dir, "acme", Cmd(expires: DateTimeOffset.UtcNow.AddDays(1)), Rep(), DateTimeOffset.UtcNow);
        var configured = Cmd(expires: DateTimeOffset.UtcNow.AddDays(60));

        var t = Assert.Single(AgentSettings.Load(null, Config(Block(configured), Block(Rep()), stateDir: dir)).Tenants);

        Assert.Equal(configured.Signature, ZaqarTransport.AuthOf(t).CommandQueueUrl!.Signature);
        Assert.Equal("the configuration", ZaqarTransport.AuthOf(t).Source);
    }

    [Fact]
    public void A_kept_renewal_for_another_queue_is_not_used_and_expired_configured_urls_still_stop_the_start()
    {
        var dir = NewStateDir();
        CredentialsStore.Save(Files, dir, "acme", Cmd(queue: "old-queue", expires: DateTimeOffset.UtcNow.AddDays(30)), Rep(), DateTimeOffset.UtcNow);

        var ex = Assert.Throws<ConfigException>(() =>
            AgentSettings.Load(null, Config(Block(Cmd(expires: DateTimeOffset.UtcNow.AddMinutes(-5))), Block(Rep()), stateDir: dir)));

        Assert.Contains("command-queue-signature expired", ex.Message);
    }

    [Fact]
    public void A_damaged_renewal_file_stops_the_start_naming_the_file()
    {
        var dir = NewStateDir();
        var file = CredentialsStore.PathFor(dir, "acme");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "{ not json");

        var ex = Assert.Throws<ConfigException>(() => AgentSettings.Load(null, Config(Block(Cmd()), Block(Rep()), stateDir: dir)));

        Assert.Contains(file, ex.Message);
    }
}
