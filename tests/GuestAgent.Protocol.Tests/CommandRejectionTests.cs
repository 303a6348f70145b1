using System.Text;
using System.Text.Json.Nodes;

namespace GuestAgent.Protocol.Tests;

public sealed class CommandRejectionTests
{
    private static readonly Guid SalvagedId = Guid.Parse(Bodies.Id);

    [Theory]
    [InlineData("{\"v\":1,\"id\":")]
    [InlineData("not json at all")]
    [InlineData("")]
    [InlineData("{\"v\":1} trailing")]
    [InlineData("{'v':1}")]
    [InlineData("{\"v\":1,}")]
    [InlineData("{\"v\":1 /* comment */}")]
    public void Syntax_errors_are_rejected_as_malformed_json(string json)
    {
        var r = Bodies.Rejected(json);
        Assert.Equal(RejectCodes.MalformedJson, r.Code);
        Assert.Null(r.CommandId);
        Assert.Null(r.ReplyTo);
    }

    [Fact]
    public void Invalid_utf8_is_rejected_as_malformed_json()
    {
        var bytes = Encoding.UTF8.GetBytes(Bodies.Exec().ToJsonString()).ToList();
        var at = bytes.IndexOf((byte)'/');
        bytes.Insert(at, 0xFF);
        var result = CommandParser.Parse(bytes.ToArray(), Bodies.Now);
        Assert.False(result.IsAccepted);
        Assert.Equal(RejectCodes.MalformedJson, result.Rejection.Code);
        Assert.Contains("UTF-8", result.Rejection.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_property_names_are_rejected_as_malformed_json()
    {
        // A signer and an executor could each pick a different "argv".
        var json = Bodies.Exec().ToJsonString().Replace("\"op\":\"exec\"", "\"op\":\"exec\",\"op\":\"ping\"", StringComparison.Ordinal);
        Assert.Equal(RejectCodes.MalformedJson, Bodies.Rejected(json).Code);
    }

    [Fact]
    public void Deeply_nested_json_is_rejected_as_malformed_json_not_a_crash()
    {
        var json = "{\"v\":1,\"args\":" + new string('[', 10_000) + new string(']', 10_000) + "}";
        Assert.Equal(RejectCodes.MalformedJson, Bodies.Rejected(json).Code);
    }

    [Theory]
    [InlineData("[{\"v\":1}]")]
    [InlineData("\"exec\"")]
    [InlineData("42")]
    [InlineData("null")]
    public void Json_that_is_not_an_object_is_rejected_as_not_an_object(string json) =>
        Assert.Equal(RejectCodes.NotAnObject, Bodies.Rejected(json).Code);

    [Fact]
    public void Version_2_is_rejected_as_unsupported_version_with_id_and_reply_to_salvaged()
    {
        var body = Bodies.Exec();
        body["v"] = 2;
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.UnsupportedVersion, r.Code);
        Assert.Equal("v", r.Field);
        Assert.Equal(SalvagedId, r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Fact]
    public void Version_as_string_is_rejected_as_wrong_type()
    {
        var body = Bodies.Exec();
        body["v"] = "1";
        Assert.Equal(RejectCodes.WrongType, Bodies.Rejected(body).Code);
    }

    [Fact]
    public void Missing_version_is_rejected_as_missing_field()
    {
        var body = Bodies.Exec();
        body.Remove("v");
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.MissingField, r.Code);
        Assert.Equal("v", r.Field);
    }

    [Fact]
    public void Missing_id_is_rejected_as_missing_field_with_reply_to_salvaged()
    {
        var body = Bodies.Exec();
        body.Remove("id");
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.MissingField, r.Code);
        Assert.Equal("id", r.Field);
        Assert.Contains("id", r.Message, StringComparison.Ordinal);
        Assert.Null(r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Fact]
    public void Null_id_counts_as_missing()
    {
        var body = Bodies.Exec();
        body["id"] = null;
        Assert.Equal(RejectCodes.MissingField, Bodies.Rejected(body).Code);
    }

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("7c9e6679742540de944be07fc1f90ae7")]
    [InlineData("{7c9e6679-7425-40de-944b-e07fc1f90ae7}")]
    [InlineData("7c9e6679-7425-40de-944b-e07fc1f90ae7; rm -rf /")]
    [InlineData("")]
    public void Id_that_is_not_a_uuid_is_rejected_as_invalid_value(string id)
    {
        var body = Bodies.Exec();
        body["id"] = id;
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("id", r.Field);
        Assert.Null(r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Fact]
    public void Id_as_number_is_rejected_as_wrong_type()
    {
        var body = Bodies.Exec();
        body["id"] = 5;
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.WrongType, r.Code);
        Assert.Equal("id", r.Field);
        Assert.Contains("string", r.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rm")]
    [InlineData("EXEC")]
    [InlineData("file.delete")]
    [InlineData("")]
    public void Unknown_op_is_rejected_as_unknown_op_with_id_salvaged(string op)
    {
        var r = Bodies.Rejected(Bodies.Op(op));
        Assert.Equal(RejectCodes.UnknownOp, r.Code);
        Assert.Equal("op", r.Field);
        Assert.Equal(SalvagedId, r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Fact]
    public void Call_without_reply_to_is_rejected_as_missing_field()
    {
        var body = Bodies.Exec();
        body.Remove("reply_to");
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.MissingField, r.Code);
        Assert.Equal("reply_to", r.Field);
        Assert.Equal(SalvagedId, r.CommandId);
        Assert.Null(r.ReplyTo);
    }

    [Fact]
    public void Call_is_the_default_mode_so_a_command_without_mode_or_reply_to_is_rejected()
    {
        var body = Bodies.Exec();
        body.Remove("mode");
        body.Remove("reply_to");
        Assert.Equal(RejectCodes.MissingField, Bodies.Rejected(body).Code);
    }

    [Theory]
    [InlineData("replies.vm1")]
    [InlineData("replies vm1")]
    [InlineData("../../etc")]
    [InlineData("")]
    [InlineData("ré")]
    public void Reply_to_that_is_not_a_queue_name_is_rejected_and_not_salvaged(string replyTo)
    {
        var body = Bodies.Exec();
        body["reply_to"] = replyTo;
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("reply_to", r.Field);
        Assert.Null(r.ReplyTo);
        Assert.Equal(SalvagedId, r.CommandId);
    }

    [Fact]
    public void Reply_to_of_65_characters_is_rejected_as_invalid_value()
    {
        var body = Bodies.Exec();
        body["reply_to"] = new string('q', 65);
        Assert.Equal(RejectCodes.InvalidValue, Bodies.Rejected(body).Code);
    }

    [Fact]
    public void Unknown_mode_is_rejected_as_invalid_value()
    {
        var body = Bodies.Exec();
        body["mode"] = "broadcast";
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("mode", r.Field);
    }

    [Fact]
    public void Unknown_on_interrupt_is_rejected_as_invalid_value()
    {
        var body = Bodies.Exec();
        body["on_interrupt"] = "retry";
        Assert.Equal(RejectCodes.InvalidValue, Bodies.Rejected(body).Code);
    }

    [Theory]
    [InlineData("2026-11-25 13:00:00")]
    [InlineData("2026-11-25T13:00:00")]
    [InlineData("yesterday")]
    [InlineData("2026-02-30T13:00:00Z")]
    [InlineData("2026-11-25T13:00:00Z\n")]
    public void Issued_at_that_is_not_an_rfc3339_timestamp_with_zone_is_rejected_as_invalid_value(string issuedAt)
    {
        var body = Bodies.Exec();
        body["issued_at"] = issuedAt;
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("issued_at", r.Field);
    }

    [Fact]
    public void Issued_at_as_unix_seconds_is_rejected_as_wrong_type()
    {
        var body = Bodies.Exec();
        body["issued_at"] = 1_795_611_600;
        Assert.Equal(RejectCodes.WrongType, Bodies.Rejected(body).Code);
    }

    [Fact]
    public void Missing_issued_at_is_rejected_as_missing_field()
    {
        var body = Bodies.Exec();
        body.Remove("issued_at");
        Assert.Equal(RejectCodes.MissingField, Bodies.Rejected(body).Code);
    }

    [Fact]
    public void Command_past_expires_at_plus_skew_is_rejected_as_expired_with_id_salvaged()
    {
        var r = Bodies.Rejected(Bodies.Exec(), now: Bodies.ExpiresAt.AddSeconds(61));
        Assert.Equal(RejectCodes.Expired, r.Code);
        Assert.Equal("expires_at", r.Field);
        Assert.Equal(SalvagedId, r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Fact]
    public void Command_past_expires_at_but_within_the_skew_is_accepted() =>
        Bodies.Accepted(Bodies.Exec(), now: Bodies.ExpiresAt.AddSeconds(59));

    [Fact]
    public void Skew_is_configurable()
    {
        var strict = ProtocolLimits.Default with { ClockSkew = TimeSpan.Zero };
        Assert.Equal(RejectCodes.Expired, Bodies.Rejected(Bodies.Exec(), Bodies.ExpiresAt.AddSeconds(1), strict).Code);
    }

    [Fact]
    public void Command_issued_in_the_future_beyond_the_skew_is_rejected_as_expired()
    {
        var r = Bodies.Rejected(Bodies.Exec(), now: Bodies.IssuedAt.AddSeconds(-61));
        Assert.Equal(RejectCodes.Expired, r.Code);
        Assert.Equal("issued_at", r.Field);
        Assert.Contains("future", r.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Command_issued_slightly_in_the_future_within_the_skew_is_accepted() =>
        Bodies.Accepted(Bodies.Exec(), now: Bodies.IssuedAt.AddSeconds(-59));

    [Theory]
    [InlineData("2026-11-25T13:00:00Z")]
    [InlineData("2026-11-25T12:59:59Z")]
    public void Command_that_expires_before_it_is_issued_is_rejected_as_expired(string expiresAt)
    {
        var body = Bodies.Exec();
        body["expires_at"] = expiresAt;
        var r = Bodies.Rejected(body, now: Bodies.IssuedAt);
        Assert.Equal(RejectCodes.Expired, r.Code);
        Assert.Equal("expires_at", r.Field);
    }

    [Theory]
    [InlineData("9999-12-31T23:59:59Z")]
    [InlineData("9999-12-31T23:59:59.9999999Z")]
    [InlineData("9999-12-31T23:59:59.999999999Z")]
    [InlineData("9999-12-31T09:59:59-14:00")]
    [InlineData("9999-12-31T23:58:00Z")]
    public void Far_future_expiry_is_judged_not_thrown(string expiresAt)
    {
        var body = Bodies.Exec();
        body["expires_at"] = expiresAt;
        var c = Bodies.Accepted(body);
        Assert.Equal(9999, c.ExpiresAt!.Value.Year);
    }

    public static TheoryData<string, string, string?> ExtremeTimestamps => new()
    {
        // field, value, expected code (null: accepted)
        { "issued_at", "0001-01-01T00:00:00Z", null },
        { "issued_at", "0001-01-01T14:00:00+14:00", null },
        { "issued_at", "9999-12-31T23:59:59Z", RejectCodes.Expired },
        { "issued_at", "9999-12-31T23:59:59.999999999Z", RejectCodes.Expired },
        { "expires_at", "0001-01-01T00:00:00Z", RejectCodes.Expired },
        // Beyond what a DateTimeOffset holds once converted to UTC.
        { "issued_at", "0001-01-01T00:00:00+14:00", RejectCodes.InvalidValue },
        { "issued_at", "0001-01-01T00:00:00+00:01", RejectCodes.InvalidValue },
        { "expires_at", "9999-12-31T23:59:59-12:00", RejectCodes.InvalidValue },
        { "expires_at", "9999-12-31T23:59:59-00:01", RejectCodes.InvalidValue },
        { "expires_at", "0000-12-31T23:59:59Z", RejectCodes.InvalidValue },
    };

    [Theory]
    [MemberData(nameof(ExtremeTimestamps))]
    public void Timestamps_at_the_ends_of_time_are_judged_not_thrown(string field, string value, string? code)
    {
        var body = Bodies.Exec();
        body[field] = value;
        var result = Bodies.Parse(body);
        Assert.Equal(code, result.Rejection?.Code);
        if (code is not null)
        {
            Assert.Equal(SalvagedId, result.Rejection!.CommandId);
        }
    }

    [Fact]
    public void Command_issued_at_the_end_of_time_without_expiry_is_expired_as_from_the_future()
    {
        var body = Bodies.Exec();
        body["issued_at"] = "9999-12-31T23:59:59Z";
        body.Remove("expires_at");
        var r = Bodies.Rejected(body);
        Assert.Equal((RejectCodes.Expired, "issued_at"), (r.Code, r.Field));
        Assert.Contains("future", r.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Agent_clock_at_the_ends_of_time_is_judged_not_thrown()
    {
        var body = Bodies.Exec();
        body["expires_at"] = "9999-12-31T23:59:59Z";
        Bodies.Accepted(body, now: DateTimeOffset.MaxValue);
        Assert.Equal(RejectCodes.Expired, Bodies.Rejected(Bodies.Exec(), now: DateTimeOffset.MaxValue).Code);
        Assert.Equal(RejectCodes.Expired, Bodies.Rejected(Bodies.Exec(), now: DateTimeOffset.MinValue).Code);
        var extremeSkew = ProtocolLimits.Default with { ClockSkew = TimeSpan.MaxValue };
        Bodies.Accepted(body, now: DateTimeOffset.MinValue, limits: extremeSkew);
        Bodies.Accepted(Bodies.Exec(), now: DateTimeOffset.MaxValue, limits: extremeSkew);
        Assert.Equal(RejectCodes.Expired, Bodies.Rejected(Bodies.Exec(), limits: ProtocolLimits.Default with { ClockSkew = TimeSpan.MinValue }).Code);
    }

    [Fact]
    public void Internal_error_is_a_stable_code_listed_with_the_others()
    {
        Assert.Equal("internal_error", RejectCodes.InternalError);
        Assert.Contains(RejectCodes.InternalError, RejectCodes.All);
        Assert.Equal(RejectCodes.All.Count, RejectCodes.All.Distinct().Count());
    }

    [Fact]
    public void Body_over_the_limit_is_rejected_as_oversize_with_id_and_reply_to_salvaged()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/cat"), ["stdin"] = new string('x', 256 * 1024) };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.Oversize, r.Code);
        Assert.Null(r.Field);
        Assert.Equal(SalvagedId, r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Fact]
    public void Body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_oversize()
    {
        var size = Encoding.UTF8.GetByteCount(Bodies.Exec().ToJsonString());
        var limits = ProtocolLimits.Default with { MaxCommandBytes = size };
        Bodies.Accepted(Bodies.Exec(), limits: limits);
        Assert.Equal(RejectCodes.Oversize, Bodies.Rejected(Bodies.Exec(), limits: limits with { MaxCommandBytes = size - 1 }).Code);
    }

    [Fact]
    public void Oversize_garbage_is_rejected_as_oversize_without_salvage()
    {
        var r = Bodies.Rejected(new string('{', 300_000));
        Assert.Equal(RejectCodes.Oversize, r.Code);
        Assert.Null(r.CommandId);
    }

    [Fact]
    public void Timeout_as_string_is_rejected_as_wrong_type_naming_args_timeout_s()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/true"), ["timeout_s"] = "ten" };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.WrongType, r.Code);
        Assert.Equal("args.timeout_s", r.Field);
        Assert.Contains("args.timeout_s", r.Message, StringComparison.Ordinal);
        Assert.Equal(SalvagedId, r.CommandId);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(86_401)]
    public void Timeout_out_of_range_is_rejected_as_invalid_value(double timeout)
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/true"), ["timeout_s"] = timeout };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.timeout_s", r.Field);
    }

    [Fact]
    public void Timeout_of_1e400_is_rejected_as_invalid_value_not_infinity()
    {
        var json = Bodies.Exec().ToJsonString().Replace("\"argv\"", "\"timeout_s\":1e400,\"argv\"", StringComparison.Ordinal);
        var r = Bodies.Rejected(json);
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.timeout_s", r.Field);
    }

    [Fact]
    public void Timeout_limit_is_configurable()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/true"), ["timeout_s"] = 120 };
        var limits = ProtocolLimits.Default with { MaxTimeoutSeconds = 60 };
        Assert.Equal(RejectCodes.InvalidValue, Bodies.Rejected(Bodies.Exec(args), limits: limits).Code);
    }

    [Fact]
    public void Env_value_as_number_is_rejected_as_wrong_type_naming_the_variable()
    {
        var args = new JsonObject
        {
            ["argv"] = new JsonArray("/usr/bin/env"),
            ["env"] = new JsonObject { ["LANG"] = "C.UTF-8", ["RETRIES"] = 3 },
        };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.WrongType, r.Code);
        Assert.Equal("args.env.RETRIES", r.Field);
    }

    [Theory]
    [InlineData("A=B")]
    [InlineData("")]
    [InlineData("A\u0000B")]
    public void Env_names_that_execve_would_misread_are_rejected_as_invalid_value(string name)
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/usr/bin/env"), ["env"] = new JsonObject { [name] = "x" } };
        Assert.Equal(RejectCodes.InvalidValue, Bodies.Rejected(Bodies.Exec(args)).Code);
    }

    [Fact]
    public void Env_as_array_is_rejected_as_wrong_type()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/usr/bin/env"), ["env"] = new JsonArray("A=B") };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.WrongType, r.Code);
        Assert.Equal("args.env", r.Field);
    }

