using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Protocol.Args;

namespace GuestAgent.Protocol.Tests;

public sealed class HttpArgsTests
{
    private static JsonObject Http(JsonObject args) => Bodies.Op("http", args);

    private static JsonObject Args(params (string Name, JsonNode? Value)[] extra)
    {
        var args = new JsonObject { ["url"] = "http://example.org/x" };
        foreach (var (name, value) in extra)
        {
            args[name] = value;
        }
        return args;
    }

    [Fact]
    public void Minimal_http_command_gets_the_defaults()
    {
        var args = Assert.IsType<HttpArgs>(Bodies.Accepted(Http(Args())).Args);

        Assert.Equal("GET", args.Method);
        Assert.Equal("http://example.org/x", args.Url);
        Assert.Null(args.Headers);
        Assert.Null(args.DecodeBody());
        Assert.Equal(30, args.TimeoutSeconds);
        Assert.True(args.FollowRedirects);
        Assert.Null(args.OutputCapBytes);
        Assert.Contains("http", OpCatalog.Standard.OpNames);
    }

    [Fact]
    public void Every_field_is_read()
    {
        var cmd = Bodies.Accepted(Http(Args(
            ("method", "PATCH"), ("url", "https://[::1]:8443/a?b=c"),
            ("headers", new JsonObject { ["X-Token"] = "abc", ["Content-Type"] = "text/plain" }),
            ("body_b64", Convert.ToBase64String([0, 1, 2])), ("timeout_s", 1.5), ("follow_redirects", false),
            ("output_cap_bytes", 10))));
        var args = Assert.IsType<HttpArgs>(cmd.Args);

        Assert.Equal("PATCH", args.Method);
        Assert.Equal("https://[::1]:8443/a?b=c", args.Url);
        Assert.Equal("abc", args.Headers!["X-Token"]);
        Assert.Equal([0, 1, 2], args.DecodeBody());
        Assert.Equal(1.5, args.TimeoutSeconds);
        Assert.False(args.FollowRedirects);
        Assert.Equal(10, args.OutputCapBytes);
    }

    public static TheoryData<string, string, string> Rejections() => new()
    {
        // field, JSON of its value ("<absent>" removes it), expected code; the path is args.<field> unless noted.
        { "url", "<absent>", RejectCodes.MissingField },
        { "url", "5", RejectCodes.WrongType },
        { "url", "\"\"", RejectCodes.InvalidValue },
        { "url", "\"/relative/path\"", RejectCodes.InvalidValue },
        { "url", "\"ftp://example.org/x\"", RejectCodes.InvalidValue },
        { "url", "\"file:///etc/passwd\"", RejectCodes.InvalidValue },
        { "method", "7", RejectCodes.WrongType },
        { "method", "\"\"", RejectCodes.InvalidValue },
        { "method", "\"GET /x\"", RejectCodes.InvalidValue },
        { "method", "\"GET\\r\\n\"", RejectCodes.InvalidValue },
        { "headers", "\"X: y\"", RejectCodes.WrongType },
        { "headers", "[]", RejectCodes.WrongType },
        { "body", "1", RejectCodes.WrongType },
        { "body_b64", "\"not base64!\"", RejectCodes.InvalidValue },
        { "body_b64", "true", RejectCodes.WrongType },
        { "timeout_s", "\"ten\"", RejectCodes.WrongType },
        { "timeout_s", "0", RejectCodes.InvalidValue },
        { "timeout_s", "-1", RejectCodes.InvalidValue },
        { "timeout_s", "86401", RejectCodes.InvalidValue },
        { "follow_redirects", "\"yes\"", RejectCodes.WrongType },
        { "follow_redirects", "1", RejectCodes.WrongType },
        { "output_cap_bytes", "0", RejectCodes.InvalidValue },
        { "output_cap_bytes", "1.5", RejectCodes.WrongType },
        { "output_cap_bytes", "4294967296", RejectCodes.InvalidValue },
    };

