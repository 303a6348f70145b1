using System.Text;
using GuestAgent.Agent.Credentials;
using GuestAgent.Protocol;
using GuestAgent.Testing;
using GuestAgent.Zaqar;
using GuestAgent.Agent.Transports.Zaqar.Credentials;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// Renewing a running guest's pre-signed URLs with a signed <c>credentials</c> command, on the
/// keystone-authenticated Zaqar of the <see cref="KeystoneBed"/>: the controller holds tenant A's
/// keystone token, the guest only its URLs.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CredentialsRenewalTests
{
    private static readonly string[] CommandPaths = ["claims", "messages"];
    private static readonly string[] CommandMethods = ["DELETE", "POST"];
    private static readonly string[] ReplyPaths = ["messages"];
    private static readonly string[] ReplyMethods = ["POST"];
    private readonly KeystoneBed _bed = KeystoneBed.Shared;

    private (PreSignedUrl Command, PreSignedUrl Reply) Mint(string queue, string reply, DateTimeOffset expires, Tenant tenant = Tenant.A) =>
        (_bed.Mint(tenant, queue, expires, CommandPaths, CommandMethods), _bed.Mint(tenant, reply, expires, ReplyPaths, ReplyMethods));

    private async Task<(string Queue, string Reply)> QueuesAsync()
    {
        var a = _bed.Client(Tenant.A);
        var queue = ZaqarBed.NewQueue("cr-cmd");
        var reply = ZaqarBed.NewQueue("cr-rep");
        await a.CreateQueueAsync(queue);
        await a.CreateQueueAsync(reply);
        return (queue, reply);
    }

    private static async Task<ExecResult> EchoAsync(RawController controller, string text, AgentProcess agent)
    {
        var cmd = await controller.SendAsync(controller.Exec(new ExecArgs { Argv = ["echo", text] }));
        var final = await controller.FinalAsync(cmd.Id, TimeSpan.FromSeconds(60));
        Assert.True(final.Status == ReplyStatus.Succeeded, $"{final.Status} {final.Error?.Code} {final.Error?.Message}\n{agent.Log}");
        return final.ResultAs<ExecResult>()!;
    }

    private static async Task<PingResult> PingAsync(RawController controller)
    {
        var cmd = await controller.SendAsync(controller.Call(new PingArgs()));
        var final = await controller.FinalAsync(cmd.Id, TimeSpan.FromSeconds(60));
        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        return final.ResultAs<PingResult>()!;
    }

    [Fact]
    public async Task Renewed_urls_keep_a_running_guest_working_past_the_old_expiry_and_across_a_restart()
    {
        var (queue, reply) = await QueuesAsync();
        // Old URLs that run out within the test; the guest has to be on the new ones by then.
        var oldExpiry = DateTimeOffset.UtcNow.AddSeconds(30);
        var old = Mint(queue, reply, oldExpiry);
        using var agent = AgentProcess.Start(_bed.ZaqarUrl,
            [new TestTenant("t1", _bed.TenantA.ProjectId, queue, reply, ExtraConfig: Guestctl.PreSignedAuthBlock(old.Command, old.Reply))]);
        var controller = new RawController(_bed.Client(Tenant.A), queue, reply, TestKeys.K1, [TestKeys.K1]);
        var before = await PingAsync(controller);
        Assert.Equal(old.Command.ExpiresAt, before.CredentialsExpireAt);
        // Less than a day left (the default auth.expiry-warning): the agent says so.
        await agent.WaitForLogAsync("renew them with guestctl credentials renew", TimeSpan.FromSeconds(10));

        // guestctl mints through Zaqar's share API with tenant A's token and sends the signed command;
        // it waits for the answer by push over the keystone-authenticated socket.
        var home = Directory.CreateTempSubdirectory("ga-renew-").FullName;
        var (code, stdout, stderr) = await Guestctl.RunAsync(
            ["credentials", "renew", "--queue", queue, "--reply-queue", reply, "--expires-in", "1d", "--endpoint", _bed.ZaqarUrl,
                "--websocket", _bed.WebSocketUrl ?? throw new InvalidOperationException("the keystone bed runs without its WebSocket server")],
            new Dictionary<string, string>
            {
                ["HOME"] = home,
                ["OS_AUTH_TOKEN"] = await _bed.TokenAsync(Tenant.A),
                // The socket's requests name the project themselves (over HTTP keystone fills it in from the token).
                ["ZAQAR_PROJECT"] = _bed.TenantA.ProjectId,
                ["GUESTAGENT_SIGNING_KEYS"] = $"{TestKeys.K1.Id}={Convert.ToBase64String(TestKeys.K1.Secret)}",
            });
        Directory.Delete(home, recursive: true);
        Assert.True(code == 0, $"guestctl credentials renew exited {code}: {stderr}\n{agent.Log}");
        Assert.Contains("renewed", stdout);
        Assert.False(stderr.Contains("no push"), stderr);

        var after = await PingAsync(controller);
        Assert.NotNull(after.CredentialsExpireAt);
        Assert.InRange(after.CredentialsExpireAt!.Value, DateTimeOffset.UtcNow.AddHours(23), DateTimeOffset.UtcNow.AddHours(25));
        var stored = CredentialsStore.PathFor(Path.Combine(agent.StateDir, "state"), "t1");
        Assert.True(File.Exists(stored), $"{stored} missing");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(stored));

        // Past the old URLs' expiry the guest still claims and replies: it uses the new ones.
        var wait = oldExpiry - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }
        Assert.Equal("after-expiry\n", (await EchoAsync(controller, "after-expiry", agent)).Stdout.Data);

        // A restart reads the configuration, whose URLs have expired: it takes the renewed ones.
        agent.Kill();
        agent.Start();
        Assert.Equal("after-restart\n", (await EchoAsync(controller, "after-restart", agent)).Stdout.Data);
        Assert.Contains("pre-signed URLs from a renewal of", agent.Log);
    }

    [Fact]
    public async Task Credentials_unsigned_foreign_forged_or_expired_change_nothing_and_the_guest_keeps_working()
    {
        var (queue, reply) = await QueuesAsync();
        var other = ZaqarBed.NewQueue("cr-other");
        var current = Mint(queue, reply, DateTimeOffset.UtcNow.AddHours(2));
        // Unsigned commands are accepted for this binding, to show that a credentials command never is.
        using var agent = AgentProcess.Start(_bed.ZaqarUrl,
            [new TestTenant("t1", _bed.TenantA.ProjectId, queue, reply, AllowUnsigned: true, ExtraConfig: Guestctl.PreSignedAuthBlock(current.Command, current.Reply))]);
        var controller = new RawController(_bed.Client(Tenant.A), queue, reply, TestKeys.K1, [TestKeys.K1]);
        Assert.Equal(current.Command.ExpiresAt, (await PingAsync(controller)).CredentialsExpireAt);

        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        var fresh = Mint(queue, reply, tomorrow);
        static PreSignedBlock Block(PreSignedUrl u) => new(u.Paths, u.Methods, u.Expires, u.Signature, u.Project);
        var forged = PreSignedUrl.Mint("not-the-zaqar-secret-" + Guid.NewGuid(), queue, _bed.TenantA.ProjectId, tomorrow, CommandPaths, CommandMethods);
        var cases = new (string What, RawController Sender, CredentialsArgs Args, ReplyStatus Status, string Code)[]
        {
            ("unsigned", controller.WithKey(null), new(Block(fresh.Command), Block(fresh.Reply)), ReplyStatus.Rejected, RejectCodes.Unsigned),
            ("another queue's URL", controller, new(Block(Mint(other, reply, tomorrow).Command), null), ReplyStatus.Failed, CredentialsOperation.InvalidCredentials),
            ("tenant B's URL", controller, new(Block(Mint(queue, reply, tomorrow, Tenant.B).Command), null), ReplyStatus.Failed, CredentialsOperation.InvalidCredentials),
            ("reply URL without POST", controller, new(null, Block(_bed.Mint(Tenant.A, reply, tomorrow, ReplyPaths, ["GET"]))), ReplyStatus.Failed, CredentialsOperation.InvalidCredentials),
            ("expired", controller, new(Block(Mint(queue, reply, DateTimeOffset.UtcNow.AddMinutes(-1)).Command), null), ReplyStatus.Failed, CredentialsOperation.InvalidCredentials),
            ("signed with another secret", controller, new(Block(forged), null), ReplyStatus.Failed, CredentialsOperation.CredentialsRefused),
        };
        var failures = new StringBuilder();
        foreach (var (what, sender, args, status, code) in cases)
        {
            var cmd = await sender.SendAsync(sender.Call(args));
            var final = await controller.FinalAsync(cmd.Id, TimeSpan.FromSeconds(60));
            if (final.Status != status || final.Error?.Code != code)
            {
                failures.AppendLine($"{what}: expected {status} {code}, got {final.Status} {final.Error?.Code} {final.Error?.Message}");
            }
        }
        Assert.True(failures.Length == 0, failures + agent.Log);

        // Nothing changed: same expiry, nothing kept for a restart, commands still run.
        Assert.Equal(current.Command.ExpiresAt, (await PingAsync(controller)).CredentialsExpireAt);
        Assert.False(File.Exists(CredentialsStore.PathFor(Path.Combine(agent.StateDir, "state"), "t1")));
        Assert.Equal("still-here\n", (await EchoAsync(controller, "still-here", agent)).Stdout.Data);
    }

    [Fact]
    public async Task A_reply_to_queue_the_guest_cannot_post_to_is_rejected_on_its_own_reply_queue_and_runs_nothing()
    {
        var (queue, reply) = await QueuesAsync();
        var elsewhere = ZaqarBed.NewQueue("cr-elsewhere");
        var urls = Mint(queue, reply, DateTimeOffset.UtcNow.AddDays(1));
        using var agent = AgentProcess.Start(_bed.ZaqarUrl,
            [new TestTenant("t1", _bed.TenantA.ProjectId, queue, reply, ExtraConfig: Guestctl.PreSignedAuthBlock(urls.Command, urls.Reply))]);
        var controller = new RawController(_bed.Client(Tenant.A), queue, reply, TestKeys.K1, [TestKeys.K1]);
        var marker = Path.Combine(Path.GetTempPath(), "ga-elsewhere-" + Guid.NewGuid().ToString("N"));

        var now = DateTimeOffset.UtcNow;
        var cmd = Command.Call(new ExecArgs { Argv = ["touch", marker] }, elsewhere, now, now.AddMinutes(10));
        await controller.SendAsync(cmd);
        var final = await controller.FinalAsync(cmd.Id, TimeSpan.FromSeconds(60));

        Assert.Equal(ReplyStatus.Rejected, final.Status);
        Assert.Equal(RejectCodes.Forbidden, final.Error?.Code);
        Assert.Contains(reply, final.Error!.Message);
        Assert.False(File.Exists(marker));
        Assert.Equal("next\n", (await EchoAsync(controller, "next", agent)).Stdout.Data);
    }
}