    [Fact]
    public void Exec_with_both_argv_and_shell_is_rejected_as_invalid_value()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/true"), ["shell"] = "true" };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Contains("args.shell", r.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exec_with_neither_argv_nor_shell_is_rejected_as_missing_field()
    {
        var r = Bodies.Rejected(Bodies.Exec([]));
        Assert.Equal(RejectCodes.MissingField, r.Code);
        Assert.Equal("args.argv", r.Field);
    }

    [Fact]
    public void Exec_without_args_is_rejected_as_missing_field()
    {
        var body = Bodies.Exec();
        body.Remove("args");
        Assert.Equal(RejectCodes.MissingField, Bodies.Rejected(body).Code);
    }

    [Fact]
    public void Exec_with_empty_argv_is_rejected_as_invalid_value()
    {
        var r = Bodies.Rejected(Bodies.Exec(new JsonObject { ["argv"] = new JsonArray() }));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.argv", r.Field);
    }

    [Fact]
    public void Exec_with_argv_as_string_is_rejected_as_wrong_type()
    {
        var r = Bodies.Rejected(Bodies.Exec(new JsonObject { ["argv"] = "/bin/echo hi" }));
        Assert.Equal(RejectCodes.WrongType, r.Code);
        Assert.Equal("args.argv", r.Field);
    }

