using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// Signed commands and replies against a real agent and a real Zaqar: every command that is not
/// properly signed is refused before it runs, replays never run twice, and a client with keys
/// takes only replies signed by its agent. The same scenarios run on the plain bed
/// (<see cref="SigningTests"/>) and on the keystone bed with a guest that holds only pre-signed
/// URLs and a controller with a tenant's keystone token (<see cref="KeystoneSigningTests"/>).
/// </summary>
public abstract class SigningScenarios
{
    protected abstract RawController Controller { get; }

    protected abstract AgentProcess Agent { get; }

    /// <summary>Where commands leave their marks.</summary>
    protected abstract string Dir { get; }

    /// <summary>Someone with the project's Zaqar rights on the queues and no key: another guest or a project member.</summary>
    protected abstract ZaqarClient Attacker { get; }

    /// <summary>An SDK client holding the binding's key, on a reply queue the agent may answer to.</summary>
    protected abstract GuestClient Sdk();

    protected string Mark(string name) => Path.Combine(Dir, name);

    protected string[] MarkLines(string name) => File.Exists(Mark(name)) ? File.ReadAllLines(Mark(name)) : [];

    protected Command Touch(string name, Guid? id = null, DateTimeOffset? issuedAt = null, TimeSpan? lifetime = null)
    {
        var now = issuedAt ?? DateTimeOffset.UtcNow;
        return Command.Call(new ExecArgs { Shell = $"echo run >> {Mark(name)}" }, Controller.ReplyQueue, now,
            now + (lifetime ?? TimeSpan.FromMinutes(10)), id: id);
    }

    protected async Task<Reply> RejectedAsync(RawController sender, Command command, string code)
    {
        await sender.PostRawAsync(JsonNode.Parse(command.ToJson()));
        var reply = await Controller.FinalAsync(command.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Rejected, reply.Status);
        Assert.Equal(code, reply.Error!.Code);
        return reply;
    }

    [Fact]
    public async Task Wrong_secret_and_unknown_key_are_rejected_and_never_run()
    {
        var wrong = Touch("wrong");
        await RejectedAsync(Controller.WithKey(TestKeys.WrongSecret), wrong, RejectCodes.BadSignature);
        var unknown = Touch("unknown");
        await RejectedAsync(Controller.WithKey(TestKeys.K2), unknown, RejectCodes.UnknownKey);

        var good = await Controller.SendAsync(Touch("good"));
        Assert.Equal(ReplyStatus.Succeeded, (await Controller.FinalAsync(good.Id, E2EContext.Wait)).Status);
        Assert.False(File.Exists(Mark("wrong")));
        Assert.False(File.Exists(Mark("unknown")));
    }

    [Fact]
    public async Task Tampered_command_is_rejected_and_never_runs()
    {
        var command = Touch("tampered-original");
        var signed = Controller.Signed(JsonNode.Parse(command.ToJson()))!.AsObject();
        signed["args"]!["shell"] = $"echo evil >> {Mark("tampered")}";
        await Controller.PostExactAsync(signed);

        var reply = await Controller.FinalAsync(command.Id, E2EContext.Wait);
        Assert.Equal(RejectCodes.BadSignature, reply.Error!.Code);
        Assert.False(File.Exists(Mark("tampered")));
        Assert.False(File.Exists(Mark("tampered-original")));
    }

    [Fact]
    public async Task Replayed_signed_command_is_dropped_after_completion_and_never_runs_twice()
    {
        var command = Touch("replay");
        var captured = Controller.Signed(JsonNode.Parse(command.ToJson()))!;
        await Controller.PostExactAsync(captured.DeepClone());
        var replies = await Controller.RepliesAsync(command.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Succeeded, replies[^1].Status);
        Assert.All(replies, r => Assert.Equal(SignatureStatus.Valid, Controller.SignatureOf(r.Id, r.Seq)));

        var mark = Agent.LogMark;
        await Controller.PostExactAsync(captured.DeepClone());
        await Agent.WaitForLogAsync("duplicate delivery", E2EContext.Wait, since: mark);
        var after = await Controller.SendAsync(Touch("after"));
        await Controller.FinalAsync(after.Id, E2EContext.Wait);

        Assert.Equal(["run"], MarkLines("replay"));
        Assert.Equal(replies.Count, (await Controller.SeenAsync(command.Id)).Count);
    }

