using System.Text.Json;

namespace GuestAgent.Protocol.Tests;

public sealed class CommandRoundTripTests
{
    private static readonly DateTimeOffset IssuedAt = new DateTimeOffset(2026, 11, 25, 13, 0, 0, TimeSpan.Zero).AddTicks(1_234_567);

    public static TheoryData<OpArgs> AllArgs() =>
    [
        new ExecArgs { Argv = ["/bin/echo", "hi", ""] },
        new ExecArgs
        {
            Shell = "printf '%s' \"$X\" | tr a-z A-Z",
            Env = new Dictionary<string, string> { ["X"] = "ünïcödé +/=<>&'\"\\\n\t" },
            Cwd = "/tmp",
            StdinB64 = Convert.ToBase64String([0xfb, 0xff, 0xbf, 0x00]),
            TimeoutSeconds = 0.25,
            RunAs = "nobody",
            KillGraceSeconds = 1.5,
            OutputCapBytes = 1,
        },
        new ExecArgs { Argv = ["/bin/cat"], Stdin = "line 1\nline 2\n" },
        new StatusArgs(Guid.NewGuid()),
        new CancelArgs(Guid.NewGuid()),
        new PingArgs(),
    ];

    [Theory]
    [MemberData(nameof(AllArgs))]
    public void Call_round_trips_through_the_parser_unchanged(OpArgs args)
    {
        var signature = new CommandSignature("k1", "bWFj");
        var command = Command.Call(args, "replies-vm1", IssuedAt, IssuedAt.AddMinutes(10)) with { Signature = signature };

        var parsed = Reparse(command);

        AssertSame(command, parsed);
        Assert.Equal(command.ToJson(), parsed.ToJson());
    }

    [Theory]
    [MemberData(nameof(AllArgs))]
    public void Cast_round_trips_through_the_parser_unchanged(OpArgs args)
    {
        var command = Command.Cast(args, IssuedAt);
        var parsed = Reparse(command);
        AssertSame(command, parsed);
        Assert.Equal(InterruptPolicy.Rerun, parsed.OnInterrupt);
        Assert.Null(parsed.ReplyTo);
    }

    [Fact]
    public void Wire_form_uses_the_documented_field_names()
    {
        var args = new ExecArgs { Argv = ["/bin/true"], StdinB64 = "AA==", RunAs = "root", OutputCapBytes = 10 };
        var signature = new CommandSignature("k1", "m");
        var command = Command.Call(args, "replies-vm1", IssuedAt, IssuedAt.AddMinutes(1), id: Guid.Parse(Bodies.Id)) with { Signature = signature };
        using var document = JsonDocument.Parse(command.ToJson());
        var root = document.RootElement;

        Assert.Equal(
            ["v", "id", "op", "mode", "reply_to", "issued_at", "expires_at", "on_interrupt", "args", "sig"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(Bodies.Id, root.GetProperty("id").GetString());
        Assert.Equal("2026-11-25T13:00:00.1234567Z", root.GetProperty("issued_at").GetString());
        Assert.Equal(
            ["argv", "stdin_b64", "timeout_s", "run_as", "kill_grace_s", "output_cap_bytes"],
            root.GetProperty("args").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["kid", "mac"], root.GetProperty("sig").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void Wire_form_does_not_escape_plus_or_non_ascii()
    {
        var command = Command.Cast(new ExecArgs { Shell = "echo 1+1 é" }, IssuedAt);
        Assert.Contains("echo 1+1 é", command.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void WithArgs_keeps_op_args_and_raw_args_in_step()
    {
        var target = Guid.NewGuid();
        var command = Command.Call(new PingArgs(), "replies-vm1", IssuedAt).WithArgs(new CancelArgs(target));
        var parsed = Reparse(command);
        Assert.Equal(Ops.Cancel, parsed.Op);
        Assert.Equal(new CancelArgs(target), parsed.Args);
    }

    [Fact]
    public void ToJsonElement_parses_like_the_text()
    {
        var command = Command.Call(new PingArgs(), "replies-vm1", IssuedAt);
        var result = CommandParser.Parse(command.ToJsonElement(), IssuedAt, ProtocolLimits.Default);
        Assert.True(result.IsAccepted);
        Assert.Equal(command.Id, result.Command.Id);
    }

    private static Command Reparse(Command command)
    {
        var result = CommandParser.Parse(command.ToUtf8Bytes(), IssuedAt, ProtocolLimits.Default);
        Assert.True(result.IsAccepted, result.Rejection?.Message);
        return result.Command;
    }

    private static void AssertSame(Command expected, Command actual)
    {
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Op, actual.Op);
        Assert.Equal(expected.Mode, actual.Mode);
        Assert.Equal(expected.ReplyTo, actual.ReplyTo);
        Assert.Equal(expected.IssuedAt, actual.IssuedAt);
        Assert.Equal(expected.ExpiresAt, actual.ExpiresAt);
        Assert.Equal(expected.OnInterrupt, actual.OnInterrupt);
        Assert.Equal(expected.Signature, actual.Signature);
        Assert.Equal(expected.Args.GetType(), actual.Args.GetType());
        if (expected.Args is ExecArgs e && actual.Args is ExecArgs a)
        {
            Assert.Equal(e.Argv, a.Argv);
            Assert.Equal(e.Shell, a.Shell);
            Assert.Equal(e.Env, a.Env);
            Assert.Equal(e.Cwd, a.Cwd);
            Assert.Equal(e.Stdin, a.Stdin);
            Assert.Equal(e.StdinB64, a.StdinB64);
            Assert.Equal(e.TimeoutSeconds, a.TimeoutSeconds);
            Assert.Equal(e.RunAs, a.RunAs);
            Assert.Equal(e.KillGraceSeconds, a.KillGraceSeconds);
            Assert.Equal(e.OutputCapBytes, a.OutputCapBytes);
        }
        else
        {
            Assert.Equal(expected.Args, actual.Args);
        }
    }
}
