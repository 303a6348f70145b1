using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// Single messages that once stopped a tenant: a timestamp at the end of the calendar (the expiry
/// check overflowed and crash-looped the poller) and bodies Zaqar stores but a strict reader refuses
/// (NaN, Infinity, nesting past 64 levels once the claim's envelope is counted), which made every
/// message claimed with them unreadable, forever. Each gets its own verdict, and the commands posted
/// with and after them run.
/// </summary>
public sealed class QueueWedgeTests
{
    private static string Ts(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ");

    private static JsonObject Exec(E2EContext e2e, Guid id, string shell, DateTimeOffset? expires = null)
    {
        var now = DateTimeOffset.UtcNow;
        var body = new JsonObject
        {
            ["v"] = 1,
            ["id"] = id.ToString(),
            ["op"] = "exec",
            ["mode"] = "call",
            ["reply_to"] = e2e.Controller.ReplyQueue,
            ["issued_at"] = Ts(now),
            ["expires_at"] = Ts(expires ?? now.AddMinutes(10)),
            ["args"] = new JsonObject { ["shell"] = shell },
        };
        return body;
    }

    /// <summary>The JSON text of <paramref name="body"/> with <paramref name="member"/> of args set to raw <paramref name="value"/> text.</summary>
    private static string WithRawArg(JsonObject body, string member, string value)
    {
        var text = body.ToJsonString();
        var args = text.IndexOf("\"args\":{", StringComparison.Ordinal) + "\"args\":{".Length;
        return text[..args] + $"\"{member}\":{value}," + text[args..];
    }

    private static void AssertSucceeded(Reply reply) =>
        Assert.True(reply.Status == ReplyStatus.Succeeded, $"{reply.Status}: {reply.Error?.Code} {reply.Error?.Message}");

    private static void AssertNoPollerFailure(E2EContext e2e)
    {
        Assert.DoesNotContain("ArgumentOutOfRangeException", e2e.Agent.Log);
        Assert.DoesNotContain("JsonReaderException", e2e.Agent.Log);
        Assert.DoesNotContain("failed while judging", e2e.Agent.Log);
    }

    [Fact]
    public async Task One_claim_of_far_future_NaN_and_deep_commands_answers_each_and_runs_the_good_ones_beside_them()
    {
        using var e2e = new E2EContext();
        var bad = Path.Combine(e2e.Dir, "bad");
        Guid first = Guid.NewGuid(), farFuture = Guid.NewGuid(), nan = Guid.NewGuid(), deep = Guid.NewGuid(), legalDeep = Guid.NewGuid(),
            last = Guid.NewGuid();
        var bodies = new[]
        {
            e2e.Controller.Signed(Exec(e2e, first, $"touch {e2e.Dir}/first"))!.ToJsonString(),
            // Bug A: signed, so the lifetime check refuses it; it used to throw first.
            e2e.Controller.Signed(Exec(e2e, farFuture, $"touch {bad}", DateTimeOffset.Parse("9999-12-31T23:59:59Z")))!.ToJsonString(),
            // Bug B: not JSON (Python's json takes NaN), with id and reply_to readable before it.
            WithRawArg(Exec(e2e, nan, $"touch {bad}"), "timeout_s", "NaN"),
            // Bug B: JSON, but 70 levels deep: more than commands may nest.
            WithRawArg(Exec(e2e, deep, $"touch {bad}"), "x", ZaqarBed.Nested(68)),
            // 62 levels: legal, and signed; with the claim's envelope it is past a default reader's 64.
            e2e.Controller.Signed(JsonNode.Parse(WithRawArg(Exec(e2e, legalDeep, $"touch {e2e.Dir}/deep"), "x", ZaqarBed.Nested(60)),
                documentOptions: new JsonDocumentOptions { MaxDepth = 100 }))!.ToJsonString(),
            e2e.Controller.Signed(Exec(e2e, last, $"touch {e2e.Dir}/last"))!.ToJsonString(),
        };

        // One post: the agent claims them together, as it did when one bad body held the rest.
        await e2e.Bed.PostRawBodiesAsync(e2e.Tenant.Project, e2e.Tenant.CommandQueue, bodies);

        AssertSucceeded(await e2e.Controller.FinalAsync(first, E2EContext.Wait));
        AssertSucceeded(await e2e.Controller.FinalAsync(last, E2EContext.Wait));
        AssertSucceeded(await e2e.Controller.FinalAsync(legalDeep, E2EContext.Wait));
        var expiry = await e2e.Controller.FinalAsync(farFuture, E2EContext.Wait);
        Assert.Equal((ReplyStatus.Rejected, RejectCodes.InvalidValue), (expiry.Status, expiry.Error!.Code));
        Assert.Contains("expires_at", expiry.Error.Message);
        foreach (var id in new[] { nan, deep })
        {
            var reply = await e2e.Controller.FinalAsync(id, E2EContext.Wait);
            Assert.Equal((ReplyStatus.Rejected, RejectCodes.MalformedJson), (reply.Status, reply.Error!.Code));
        }
        Assert.True(File.Exists(Path.Combine(e2e.Dir, "deep")));
        Assert.False(File.Exists(bad), "a refused command ran");
        await E2EContext.WaitForAsync(
            () => e2e.Controller.Zaqar.GetQueueStatsAsync(e2e.Controller.CommandQueue).GetAwaiter().GetResult().Total == 0,
            "every message, good or bad, is deleted");
        AssertNoPollerFailure(e2e);
    }

    [Fact]
    public async Task Far_future_expiry_on_an_unsigned_binding_is_simply_a_long_lived_command()
    {
        using var e2e = new E2EContext(tenant: t => t with { AllowUnsigned = true });
        var unsigned = e2e.Controller.WithKey(null);
        var id = Guid.NewGuid();

        await unsigned.PostRawAsync(Exec(e2e, id, $"touch {e2e.Dir}/ran", DateTimeOffset.Parse("9999-12-31T23:59:59Z")));
        var next = await unsigned.SendAsync(unsigned.Exec(new ExecArgs { Shell = $"touch {e2e.Dir}/next" }));

        AssertSucceeded(await e2e.Controller.FinalAsync(id, E2EContext.Wait));
        AssertSucceeded(await e2e.Controller.FinalAsync(next.Id, E2EContext.Wait));
        Assert.True(File.Exists(Path.Combine(e2e.Dir, "ran")));
        AssertNoPollerFailure(e2e);
    }

    [Fact]
    public async Task A_busy_agent_answers_status_queued_behind_a_NaN_body()
    {
        using var e2e = new E2EContext(maxOperations: 1);
        var hog = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs { Shell = "sleep 60", TimeoutSeconds = 120 }));
        await e2e.Controller.WaitForAsync(hog.Id, ReplyStatus.Accepted, E2EContext.Wait);