    [Fact]
    public async Task Expired_and_too_long_lived_signed_commands_are_rejected_and_never_run()
    {
        var expired = Touch("expired", issuedAt: DateTimeOffset.UtcNow.AddHours(-2), lifetime: TimeSpan.FromMinutes(30));
        var reply = await RejectedAsync(Controller, expired, RejectCodes.Expired);
        // Authenticated before it was judged: recorded, and answered with a signed reply.
        Assert.Equal(SignatureStatus.Valid, Controller.SignatureOf(expired.Id, reply.Seq));

        var eternal = Touch("eternal", lifetime: TimeSpan.FromHours(2));
        var tooLong = await RejectedAsync(Controller, eternal, RejectCodes.InvalidValue);
        Assert.Contains("expires_at", tooLong.Error!.Message);

        Assert.False(File.Exists(Mark("expired")));
        Assert.False(File.Exists(Mark("eternal")));
    }

    [Fact]
    public async Task Client_drops_a_forged_reply_posted_to_its_reply_queue()
    {
        await using var guest = Sdk();
        var replyQueue = guest.ReplyQueue;
        var id = Guid.NewGuid();
        var call = guest.CallAsync(new ExecArgs { Shell = "sleep 2; echo real" }, new CallOptions { CommandId = id });

        // Another guest of the project (same Zaqar rights, no key) answers first, claiming success.
        var attacker = Attacker;
        var forged = new Reply(id, 1, ReplyStatus.Succeeded, "test-agent", DateTimeOffset.UtcNow,
            ProtocolJson.ToElement(new { exit_code = 0, attempt = 1, duration_ms = 1 }));
        var bodies = new JsonNode?[]
        {
            JsonNode.Parse(forged.ToJson()),
            Signatures.SignReply(forged, TestKeys.WrongSecret),
            Signatures.SignReply(forged with { Seq = 0, Status = ReplyStatus.Accepted, Result = null }, TestKeys.WrongSecret),
        };
        await Task.Delay(300);
        foreach (var body in bodies)
        {
            await attacker.PostAsync(replyQueue, new OutgoingMessage(body, 600));
        }

        var result = await call;
        Assert.True(result.Succeeded);
        Assert.Equal("real\n", result.StdoutText);
        // The real final reply can come in a claim before the last forged ones: the call ends on
        // it, and the listener drops those with its next claims.
        await E2EContext.WaitForAsync(() => guest.Stats.Unverified >= 2, "at least two forged replies dropped as unverified",
            TimeSpan.FromSeconds(10));
    }
}

/// <summary><see cref="SigningScenarios"/> on the plain bed, plus what needs its own reply queues.</summary>
public sealed class SigningTests(SigningTests.Guest guest) : SigningScenarios, IClassFixture<SigningTests.Guest>
{
    private readonly E2EContext _e2e = guest.E2E;
    private readonly string _dir = SharedAgent.NewDirectory(guest.E2E.Dir);

    /// <summary>One agent for every test here.</summary>
    public sealed class Guest() : SharedAgent(() => new E2EContext());

    protected override RawController Controller => _e2e.Controller;

    protected override AgentProcess Agent => _e2e.Agent;

    protected override string Dir => _dir;

    protected override ZaqarClient Attacker => _e2e.Bed.Client(_e2e.Tenant.Project);

    protected override GuestClient Sdk() => new(_e2e.Bed.Client(_e2e.Tenant.Project), _e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"),
        new GuestClientOptions { SigningKeys = _e2e.Tenant.Keys });

