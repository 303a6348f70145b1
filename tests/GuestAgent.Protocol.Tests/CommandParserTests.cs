using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuestAgent.Protocol.Tests;

public sealed class CommandParserTests
{
    [Fact]
    public void The_documented_example_parses_into_typed_fields()
    {
        const string json = """
            {"v":1,"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","op":"exec","mode":"call","reply_to":"replies-vm1",
             "issued_at":"2026-11-25T13:00:00Z","expires_at":"2026-11-25T13:10:00Z","on_interrupt":"fail",
             "args":{"argv":["/bin/echo","hi"]},
             "sig":{"kid":"k1","mac":"c2lnbmF0dXJl"}}
            """;
        var result = CommandParser.Parse(json, Bodies.Now, ProtocolLimits.Default);

        Assert.True(result.IsAccepted, result.Rejection?.Message);
        var c = result.Command;
        Assert.Equal(1, c.Version);
        Assert.Equal(Guid.Parse(Bodies.Id), c.Id);
        Assert.Equal(Ops.Exec, c.Op);
        Assert.Equal(CommandMode.Call, c.Mode);
        Assert.Equal("replies-vm1", c.ReplyTo);
        Assert.Equal(Bodies.IssuedAt, c.IssuedAt);
        Assert.Equal(TimeSpan.Zero, c.IssuedAt.Offset);
        Assert.Equal(Bodies.ExpiresAt, c.ExpiresAt);
        Assert.Equal(InterruptPolicy.Fail, c.OnInterrupt);
        Assert.Equal(new CommandSignature("k1", "c2lnbmF0dXJl"), c.Signature);
        var exec = Assert.IsType<ExecArgs>(c.Args);
        Assert.Equal(["/bin/echo", "hi"], exec.Argv);
        Assert.Null(exec.Shell);
        Assert.Equal(ExecArgs.DefaultTimeoutSeconds, exec.TimeoutSeconds);
        Assert.Equal(ExecArgs.DefaultKillGraceSeconds, exec.KillGraceSeconds);
        Assert.Null(exec.OutputCapBytes);
        Assert.Null(exec.DecodeStdin());
        Assert.Equal(JsonValueKind.Object, c.RawArgs.ValueKind);
    }

    [Fact]
    public void Utf8_bytes_and_json_element_overloads_agree_with_the_string_overload()
    {
        var json = Bodies.Exec().ToJsonString();
        var fromBytes = CommandParser.Parse(Encoding.UTF8.GetBytes(json), Bodies.Now, ProtocolLimits.Default);
        using var document = JsonDocument.Parse(json);
        var fromElement = CommandParser.Parse(document.RootElement, Bodies.Now, ProtocolLimits.Default);
        Assert.True(fromBytes.IsAccepted);
        Assert.True(fromElement.IsAccepted);
        Assert.Equal(json, fromBytes.Command.ToJson());
        Assert.Equal(json, fromElement.Command.ToJson());
    }

