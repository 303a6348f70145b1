using System.Text;
using System.Text.Json.Nodes;

namespace GuestAgent.Protocol.Tests;

/// <summary>
/// A body that is not a well-formed JSON document is still answered whenever its id and reply_to
/// can be read: the top-level members up to where reading fails, each name given once.
/// </summary>
public sealed class MalformedBodySalvageTests
{
    private static readonly Guid SalvagedId = Guid.Parse(Bodies.Id);

    /// <summary>The example body (id and reply_to among its first members) with <paramref name="json"/> inserted just before args.</summary>
    private static string AfterIdAndReplyTo(string json) =>
        Bodies.Exec().ToJsonString().Replace("\"args\":", json + ",\"args\":", StringComparison.Ordinal);

    /// <summary>The example body with <paramref name="json"/> as its first member.</summary>
    private static string BeforeIdAndReplyTo(string json) => "{" + json + "," + Bodies.Exec().ToJsonString()[1..];

    private static string Nested(int depth) => new string('[', depth) + new string(']', depth);

    private static void AssertSalvaged(CommandRejection r, bool id, bool replyTo)
    {
        Assert.Equal(id ? SalvagedId : null, r.CommandId);
        Assert.Equal(replyTo ? Bodies.ReplyTo : null, r.ReplyTo);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    public void Non_finite_literal_after_id_and_reply_to_is_malformed_json_with_both_salvaged(string literal)
    {
        var r = Bodies.Rejected(AfterIdAndReplyTo($"\"x\":{literal}"));
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        Assert.Null(r.Field);
        AssertSalvaged(r, id: true, replyTo: true);
    }

    [Fact]
    public void Non_finite_literal_inside_args_is_malformed_json_with_both_salvaged()
    {
        var json = Bodies.Exec().ToJsonString().Replace("\"argv\"", "\"timeout_s\":NaN,\"argv\"", StringComparison.Ordinal);
        var r = Bodies.Rejected(json);
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        AssertSalvaged(r, id: true, replyTo: true);
    }

    [Fact]
    public void Non_finite_literal_before_id_and_reply_to_salvages_nothing()
    {
        var r = Bodies.Rejected(BeforeIdAndReplyTo("\"x\":NaN"));
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        AssertSalvaged(r, id: false, replyTo: false);
    }

    [Theory]
    [InlineData(65)]
    [InlineData(70)]
    [InlineData(CommandParser.SalvageMaxDepth + 10)]
    public void Nesting_beyond_the_limit_after_id_and_reply_to_salvages_both(int depth)
    {
        var r = Bodies.Rejected(AfterIdAndReplyTo($"\"x\":{Nested(depth)}"));
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        Assert.Contains("depth", r.Message, StringComparison.Ordinal);
        AssertSalvaged(r, id: true, replyTo: true);
    }

    [Fact]
    public void Nesting_beyond_the_limit_before_id_and_reply_to_is_read_through_up_to_the_salvage_depth()
    {
        var within = Bodies.Rejected(BeforeIdAndReplyTo($"\"x\":{Nested(70)}"));
        Assert.Equal(RejectCodes.MalformedJson, within.Code);
        AssertSalvaged(within, id: true, replyTo: true);

        var beyond = Bodies.Rejected(BeforeIdAndReplyTo($"\"x\":{Nested(CommandParser.SalvageMaxDepth + 1)}"));
        Assert.Equal(RejectCodes.MalformedJson, beyond.Code);
        AssertSalvaged(beyond, id: false, replyTo: false);
    }

    [Theory]
    [InlineData($"\"id\":\"{Bodies.Id}\"")]
    [InlineData("\"id\":\"1b4e28ba-2fa1-11d2-883f-0000f81d4fab\"")]
    [InlineData("\"id\":null")]
    [InlineData($"\"i\\u0064\":\"{Bodies.Id}\"")]
    public void A_second_id_salvages_no_id_whatever_the_values(string secondId)
    {
        var r = Bodies.Rejected(AfterIdAndReplyTo(secondId));
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        Assert.Contains("Duplicate", r.Message, StringComparison.Ordinal);
        AssertSalvaged(r, id: false, replyTo: true);
    }

    [Fact]
    public void A_second_reply_to_salvages_no_reply_to()
    {
        var r = Bodies.Rejected(AfterIdAndReplyTo("\"reply_to\":\"other-queue\""));
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        AssertSalvaged(r, id: true, replyTo: false);
    }

    [Fact]
    public void A_duplicate_of_another_member_still_salvages_id_and_reply_to()
    {
        var r = Bodies.Rejected(AfterIdAndReplyTo("\"op\":\"ping\""));
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        AssertSalvaged(r, id: true, replyTo: true);
    }

    [Fact]
    public void A_second_id_after_the_point_where_reading_fails_is_not_seen()
    {
        var r = Bodies.Rejected(AfterIdAndReplyTo("\"x\":NaN,\"id\":\"1b4e28ba-2fa1-11d2-883f-0000f81d4fab\""));
        AssertSalvaged(r, id: true, replyTo: true);
    }

    [Theory]
    [InlineData(" trailing")]
    [InlineData(" {}")]
    [InlineData("}")]
    [InlineData(",")]
    public void Trailing_data_after_the_object_salvages_both(string trailing)
    {
        var r = Bodies.Rejected(Bodies.Exec().ToJsonString() + trailing);
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        AssertSalvaged(r, id: true, replyTo: true);
    }

    [Fact]
    public void Comment_after_id_and_reply_to_salvages_both_and_one_before_them_salvages_nothing()
    {
        var after = Bodies.Exec().ToJsonString().Replace("\"args\":", "/* comment */\"args\":", StringComparison.Ordinal);
        var afterRejection = Bodies.Rejected(after);
        Assert.Equal(RejectCodes.MalformedJson, afterRejection.Code);
        AssertSalvaged(afterRejection, id: true, replyTo: true);

        var before = Bodies.Rejected("{// comment\n" + Bodies.Exec().ToJsonString()[1..]);
        Assert.Equal(RejectCodes.MalformedJson, before.Code);
        AssertSalvaged(before, id: false, replyTo: false);
    }

    [Fact]
    public void Trailing_comma_after_id_and_reply_to_salvages_both()
    {
        var r = Bodies.Rejected(Bodies.Exec().ToJsonString()[..^1] + ",}");
        AssertSalvaged(r, id: true, replyTo: true);
    }

    [Fact]
    public void Truncated_body_salvages_what_came_before_the_cut()
    {
        var json = Bodies.Exec().ToJsonString();
        var r = Bodies.Rejected(json[..json.IndexOf("\"argv\"", StringComparison.Ordinal)]);
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        AssertSalvaged(r, id: true, replyTo: true);
    }

    [Fact]
    public void Members_of_nested_objects_are_never_salvaged()
    {
        var json = $$"""{"args":{"id":"{{Bodies.Id}}","reply_to":"{{Bodies.ReplyTo}}"},"v":NaN}""";
        AssertSalvaged(Bodies.Rejected(json), id: false, replyTo: false);

        var after = $$"""{"args":{"id":"x","more":[{"reply_to":1}]},"id":"{{Bodies.Id}}","reply_to":"{{Bodies.ReplyTo}}","v":NaN}""";
        AssertSalvaged(Bodies.Rejected(after), id: true, replyTo: true);
    }

    [Theory]
    [InlineData("\"id\":\"not-a-uuid\"")]
    [InlineData("\"id\":7")]
    [InlineData("\"id\":{\"uuid\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\"}")]
    public void Only_a_string_uuid_is_salvaged_as_id(string id)
    {
        var r = Bodies.Rejected("{" + id + $$""","reply_to":"{{Bodies.ReplyTo}}","v":NaN}""");
        AssertSalvaged(r, id: false, replyTo: true);
    }

    [Theory]
    [InlineData("\"reply_to\":\"not a queue\"")]
    [InlineData("\"reply_to\":[\"replies-vm1\"]")]
    public void Only_a_string_queue_name_is_salvaged_as_reply_to(string replyTo)
    {
        var r = Bodies.Rejected($$"""{"id":"{{Bodies.Id}}",""" + replyTo + ",\"v\":NaN}");
        AssertSalvaged(r, id: true, replyTo: false);
    }

    [Fact]
    public void Escaped_id_and_reply_to_are_salvaged_as_their_text()
    {
        var json = AfterIdAndReplyTo("\"x\":NaN")
            .Replace("\"" + Bodies.Id, "\"\\u0037" + Bodies.Id[1..], StringComparison.Ordinal)
            .Replace("\"replies-", "\"\\u0072eplies-", StringComparison.Ordinal);
        AssertSalvaged(Bodies.Rejected(json), id: true, replyTo: true);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("\"x\"")]
    public void A_body_that_does_not_start_with_an_object_salvages_nothing(string json)
    {
        var r = Bodies.Rejected(json + Bodies.Exec().ToJsonString());
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        AssertSalvaged(r, id: false, replyTo: false);
    }

    [Fact]
    public void Invalid_utf8_salvages_nothing_even_where_id_and_reply_to_are_readable()
    {
        var bytes = Encoding.UTF8.GetBytes(Bodies.Exec().ToJsonString()).ToList();
        bytes.Insert(bytes.IndexOf((byte)'/'), 0xFF);
        var result = CommandParser.Parse(bytes.ToArray(), Bodies.Now);
        Assert.False(result.IsAccepted);
        Assert.Equal(RejectCodes.MalformedJson, result.Rejection.Code);
        AssertSalvaged(result.Rejection, id: false, replyTo: false);
    }

    [Theory]
    [InlineData("args.x", true)]
    [InlineData("args.argv", true)]
    [InlineData("name", true)]
    [InlineData("id", false)]
    public void Unpaired_surrogate_escape_is_malformed_json_with_what_is_well_formed_salvaged(string where, bool idSalvaged)
    {
        var json = Bodies.Exec().ToJsonString();
        json = where switch
        {
            "args.x" => json.Replace("\"argv\"", "\"x\":\"a\\ud800b\",\"argv\"", StringComparison.Ordinal),
            "args.argv" => json.Replace("\"hi\"", "\"\\udc00\"", StringComparison.Ordinal),
            "name" => json.Replace("\"args\":", "\"\\ud83d\":1,\"args\":", StringComparison.Ordinal),
            _ => json.Replace(Bodies.Id, "\\ud800", StringComparison.Ordinal),
        };
        var r = Bodies.Rejected(json);
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        Assert.Contains("surrogate", r.Message, StringComparison.Ordinal);
        AssertSalvaged(r, id: idSalvaged, replyTo: true);
    }

    [Fact]
    public void A_complete_surrogate_pair_is_text_like_any_other()
    {
        var body = Bodies.Exec(new JsonObject { ["argv"] = new JsonArray("/bin/echo", "😀") });
        var json = body.ToJsonString().Replace("😀", "\\ud83d\\ude00", StringComparison.Ordinal);
        var args = Assert.IsType<ExecArgs>(CommandParser.Parse(json, Bodies.Now).Command?.Args);
        Assert.Equal("😀", args.Argv![1]);
    }

    [Fact]
    public void Oversize_body_that_does_not_parse_still_salvages_id_and_reply_to()
    {
        var json = Bodies.Exec().ToJsonString();
        var unterminated = json[..json.IndexOf("\"argv\"", StringComparison.Ordinal)] + "\"stdin\":\"" + new string('x', 300_000);
        var r = Bodies.Rejected(unterminated);
        Assert.Equal(RejectCodes.Oversize, r.Code);
        AssertSalvaged(r, id: true, replyTo: true);
    }
}