        // The scan reads the waiting messages without claiming; a NaN body among them used to fail the whole read.
        await e2e.Bed.PostRawBodiesAsync(e2e.Tenant.Project, e2e.Tenant.CommandQueue, """{"v":1,"x":NaN}""", ZaqarBed.Nested(100));
        var status = await e2e.Controller.SendAsync(e2e.Controller.Call(new StatusArgs(hog.Id)));

        var answer = await e2e.Controller.FinalAsync(status.Id, E2EContext.Wait);
        Assert.Equal(ReplyStatus.Succeeded, answer.Status);
        var cancel = await e2e.Controller.SendAsync(e2e.Controller.Call(new CancelArgs(hog.Id)));
        AssertSucceeded(await e2e.Controller.FinalAsync(cancel.Id, E2EContext.Wait));
        // Once the slot is free the bad bodies are claimed, refused and deleted like any other.
        await E2EContext.WaitForAsync(
            () => e2e.Controller.Zaqar.GetQueueStatsAsync(e2e.Controller.CommandQueue).GetAwaiter().GetResult().Total == 0,
            "the bad bodies are deleted once claimed");
        AssertNoPollerFailure(e2e);
    }

    [Fact]
    public async Task Output_that_would_not_fit_one_reply_is_carried_so_the_final_reply_and_the_next_ones_arrive()
    {
        using var e2e = new E2EContext();
        // 64 KiB of control characters per stream: as escaped JSON text six times their size.
        var control = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = "head -c 65536 /dev/zero | tr '\\0' '\\1'; head -c 65536 /dev/zero | tr '\\0' '\\2' >&2",
        }));
        // An inline cap above the agent's own: lowered to it, the rest in chunks.
        var greedy = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = "head -c 300000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero | tr '\\0' y >&2",
            OutputCapBytes = 1_000_000,
        }));
        var next = await e2e.Controller.SendAsync(e2e.Controller.Call(new PingArgs()));

        var controlReply = await e2e.Controller.FinalAsync(control.Id, E2EContext.Wait);
        var greedyReply = await e2e.Controller.FinalAsync(greedy.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.Succeeded, controlReply.Status);
        var output = controlReply.ResultAs<ExecResult>()!;
        Assert.Equal(Enumerable.Repeat((byte)1, 65536), output.Stdout.DecodeInline());
        Assert.Equal(Enumerable.Repeat((byte)2, 65536), output.Stderr.DecodeInline());
        Assert.Equal(ReplyStatus.Succeeded, greedyReply.Status);
        var greedyOutput = greedyReply.ResultAs<ExecResult>()!;
        Assert.Equal((300_000L, 65_536, true), (greedyOutput.Stdout.Bytes, greedyOutput.Stdout.InlineBytes, greedyOutput.Stdout.Truncated));
        Assert.True(greedyOutput.Stdout.Chunks > 0);
        AssertSucceeded(await e2e.Controller.FinalAsync(next.Id, E2EContext.Wait));
    }
}