    [Fact]
    public async Task Unsigned_command_is_rejected_never_runs_and_does_not_burn_its_id()
    {
        var command = Touch("unsigned");
        var mark = Agent.LogMark;
        var reply = await RejectedAsync(Controller.WithKey(null), command, RejectCodes.Unsigned);

        // The rejection is unsigned: it carries no authority, and a client with keys would drop it.
        Assert.Equal(SignatureStatus.Unsigned, Controller.SignatureOf(command.Id, reply.Seq));
        Assert.False(File.Exists(Mark("unsigned")));
        await Agent.WaitForLogAsync("not recorded", E2EContext.Wait, since: mark);

        // The genuine command with the same id still runs: an unauthenticated message cannot squat ids.
        var genuine = new RawController(Controller.Zaqar, Controller.CommandQueue, ZaqarBed.NewQueue("rep"), TestKeys.K1);
        await genuine.SendAsync(command with { ReplyTo = genuine.ReplyQueue });
        Assert.Equal(ReplyStatus.Succeeded, (await genuine.FinalAsync(command.Id, E2EContext.Wait)).Status);
        Assert.Equal(["run"], MarkLines("unsigned"));
    }

    [Fact]
    public async Task Client_verifies_chunk_replies_too()
    {
        await using var guest = new GuestClient(_e2e.Bed.Client(_e2e.Tenant.Project), _e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"),
            new GuestClientOptions { SigningKeys = _e2e.Tenant.Keys });
        var result = await guest.CallAsync(new ExecArgs { Shell = "head -c 300000 /dev/zero | tr '\\0' x", OutputCapBytes = 1000 });

        Assert.True(result.Succeeded);
        Assert.True(result.Replies.Count > 3, "expected chunk replies");
        Assert.Equal(300_000, result.Stdout.Length);
        Assert.Equal(0, guest.Stats.Unverified);
    }
}

/// <summary>
/// <see cref="SigningScenarios"/> on the keystone bed: the guest holds only pre-signed URLs for its
/// two queues, the controller and the attacker hold tenant A's keystone token (the attacker has no
/// signing key).
/// </summary>
public sealed class KeystoneSigningTests(KeystoneSigningTests.Guest guest) : SigningScenarios, IClassFixture<KeystoneSigningTests.Guest>, IDisposable
{
    private readonly KeystoneBed _bed = KeystoneBed.Shared;
    private readonly string _dir = Directory.CreateTempSubdirectory("ga-ks-sign-").FullName;

    /// <summary>The pre-signed guest every test here talks to, and its controller.</summary>
    public sealed class Guest : IAsyncLifetime
    {
        private readonly KeystoneBed _bed = KeystoneBed.Shared;
        private AgentProcess? _agent;
        private RawController? _controller;

        public string Queue { get; } = ZaqarBed.NewQueue("ks-cmd");

        public string Reply { get; } = ZaqarBed.NewQueue("ks-rep");

        public AgentProcess Agent => _agent!;

        public RawController Controller => _controller!;

        public async Task InitializeAsync()
        {
            var a = _bed.Client(Tenant.A);
            await a.CreateQueueAsync(Queue);
            await a.CreateQueueAsync(Reply);
            var expires = DateTimeOffset.UtcNow.AddDays(1);
            var cmd = _bed.Mint(Tenant.A, Queue, expires, ["claims", "messages"], ["DELETE", "POST"]);
            var rep = _bed.Mint(Tenant.A, Reply, expires, ["messages"], ["POST"]);
            _agent = AgentProcess.Start(_bed.ZaqarUrl, [new TestTenant("t1", _bed.TenantA.ProjectId, Queue, Reply,
                ExtraConfig: Guestctl.PreSignedAuthBlock(cmd, rep))]);
            _controller = new RawController(a, Queue, Reply, TestKeys.K1, [TestKeys.K1]);
        }

