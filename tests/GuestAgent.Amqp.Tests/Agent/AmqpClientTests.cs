using GuestAgent.Client;
using GuestAgent.Client.Transport;
using GuestAgent.Client.Transports.Amqp;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Amqp.Tests.Agent;

/// <summary>
/// The controller side over AMQP, end to end: the SDK's <see cref="GuestClient"/> on an
/// <see cref="AmqpTransport"/>, and guestctl --transport amqp, against a real agent process
/// consuming a provisioned guest's queue on the shared bed. The controller is the tenant's
/// administrator; the agent holds only the guest's own user. The operations themselves (call, cast
/// and status, files, ping ...) run on AMQP as on Zaqar in the agent tests' operation matrix
/// (GuestAgent.Agent.Tests/E2E/Matrix); these are what only AMQP has.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AmqpClientTests
{
    private static readonly TimeSpan Wait = AmqpAgentContext.Wait;

    [Fact]
    public async Task Call_over_amqp_returns_output_reassembled_from_chunk_replies_and_the_exit_code()
    {
        await using var e2e = await AmqpAgentContext.StartAsync();
        await using var guest = e2e.NewClient();

        // 200,000 bytes: past the inline cap, so the output comes as checksummed chunk replies.
        var result = await guest.Client.CallAsync(new ExecArgs { Shell = "head -c 200000 /dev/zero | tr '\\0' x; echo err >&2; exit 3" },
            new CallOptions { Timeout = Wait });

        Assert.Equal(ReplyStatus.Failed, result.Status);
        Assert.Equal("nonzero_exit", result.Error?.Code);
        Assert.Equal(3, result.ExitCode);
        Assert.Equal(new string('x', 200_000), result.StdoutText);
        Assert.Equal("err\n", result.StderrText);
        Assert.Contains(result.Replies, r => r.Seq > 0 && !r.Final);
        // Replies came by the consumer's announcements, every one verified against the binding's key.
        var stats = guest.Client.Stats;
        Assert.True(stats.PushLive);
        Assert.True(stats.Announcements >= result.Replies.Count);
        Assert.Equal(0, stats.Unverified);
    }

    [Fact]
    public async Task Guestctl_exec_over_amqp_prints_the_remote_output_and_exits_with_its_code()
    {
        await using var e2e = await AmqpAgentContext.StartAsync();
        var home = Path.Combine(e2e.Dir, "home");
        Directory.CreateDirectory(home);

        var run = await Guestctl.RunAsync(["exec", "--wait", "30", "--", "sh", "-c", "echo hello from the guest; echo oops >&2; exit 7"],
            GuestctlEnv(e2e, home));

        Assert.Equal(7, run.ExitCode);
        Assert.Equal("hello from the guest\n", run.Stdout);
        Assert.Equal("oops\n", run.Stderr);
    }

    [Fact]
    public async Task A_reply_queue_the_broker_does_not_have_fails_the_call_at_once_naming_the_queue()
    {
        var bed = RabbitBed.Shared;
        var guest = bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        await using var transport = new AmqpTransport(new AmqpTransportOptions
        {
            Endpoint = new Uri($"amqp://127.0.0.1:{bed.AmqpPort}/{guest.VirtualHost}"),
            User = bed.AdminUser,
            Password = bed.AdminPassword,
            // The wrong prefix: ga.GUEST. is what provision.sh made.
            NamePrefix = "gb.",
        });
        await using var client = new GuestClient(transport, "commands", "replies");

        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<AmqpTransportException>(() => client.PingAsync(new CallOptions { Timeout = Wait }));

        Assert.Contains("'gb.replies'", error.Message);
        Assert.Contains("no such queue", error.Message);
        Assert.Equal(TransportErrorKind.Permanent, transport.Classify(error));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Guestctl_over_amqp_with_a_wrong_password_no_url_or_an_unknown_transport_says_what_to_fix()
    {
        var bed = RabbitBed.Shared;
        var guest = bed.Provision(RabbitBed.NewName("t"), RabbitBed.NewName("g"));
        var home = Path.Combine(Path.GetTempPath(), "guestctl-amqp-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(home);
        try
        {
            var env = new Dictionary<string, string>
            {
                ["HOME"] = home,
                ["GUESTAGENT_TRANSPORT"] = "amqp",
                ["GUESTAGENT_AMQP_URL"] = $"amqp://127.0.0.1:{bed.AmqpPort}/{guest.VirtualHost}",
                ["GUESTAGENT_AMQP_USER"] = bed.AdminUser,
                ["GUESTAGENT_AMQP_PASSWORD"] = "not-the-password",
                ["GUESTAGENT_AMQP_PREFIX"] = $"ga.{guest.Guest}.",
                ["GUESTAGENT_QUEUE"] = "commands",
            };
            var wrong = await Guestctl.RunAsync(["ping", "--wait", "10"], env);
            env.Remove("GUESTAGENT_AMQP_URL");
            var noUrl = await Guestctl.RunAsync(["ping", "--wait", "10"], env);
            env["GUESTAGENT_TRANSPORT"] = "rabbit";
            var noSuchTransport = await Guestctl.RunAsync(["ping", "--wait", "10"], env);

            Assert.Equal(125, wrong.ExitCode);
            Assert.Contains("refused the user name or password", wrong.Stderr);
            Assert.DoesNotContain("not-the-password", wrong.Stderr);
            Assert.Equal(125, noUrl.ExitCode);
            Assert.Contains("--amqp-url", noUrl.Stderr);
            Assert.Contains("GUESTAGENT_AMQP_URL", noUrl.Stderr);
            Assert.Equal(125, noSuchTransport.ExitCode);
            Assert.Contains("GUESTAGENT_TRANSPORT must be zaqar or amqp; got 'rabbit'", noSuchTransport.Stderr);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    /// <summary>guestctl's environment for <paramref name="e2e"/>'s guest: the tenant's administrator, the guest's broker names, the binding's key.</summary>
    private static Dictionary<string, string> GuestctlEnv(AmqpAgentContext e2e, string home) => new()
    {
        ["HOME"] = home,
        ["GUESTAGENT_TRANSPORT"] = "amqp",
        ["GUESTAGENT_AMQP_URL"] = $"amqp://127.0.0.1:{e2e.Bed.AmqpPort}/{Uri.EscapeDataString(e2e.Guest.VirtualHost)}",
        ["GUESTAGENT_AMQP_USER"] = e2e.Bed.AdminUser,
        ["GUESTAGENT_AMQP_PASSWORD"] = e2e.Bed.AdminPassword,
        ["GUESTAGENT_AMQP_PREFIX"] = $"ga.{e2e.Guest.Guest}.",
        ["GUESTAGENT_QUEUE"] = e2e.Tenant.CommandQueue,
        ["GUESTAGENT_SIGNING_KEYS"] = $"{e2e.Tenant.Keys[0].Id}={Convert.ToBase64String(e2e.Tenant.Keys[0].Secret)}",
    };
}
