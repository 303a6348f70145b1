using System.Text;
using System.Text.Json;
using GuestAgent.Protocol.Args;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Protocol.Tests;

public sealed class ReplyTests
{
    private static readonly Guid CommandId = Guid.Parse(Bodies.Id);
    private static readonly DateTimeOffset SentAt = new(2026, 11, 25, 13, 0, 5, TimeSpan.Zero);

    [Theory]
    [InlineData(ReplyStatus.Accepted, "accepted", false)]
    [InlineData(ReplyStatus.Progress, "progress", false)]
    [InlineData(ReplyStatus.Succeeded, "succeeded", true)]
    [InlineData(ReplyStatus.Failed, "failed", true)]
    [InlineData(ReplyStatus.Rejected, "rejected", true)]
    [InlineData(ReplyStatus.TimedOut, "timed_out", true)]
    [InlineData(ReplyStatus.Cancelled, "cancelled", true)]
    [InlineData(ReplyStatus.Interrupted, "interrupted", true)]
    public void Status_has_a_snake_case_wire_name_and_finality(ReplyStatus status, string wire, bool final)
    {
        var json = new Reply(CommandId, 0, status, "vm1", SentAt).ToJson();
        using var document = JsonDocument.Parse(json);
        Assert.Equal(wire, document.RootElement.GetProperty("status").GetString());
        Assert.Equal(final, document.RootElement.GetProperty("final").GetBoolean());
        Assert.Equal(final, status.IsFinal());
    }