    [Fact]
    public void Exec_with_a_number_in_argv_is_rejected_as_wrong_type_naming_the_element()
    {
        var r = Bodies.Rejected(Bodies.Exec(new JsonObject { ["argv"] = new JsonArray("/bin/sleep", 5) }));
        Assert.Equal(RejectCodes.WrongType, r.Code);
        Assert.Equal("args.argv[1]", r.Field);
    }

    [Fact]
    public void Exec_with_nul_in_argv_is_rejected_as_invalid_value()
    {
        var r = Bodies.Rejected(Bodies.Exec(new JsonObject { ["argv"] = new JsonArray("/bin/echo", "a\u0000b") }));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.argv[1]", r.Field);
    }

    [Fact]
    public void Exec_with_empty_program_name_is_rejected_as_invalid_value()
    {
        var r = Bodies.Rejected(Bodies.Exec(new JsonObject { ["argv"] = new JsonArray("", "x") }));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.argv[0]", r.Field);
    }

    [Fact]
    public void Exec_with_both_stdin_and_stdin_b64_is_rejected_as_invalid_value()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/cat"), ["stdin"] = "hi", ["stdin_b64"] = "aGk=" };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.stdin_b64", r.Field);
    }

    [Fact]
    public void Exec_with_stdin_b64_that_is_not_base64_is_rejected_as_invalid_value()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/cat"), ["stdin_b64"] = "not base64!" };
        Assert.Equal(RejectCodes.InvalidValue, Bodies.Rejected(Bodies.Exec(args)).Code);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(3_000_000_000L)]
    public void Output_cap_that_is_not_a_positive_int_is_rejected_as_invalid_value(long cap)
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/true"), ["output_cap_bytes"] = cap };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.output_cap_bytes", r.Field);
    }

    [Fact]
    public void Output_cap_with_a_fraction_is_rejected_as_wrong_type()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/true"), ["output_cap_bytes"] = 1.5 };
        Assert.Equal(RejectCodes.WrongType, Bodies.Rejected(Bodies.Exec(args)).Code);
    }

    [Fact]
    public void Negative_kill_grace_is_rejected_as_invalid_value()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/true"), ["kill_grace_s"] = -1 };
        var r = Bodies.Rejected(Bodies.Exec(args));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.kill_grace_s", r.Field);
    }

    [Fact]
    public void Args_as_string_is_rejected_as_wrong_type()
    {
        var body = Bodies.Exec();
        body["args"] = "x";
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.WrongType, r.Code);
        Assert.Equal("args", r.Field);
    }

    [Fact]
    public void Status_without_command_id_is_rejected_as_missing_field()
    {
        var r = Bodies.Rejected(Bodies.Op("status"));
        Assert.Equal(RejectCodes.MissingField, r.Code);
        Assert.Equal("args.command_id", r.Field);
    }

    [Fact]
    public void Cancel_with_command_id_not_a_uuid_is_rejected_as_invalid_value()
    {
        var r = Bodies.Rejected(Bodies.Op("cancel", new JsonObject { ["command_id"] = "last" }));
        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.command_id", r.Field);
    }

    [Fact]
    public void Signature_without_mac_is_rejected_as_missing_field()
    {
        var body = Bodies.Exec();
        body["sig"] = new JsonObject { ["kid"] = "k1" };
        var r = Bodies.Rejected(body);
        Assert.Equal(RejectCodes.MissingField, r.Code);
        Assert.Equal("sig.mac", r.Field);
    }

    [Fact]
    public void Signature_as_string_is_rejected_as_wrong_type()
    {
        var body = Bodies.Exec();
        body["sig"] = "k1:abc";
        Assert.Equal(RejectCodes.WrongType, Bodies.Rejected(body).Code);
    }

    [Fact]
    public void Rejection_converts_to_a_reply_error_with_the_same_code_and_message()
    {
        var body = Bodies.Exec();
        body["v"] = 2;
        var rejection = Bodies.Rejected(body);
        Assert.Equal(new ReplyError(RejectCodes.UnsupportedVersion, rejection.Message), rejection.ToReplyError());
    }
}
