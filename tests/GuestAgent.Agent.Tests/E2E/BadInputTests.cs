using System.Text.Json.Nodes;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// One agent takes every kind of bad command. Each would leave a mark if it ran; none may. Those
/// with a readable id and reply_to get a rejected reply naming the problem; the rest are deleted
/// and logged. A good command sent last proves the poller kept going.
/// </summary>
public sealed class BadInputTests(BadInputTests.Agent agent) : IClassFixture<BadInputTests.Agent>
{
    private readonly E2EContext _e2e = agent.E2E;
    /// <summary>Where this test's commands leave their marks.</summary>
    private readonly string _dir = SharedAgent.NewDirectory(agent.E2E.Dir);

    /// <summary>The one agent every case here is sent to.</summary>
    public sealed class Agent() : SharedAgent(() => new E2EContext(extraConfig: "max-command-bytes = 4096"));

    private JsonObject Valid(Guid id, string mark)
    {
        var now = DateTimeOffset.UtcNow;
        return new JsonObject
        {
            ["v"] = 1,
            ["id"] = id.ToString(),
            ["op"] = "exec",
            ["mode"] = "call",
            ["reply_to"] = _e2e.Controller.ReplyQueue,
            ["issued_at"] = now.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["args"] = new JsonObject { ["shell"] = $"touch {_dir}/{mark}" },
        };
    }

    public static TheoryData<string, string> AnsweredCases => new()
    {
        { "wrong_type", "timeout_s as a string" },
        { "unknown_op", "op format_disk" },
        { "missing_field", "no issued_at" },
        { "oversize", "a 5000-byte env value" },
        { "expired", "expires_at an hour ago" },
        { "unsupported_version", "v = 2" },
        { "invalid_value", "both argv and shell" },
        { "malformed_json", "a JSON string body that is not JSON" },
    };

    [Theory]
    [MemberData(nameof(AnsweredCases))]
    public async Task Bad_command_gets_a_rejected_reply_runs_nothing_and_the_poller_goes_on(string code, string what)
    {
        var id = Guid.NewGuid();
        var body = Valid(id, "bad");
        JsonNode posted = body;
        switch (code)
        {
            case "wrong_type": body["args"]!["timeout_s"] = "ten"; break;
            case "unknown_op": body["op"] = "format_disk"; break;
            case "missing_field": body.Remove("issued_at"); break;
            case "oversize": body["args"]!["env"] = new JsonObject { ["PAD"] = new string('x', 5000) }; break;
            case "expired": body["expires_at"] = DateTimeOffset.UtcNow.AddHours(-1).ToString("yyyy-MM-ddTHH:mm:ssZ"); break;
            case "unsupported_version": body["v"] = 2; break;
            case "invalid_value": body["args"]!["argv"] = new JsonArray("touch", $"{_dir}/bad"); break;
            // Zaqar only stores JSON, so broken JSON arrives as text inside a string body (json.dumps by mistake).
            case "malformed_json": posted = JsonValue.Create(body.ToJsonString()[..^5])!; break;
        }
        await _e2e.Controller.PostRawAsync(posted);
        var good = await _e2e.Controller.SendAsync(_e2e.Controller.Exec(new ExecArgs { Shell = $"touch {_dir}/good" }));

        Assert.Equal(ReplyStatus.Succeeded, (await _e2e.Controller.FinalAsync(good.Id, E2EContext.Wait)).Status);
        // Even broken JSON is answered: its id and reply_to are read up to where the text breaks.
        var reply = await _e2e.Controller.FinalAsync(id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Rejected, reply.Status);
        Assert.Equal(code, reply.Error!.Code);
        Assert.False(string.IsNullOrWhiteSpace(reply.Error.Message), what);
        Assert.False(File.Exists(Path.Combine(_dir, "bad")), $"{what} ran");
        Assert.Equal(0, (await _e2e.Controller.Zaqar.GetQueueStatsAsync(_e2e.Controller.CommandQueue)).Total);
    }

    [Theory]
    [InlineData("[1, 2, 3]")]
    [InlineData("\"just words\"")]
    [InlineData("{\"v\": 1, \"id\": 42}")]
    public async Task Unanswerable_message_is_deleted_and_logged_and_the_poller_goes_on(string json)
    {
        var mark = _e2e.Agent.LogMark;
        await _e2e.Controller.PostRawAsync(JsonNode.Parse(json));
        var good = await _e2e.Controller.SendAsync(_e2e.Controller.Exec(new ExecArgs { Shell = $"touch {_dir}/good" }));

        Assert.Equal(ReplyStatus.Succeeded, (await _e2e.Controller.FinalAsync(good.Id, E2EContext.Wait)).Status);
        await _e2e.Agent.WaitForLogAsync("no command id, nothing runs", E2EContext.Wait, since: mark);
        Assert.Equal(0, (await _e2e.Controller.Zaqar.GetQueueStatsAsync(_e2e.Controller.CommandQueue)).Total);
    }
}

public sealed class PolicyTests
{
    [Fact]
    public async Task Op_not_allowed_for_the_tenant_is_rejected_as_forbidden_and_runs_nothing()
    {
        using var e2e = new E2EContext(allowedOps: ["ping", "status"]);
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = $"touch {e2e.Dir}/bad" }));

        var reply = await e2e.Controller.FinalAsync(cmd.Id, E2EContext.Wait);
        var ping = await e2e.Controller.SendAsync(e2e.Controller.Call(new PingArgs()));

        Assert.Equal(ReplyStatus.Rejected, reply.Status);
        Assert.Equal(RejectCodes.Forbidden, reply.Error!.Code);
        Assert.False(File.Exists(Path.Combine(e2e.Dir, "bad")));
        Assert.Equal(["ping", "status"], (await e2e.Controller.FinalAsync(ping.Id, E2EContext.Wait)).ResultAs<PingResult>()!.Capabilities);
    }

    [Fact]
    public async Task File_ops_without_file_roots_touch_nothing()
    {
        using var e2e = new E2EContext();
        var put = await e2e.Controller.SendAsync(e2e.Controller.Call(new FilePutArgs
        {
            TransferId = Guid.NewGuid(),
            Path = Path.Combine(e2e.Dir, "put.txt"),
            Size = 2,
            Sha256 = Protocol.Chunking.Chunker.Sha256Hex("hi"u8),
            ChunkBytes = 2,
            Index = 0,
            Count = 1,
            DataB64 = Convert.ToBase64String("hi"u8),
        }));
        var get = await e2e.Controller.SendAsync(e2e.Controller.Call(new FileGetArgs { Path = "/etc/hostname" }));
        var ping = await e2e.Controller.SendAsync(e2e.Controller.Call(new PingArgs()));

        // Both run, but with no file-roots configured every path is refused.
        var putReply = await e2e.Controller.FinalAsync(put.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Failed, putReply.Status);
        Assert.Equal("forbidden_path", putReply.Error!.Code);
        var getReply = await e2e.Controller.FinalAsync(get.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Failed, getReply.Status);
        Assert.Equal("forbidden_path", getReply.Error!.Code);
        Assert.False(File.Exists(Path.Combine(e2e.Dir, "put.txt")));
        Assert.Equal(["cancel", "credentials", "exec", "file.get", "file.put", "http", "ping", "status"], (await e2e.Controller.FinalAsync(ping.Id, E2EContext.Wait)).ResultAs<PingResult>()!.Capabilities);
    }
}