    [Theory]
    [MemberData(nameof(Rejections))]
    public void Bad_arguments_are_rejected_with_code_and_path(string field, string valueJson, string code)
    {
        var args = Args();
        if (valueJson == "<absent>")
        {
            args.Remove(field);
        }
        else
        {
            args[field] = JsonNode.Parse(valueJson);
        }

        var r = Bodies.Rejected(Http(args));

        Assert.Equal(code, r.Code);
        Assert.Equal($"args.{field}", r.Field);
        Assert.Equal(Guid.Parse(Bodies.Id), r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Theory]
    [InlineData("X-A", "\"a\\r\\nX-Injected: 1\"", RejectCodes.InvalidValue)]
    [InlineData("X-A", "\"a\\nb\"", RejectCodes.InvalidValue)]
    [InlineData("X-A", "\"a\\u0000b\"", RejectCodes.InvalidValue)]
    [InlineData("X-A", "3", RejectCodes.WrongType)]
    [InlineData("X A", "\"v\"", RejectCodes.InvalidValue)]
    [InlineData("X-A\r\nY", "\"v\"", RejectCodes.InvalidValue)]
    [InlineData("", "\"v\"", RejectCodes.InvalidValue)]
    [InlineData("Host", "\"evil.example\"", RejectCodes.InvalidValue)]
    [InlineData("content-length", "\"5\"", RejectCodes.InvalidValue)]
    [InlineData("Transfer-Encoding", "\"chunked\"", RejectCodes.InvalidValue)]
    [InlineData("CONNECTION", "\"close\"", RejectCodes.InvalidValue)]
    public void Bad_headers_are_rejected_naming_the_header(string name, string valueJson, string code)
    {
        var r = Bodies.Rejected(Http(Args(("headers", new JsonObject { [name] = JsonNode.Parse(valueJson) }))));

        Assert.Equal(code, r.Code);
        Assert.Equal($"args.headers.{name}", r.Field);
    }

    [Fact]
    public void Same_header_twice_in_different_case_is_rejected()
    {
        var r = Bodies.Rejected(Http(Args(("headers", new JsonObject { ["X-A"] = "1", ["x-a"] = "2" }))));

        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.headers.x-a", r.Field);
    }

    [Fact]
    public void Body_and_body_b64_together_are_rejected()
    {
        var r = Bodies.Rejected(Http(Args(("body", "x"), ("body_b64", "eA=="))));

        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.body_b64", r.Field);
    }

    [Fact]
    public void Args_that_are_not_an_object_are_wrong_type()
    {
        var body = Http(Args());
        body["args"] = "http://example.org";

        Assert.Equal((RejectCodes.WrongType, "args"), (Bodies.Rejected(body).Code, Bodies.Rejected(body).Field));
    }

    [Fact]
    public void Timeout_limit_follows_the_configured_maximum()
    {
        var limits = ProtocolLimits.Default with { MaxTimeoutSeconds = 10 };

        Assert.Equal(RejectCodes.InvalidValue, Bodies.Rejected(Http(Args(("timeout_s", 11))), limits: limits).Code);
        Assert.Equal(10, ((HttpArgs)Bodies.Accepted(Http(Args(("timeout_s", 10))), limits: limits).Args).TimeoutSeconds);
    }

    [Fact]
    public void Http_args_round_trip_through_the_wire_form()
    {
        var args = new HttpArgs
        {
            Method = "POST",
            Url = "http://127.0.0.1:8080/echo",
            Headers = new Dictionary<string, string> { ["X-Trace"] = "ünï +/=", ["Content-Type"] = "application/json" },
            Body = "{\"a\":1}",
            TimeoutSeconds = 2.5,
            FollowRedirects = false,
            OutputCapBytes = 100,
        };
        var command = Command.Call(args, "replies-vm1", Bodies.IssuedAt, Bodies.ExpiresAt);

        var parsed = CommandParser.Parse(command.ToJson(), Bodies.Now);

        Assert.True(parsed.IsAccepted, parsed.IsAccepted ? "" : parsed.Rejection.Message);
        var back = Assert.IsType<HttpArgs>(parsed.Command.Args);
        Assert.Equal("http", parsed.Command.Op);
        Assert.Equal(args with { Headers = null }, back with { Headers = null });
        Assert.Equal(args.Headers, back.Headers);
        Assert.Equal(command.ToJson(), parsed.Command.ToJson());
        using var doc = JsonDocument.Parse(command.ToJson());
        Assert.Equal(
            ["method", "url", "headers", "body", "timeout_s", "follow_redirects", "output_cap_bytes"],
            doc.RootElement.GetProperty("args").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void Http_result_round_trips_with_documented_names()
    {
        var result = new HttpResult(418, new Dictionary<string, string> { ["Content-Type"] = "text/plain", ["X-Multi"] = "a, b" },
            StreamOutput.From("short"u8, 5, 0), "http://127.0.0.1:8080/status/418", 1, 12, "I'm a teapot");

        var element = ProtocolJson.ToElement(result);
        var back = element.Deserialize<HttpResult>(ProtocolJson.Options)!;

        Assert.Equal(
            ["status", "reason", "headers", "body", "final_url", "redirects", "duration_ms", "attempt"],
            element.EnumerateObject().Select(p => p.Name));
        Assert.Equal("short", element.GetProperty("body").GetProperty("data").GetString());
        Assert.Equal((418, "I'm a teapot", 1, "a, b"), (back.Status, back.Reason, back.Redirects, back.Headers["X-Multi"]));
        Assert.Equal(result.Body, back.Body);
    }
}