        public Task DisposeAsync()
        {
            _agent?.Dispose();
            return Task.CompletedTask;
        }
    }

    protected override RawController Controller => guest.Controller;

    protected override AgentProcess Agent => guest.Agent;

    protected override string Dir => _dir;

    protected override ZaqarClient Attacker => _bed.Client(Tenant.A);

    protected override GuestClient Sdk() => new(_bed.Client(Tenant.A), guest.Queue, guest.Reply, new GuestClientOptions { SigningKeys = [TestKeys.K1] });

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Unsigned_command_from_a_project_member_is_rejected_and_never_runs()
    {
        var command = Touch("unsigned");
        await RejectedAsync(Controller.WithKey(null), command, RejectCodes.Unsigned);
        var after = await Controller.SendAsync(Touch("after"));

        Assert.Equal(ReplyStatus.Succeeded, (await Controller.FinalAsync(after.Id, E2EContext.Wait)).Status);
        Assert.False(File.Exists(Mark("unsigned")));
    }
}

public sealed class SigningPolicyTests
{
    [Fact]
    public async Task Rotation_two_keys_are_valid_at_once_and_replies_carry_the_commands_key()
    {
        using var e2e = new E2EContext(tenant: t => t with { SigningKeys = [TestKeys.K2, TestKeys.K1] });
        var old = new RawController(e2e.Controller.Zaqar, e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("rep"), TestKeys.K1, [TestKeys.K1]);
        var @new = new RawController(e2e.Controller.Zaqar, e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("rep"), TestKeys.K2, [TestKeys.K2]);

        var byOld = await old.SendAsync(old.Call(new PingArgs()));
        var byNew = await @new.SendAsync(@new.Call(new PingArgs()));

        foreach (var (controller, id) in new[] { (old, byOld.Id), (@new, byNew.Id) })
        {
            var replies = await controller.RepliesAsync(id, E2EContext.Wait);
            Assert.Equal(ReplyStatus.Succeeded, replies[^1].Status);
            // Each verified with only the key that signed the command.
            Assert.All(replies, r => Assert.Equal(SignatureStatus.Valid, controller.SignatureOf(r.Id, r.Seq)));
        }

        // The SDK mid-rotation: signs with the new key, accepts replies under either.
        await using var guest = new GuestClient(e2e.Bed.Client(e2e.Tenant.Project), e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"),
            new GuestClientOptions { SigningKeys = [TestKeys.K2, TestKeys.K1] });
        var ping = await guest.CallAsync(new PingArgs());
        Assert.True(ping.Succeeded);
        Assert.Equal(0, guest.Stats.Unverified);
    }

    [Fact]
    public async Task Allow_unsigned_binding_runs_unsigned_commands_with_unsigned_replies()
    {
        using var e2e = new E2EContext(tenant: t => t with { SigningKeys = [], AllowUnsigned = true });
        Assert.Null(e2e.Controller.Key);
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"touch {e2e.Dir}/open" }));
        var final = await e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(SignatureStatus.Unsigned, e2e.Controller.SignatureOf(cmd.Id, final.Seq));
        Assert.True(File.Exists(Path.Combine(e2e.Dir, "open")));

        await using var guest = new GuestClient(e2e.Bed.Client(e2e.Tenant.Project), e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"));
        Assert.True((await guest.CallAsync(new PingArgs())).Succeeded);
    }

    [Fact]
    public void Agent_refuses_a_binding_without_keys_that_does_not_allow_unsigned()
    {
        using var e2e = new E2EContext(tenant: t => t with { SigningKeys = [], AllowUnsigned = false });
        var deadline = DateTime.UtcNow + E2EContext.Wait;
        while (e2e.Agent.IsRunning && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }
        Assert.False(e2e.Agent.IsRunning);
        Assert.Contains("allow-unsigned", e2e.Agent.Log);
    }
}