    [Fact]
    public void Exec_reply_round_trips_with_the_documented_field_names()
    {
        var stdout = Encoding.UTF8.GetBytes("hi\n");
        byte[] stderr = [0xff, 0xfe, 0x00];
        var result = new ExecResult(
            Attempt: 1, DurationMs: 12, StreamOutput.From(stdout, stdout.Length, 0), StreamOutput.From(stderr, 2, 1), ExitCode: 0);
        var reply = Reply.WithResult(CommandId, 3, ReplyStatus.Succeeded, "vm1", SentAt, result);

        var json = reply.ToJson();
        Assert.True(ReplyParser.TryParse(json, out var parsed, out var error), error);

        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal(["v", "id", "seq", "status", "final", "agent", "sent_at", "result"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("2026-11-25T13:00:05Z", root.GetProperty("sent_at").GetString());
        var r = root.GetProperty("result");
        Assert.Equal(["exit_code", "attempt", "duration_ms", "stdout", "stderr"], r.EnumerateObject().Select(p => p.Name));
        Assert.Equal(
            ["data", "bytes", "inline_bytes", "truncated", "chunks", "sha256"],
            r.GetProperty("stdout").EnumerateObject().Select(p => p.Name));
        Assert.Equal(
            ["data_b64", "bytes", "inline_bytes", "truncated", "chunks", "sha256"],
            r.GetProperty("stderr").EnumerateObject().Select(p => p.Name));

        Assert.Equal(reply with { Result = null }, parsed with { Result = null });
        var back = parsed.ResultAs<ExecResult>();
        Assert.NotNull(back);
        Assert.Equal(result, back);
        Assert.Equal("hi\n", back.Stdout.Data);
        Assert.False(back.Stdout.Truncated);
        Assert.True(back.Stderr.Truncated);
        Assert.Equal(new byte[] { 0xff, 0xfe }, back.Stderr.DecodeInline());
        Assert.Equal(json, parsed.ToJson());
    }

    [Fact]
    public void Exec_killed_by_a_signal_has_no_exit_code()
    {
        var empty = StreamOutput.From([], 0, 0);
        var reply = Reply.WithResult(CommandId, 2, ReplyStatus.TimedOut, "vm1", SentAt,
            new ExecResult(2, 300_000, empty, empty, Signal: "SIGKILL"));
        Assert.DoesNotContain("exit_code", reply.ToJson(), StringComparison.Ordinal);
        Assert.True(ReplyParser.TryParse(reply.ToJson(), out var parsed, out _));
        var result = parsed.ResultAs<ExecResult>()!;
        Assert.Null(result.ExitCode);
        Assert.Equal("SIGKILL", result.Signal);
        Assert.Equal(Chunker.Sha256Hex([]), result.Stdout.Sha256);
        Assert.Equal("", result.Stdout.Data);
    }

    [Fact]
    public void Inline_part_cut_inside_a_utf8_character_goes_as_base64()
    {
        var bytes = Encoding.UTF8.GetBytes("é");
        var output = StreamOutput.From(bytes, 1, 1);
        Assert.Null(output.Data);
        Assert.Equal(new byte[] { bytes[0] }, output.DecodeInline());
        Assert.True(output.Truncated);
    }

    [Fact]
    public void Ping_status_and_rejection_replies_round_trip()
    {
        var ping = new PingResult("0.1.0", 3600, OpCatalog.Standard.OpNames.Order().ToList(), "linux", "vm1.example", "vm1");
        var status = new StatusResult(Guid.NewGuid(), CommandState.Replied, 1, ReplyStatus.Succeeded);
        var rejected = new Reply(CommandId, 0, ReplyStatus.Rejected, "vm1", SentAt,
            Error: new ReplyError(RejectCodes.Expired, "expires_at is past"));

        Assert.True(ReplyParser.TryParse(Reply.WithResult(CommandId, 1, ReplyStatus.Succeeded, "vm1", SentAt, ping).ToJson(), out var p, out _));
        Assert.Equal(ping.Capabilities, p.ResultAs<PingResult>()!.Capabilities);
        Assert.Equal(ping with { Capabilities = [] }, p.ResultAs<PingResult>()! with { Capabilities = [] });
        Assert.Contains("\"uptime_s\":3600", p.ToJson(), StringComparison.Ordinal);

        Assert.True(ReplyParser.TryParse(Reply.WithResult(CommandId, 1, ReplyStatus.Succeeded, "vm1", SentAt, status).ToJson(), out var s, out _));
        Assert.Equal(status, s.ResultAs<StatusResult>());
        Assert.Contains("\"final_status\":\"succeeded\"", s.ToJson(), StringComparison.Ordinal);

        Assert.True(ReplyParser.TryParse(rejected.ToJson(), out var r, out _));
        Assert.Equal(rejected, r);
        Assert.True(r.Final);
    }

    [Fact]
    public void Chunk_reply_round_trips_with_base64_data()
    {
        byte[] data = [0xfb, 0xff, 0xbf, 1, 2, 3];
        var chunk = Chunker.Split(data, 4, ChunkStreams.Stdout)[1];
        var reply = new Reply(CommandId, 7, ReplyStatus.Progress, "vm1", SentAt, Chunk: chunk);

        var json = reply.ToJson();
        Assert.Contains("\"chunk\":{\"stream\":\"stdout\",\"index\":1,\"count\":2,\"offset\":4,\"sha256\":\"", json, StringComparison.Ordinal);
        Assert.Contains("\"data_b64\":\"AgM=\"", json, StringComparison.Ordinal);
        Assert.True(ReplyParser.TryParse(Encoding.UTF8.GetBytes(json), out var parsed, out _));
        Assert.False(parsed.Final);
        Assert.Equal(new byte[] { 2, 3 }, parsed.Chunk!.Data.ToArray());
        Assert.Equal(chunk with { Data = default }, parsed.Chunk with { Data = default });
    }

    [Fact]
    public void Parser_accepts_a_json_element_body()
    {
        using var document = JsonDocument.Parse(new Reply(CommandId, 0, ReplyStatus.Accepted, "vm1", SentAt).ToJson());
        Assert.True(ReplyParser.TryParse(document.RootElement, out var reply, out _));
        Assert.Equal(ReplyStatus.Accepted, reply.Status);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{}")]
    [InlineData("{\"v\":2,\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"seq\":0,\"status\":\"accepted\",\"agent\":\"vm1\",\"sent_at\":\"2026-11-25T13:00:05Z\"}")]
    [InlineData("{\"v\":1,\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"seq\":0,\"status\":\"paused\",\"agent\":\"vm1\",\"sent_at\":\"2026-11-25T13:00:05Z\"}")]
    [InlineData("{\"v\":1,\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"seq\":0,\"status\":\"accepted\",\"sent_at\":\"2026-11-25T13:00:05Z\"}")]
    [InlineData("{\"v\":1,\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"seq\":-1,\"status\":\"accepted\",\"agent\":\"vm1\",\"sent_at\":\"2026-11-25T13:00:05Z\"}")]
    [InlineData("{\"v\":1,\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"seq\":\"0\",\"status\":\"accepted\",\"agent\":\"vm1\",\"sent_at\":\"2026-11-25T13:00:05Z\"}")]
    [InlineData("{\"v\":1,\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"seq\":0,\"status\":\"accepted\",\"agent\":\"vm1\",\"sent_at\":\"yesterday\"}")]
    [InlineData("{\"v\":1,\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"seq\":0,\"status\":\"accepted\",\"agent\":null,\"sent_at\":\"2026-11-25T13:00:05Z\"}")]
    public void Parser_returns_an_error_not_an_exception_for_non_replies(string json)
    {
        Assert.False(ReplyParser.TryParse(json, out var reply, out var error));
        Assert.Null(reply);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Parser_returns_an_error_for_a_command_posted_to_a_reply_queue()
    {
        Assert.False(ReplyParser.TryParse(Bodies.Exec().ToJsonString(), out _, out var error));
        Assert.Contains("seq", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parser_ignores_unknown_fields()
    {
        const string json = """
            {"v":1,"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","seq":0,"status":"accepted","final":false,
             "agent":"vm1","sent_at":"2026-11-25T13:00:05Z","hint":"new in v1.1"}
            """;
        Assert.True(ReplyParser.TryParse(json, out var reply, out _));
        Assert.Equal(0, reply.Seq);
    }
}