    [Fact]
    public void Every_exec_field_is_read()
    {
        var args = new JsonObject
        {
            ["shell"] = "echo \"$GREETING\" && pwd",
            ["env"] = new JsonObject { ["GREETING"] = "hello", ["EMPTY"] = "" },
            ["cwd"] = "/srv",
            ["stdin_b64"] = Convert.ToBase64String([0, 1, 2, 255]),
            ["timeout_s"] = 2.5,
            ["run_as"] = "deploy",
            ["kill_grace_s"] = 0,
            ["output_cap_bytes"] = 4096,
        };
        var exec = Assert.IsType<ExecArgs>(Bodies.Accepted(Bodies.Exec(args)).Args);

        Assert.Null(exec.Argv);
        Assert.Equal("echo \"$GREETING\" && pwd", exec.Shell);
        Assert.Equal(new Dictionary<string, string> { ["GREETING"] = "hello", ["EMPTY"] = "" }, exec.Env);
        Assert.Equal("/srv", exec.Cwd);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, exec.DecodeStdin());
        Assert.Equal(2.5, exec.TimeoutSeconds);
        Assert.Equal("deploy", exec.RunAs);
        Assert.Equal(0, exec.KillGraceSeconds);
        Assert.Equal(4096, exec.OutputCapBytes);
    }

    [Fact]
    public void Text_stdin_is_fed_as_utf8()
    {
        var args = new JsonObject { ["argv"] = new JsonArray("/bin/cat"), ["stdin"] = "grüße\n" };
        var exec = Assert.IsType<ExecArgs>(Bodies.Accepted(Bodies.Exec(args)).Args);
        Assert.Equal(Encoding.UTF8.GetBytes("grüße\n"), exec.DecodeStdin());
    }

    [Fact]
    public void Cast_defaults_to_rerun_on_interrupt_and_needs_no_reply_to()
    {
        var body = Bodies.Exec();
        body["mode"] = "cast";
        body.Remove("reply_to");
        body.Remove("on_interrupt");
        var c = Bodies.Accepted(body);
        Assert.Equal(CommandMode.Cast, c.Mode);
        Assert.Null(c.ReplyTo);
        Assert.Equal(InterruptPolicy.Rerun, c.OnInterrupt);
    }

    [Fact]
    public void Call_is_the_default_mode_and_defaults_to_fail_on_interrupt()
    {
        var body = Bodies.Exec();
        body.Remove("mode");
        body.Remove("on_interrupt");
        var c = Bodies.Accepted(body);
        Assert.Equal(CommandMode.Call, c.Mode);
        Assert.Equal(InterruptPolicy.Fail, c.OnInterrupt);
    }

    [Fact]
    public void Explicit_on_interrupt_overrides_the_mode_default()
    {
        var body = Bodies.Exec();
        body["on_interrupt"] = "rerun";
        Assert.Equal(InterruptPolicy.Rerun, Bodies.Accepted(body).OnInterrupt);
    }

    [Fact]
    public void Expires_at_and_sig_are_optional()
    {
        var body = Bodies.Exec();
        body.Remove("expires_at");
        body.Remove("sig");
        var c = Bodies.Accepted(body, now: Bodies.IssuedAt.AddDays(30));
        Assert.Null(c.ExpiresAt);
        Assert.Null(c.Signature);
    }

    [Fact]
    public void Null_optional_fields_count_as_absent()
    {
        var body = Bodies.Exec();
        body["expires_at"] = null;
        body["sig"] = null;
        body["mode"] = null;
        var c = Bodies.Accepted(body);
        Assert.Null(c.ExpiresAt);
        Assert.Null(c.Signature);
        Assert.Equal(CommandMode.Call, c.Mode);
    }

    [Fact]
    public void Unknown_fields_at_top_level_and_in_args_are_ignored_and_args_ones_survive_reserialisation()
    {
        var body = Bodies.Exec(new JsonObject { ["argv"] = new JsonArray("/bin/true"), ["nice"] = 10 });
        body["priority"] = "high";
        body["trace"] = new JsonObject { ["span"] = "abc" };
        var c = Bodies.Accepted(body);
        Assert.Equal(10, c.RawArgs.GetProperty("nice").GetInt32());
        Assert.Contains("\"nice\":10", c.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void Timestamps_with_offsets_and_fractions_are_normalised_to_utc()
    {
        var body = Bodies.Exec();
        body["issued_at"] = "2026-11-25T14:00:00.123456789+01:00";
        body["expires_at"] = "2026-11-25t13:10:00z";
        var c = Bodies.Accepted(body);
        Assert.Equal(Bodies.IssuedAt.AddTicks(1_234_567), c.IssuedAt);
        Assert.Equal(TimeSpan.Zero, c.IssuedAt.Offset);
        Assert.Equal(Bodies.ExpiresAt, c.ExpiresAt);
    }

    [Fact]
    public void Uppercase_uuid_is_accepted()
    {
        var body = Bodies.Exec();
        body["id"] = Bodies.Id.ToUpperInvariant();
        Assert.Equal(Guid.Parse(Bodies.Id), Bodies.Accepted(body).Id);
    }

    [Fact]
    public void Ping_needs_no_args()
    {
        var body = Bodies.Op("ping");
        body.Remove("args");
        var c = Bodies.Accepted(body);
        Assert.IsType<PingArgs>(c.Args);
        Assert.Equal("{}", c.RawArgs.GetRawText());
    }

    [Fact]
    public void Status_and_cancel_read_the_target_command_id()
    {
        var target = Guid.NewGuid();
        var status = Bodies.Accepted(Bodies.Op("status", new JsonObject { ["command_id"] = target.ToString() }));
        var cancel = Bodies.Accepted(Bodies.Op("cancel", new JsonObject { ["command_id"] = target.ToString() }));
        Assert.Equal(new StatusArgs(target), status.Args);
        Assert.Equal(new CancelArgs(target), cancel.Args);
    }
}
