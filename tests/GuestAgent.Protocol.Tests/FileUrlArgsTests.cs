using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuestAgent.Protocol.Tests;

/// <summary>The URL modes: file.put with <c>url</c> (the agent downloads) and file.get with <c>upload_url</c> (the agent uploads).</summary>
public sealed class FileUrlArgsTests
{
    private const string Sha = "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882";
    private const string TempUrl = "https://swift.example:8080/v1/AUTH_p/c/app.tar?temp_url_sig=0123abcd&temp_url_expires=1795000000";

    private static JsonObject PutArgs(params (string Name, JsonNode? Value)[] extra) => With(new JsonObject
    {
        ["path"] = "/srv/app/app.tar",
        ["size"] = 10,
        ["sha256"] = Sha,
        ["url"] = TempUrl,
    }, extra);

    private static JsonObject UploadArgs(params (string Name, JsonNode? Value)[] extra) => With(new JsonObject
    {
        ["path"] = "/var/log/app.log",
        ["upload_url"] = TempUrl,
    }, extra);

    private static JsonObject With(JsonObject args, (string Name, JsonNode? Value)[] extra)
    {
        foreach (var (name, value) in extra)
        {
            args[name] = value;
        }
        return args;
    }

    private static JsonObject Put(JsonObject args) => Bodies.Op("file.put", args);

    private static JsonObject Get(JsonObject args) => Bodies.Op("file.get", args);

    /// <summary>Sets <paramref name="field"/> (a dotted path below args, e.g. "headers.X-A") to the JSON, or removes it for "&lt;absent&gt;".</summary>
    private static JsonObject Spoil(JsonObject args, string field, string valueJson)
    {
        var dot = field.IndexOf('.');
        var (parent, name) = dot < 0 ? (args, field) : ((JsonObject)(args[field[..dot]] ??= new JsonObject()), field[(dot + 1)..]);
        if (valueJson == "<absent>")
        {
            parent.Remove(name);
        }
        else
        {
            parent[name] = JsonNode.Parse(valueJson);
        }
        return args;
    }

    private static void AssertRejected(JsonObject body, string code, string field)
    {
        var r = Bodies.Rejected(body);

        Assert.True((code, field) == (r.Code, r.Field), $"expected {code} at {field}, got {r.Code} at {r.Field}: {r.Message}");
        Assert.Equal(Guid.Parse(Bodies.Id), r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Fact]
    public void A_file_put_with_a_url_is_a_download_with_defaults()
    {
        var cmd = Bodies.Accepted(Put(PutArgs()));

        var args = Assert.IsType<FilePutUrlArgs>(cmd.Args);
        Assert.Equal("file.put", cmd.Op);
        Assert.Equal(Ops.FilePut, args.Op);
        Assert.Equal(("/srv/app/app.tar", 10L, Sha, TempUrl), (args.Path, args.Size, args.Sha256, args.Url));
        Assert.Null(args.Headers);
        Assert.Null(args.Mode);
        Assert.Null(args.DecodeMode());
        Assert.Null(args.Owner);
        Assert.Null(args.Group);
        Assert.False(args.Overwrite);
        Assert.Equal(3600, args.TimeoutSeconds);
        Assert.Equal(FilePutUrlArgs.DefaultTimeoutSeconds, args.TimeoutSeconds);
    }

    [Fact]
    public void Every_download_field_is_read()
    {
        var args = Assert.IsType<FilePutUrlArgs>(Bodies.Accepted(Put(PutArgs(
            ("headers", new JsonObject { ["X-Auth-Token"] = "tok", ["Accept"] = "*/*" }),
            ("mode", "0640"), ("owner", "app"), ("group", "adm"), ("overwrite", true), ("timeout_s", 86_400)))).Args);

        Assert.Equal(new Dictionary<string, string> { ["X-Auth-Token"] = "tok", ["Accept"] = "*/*" }, args.Headers);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, args.DecodeMode());
        Assert.Equal(("app", "adm", true, 86_400.0), (args.Owner, args.Group, args.Overwrite, args.TimeoutSeconds));
    }

    [Fact]
    public void Without_a_url_file_put_is_still_a_chunk_and_a_null_url_counts_as_absent()
    {
        // No url: the chunk fields are required as before, so the first one is reported missing.
        AssertRejected(Put(PutArgs(("url", null))), RejectCodes.MissingField, "args.transfer_id");
        AssertRejected(Put(Spoil(PutArgs(), "url", "<absent>")), RejectCodes.MissingField, "args.transfer_id");
    }

    [Theory]
    [InlineData("transfer_id", "\"0f8fad5b-d9cb-469f-a165-70867728950e\"")]
    [InlineData("chunk_bytes", "4")]
    [InlineData("index", "0")]
    [InlineData("count", "3")]
    [InlineData("data_b64", "\"MDEy\"")]
    [InlineData("index", "\"even a wrong type\"")]
    public void A_chunk_field_beside_a_url_is_refused_by_name(string field, string valueJson)
    {
        AssertRejected(Put(Spoil(PutArgs(), field, valueJson)), RejectCodes.InvalidValue, $"args.{field}");
        // null counts as absent, as everywhere.
        Assert.IsType<FilePutUrlArgs>(Bodies.Accepted(Put(Spoil(PutArgs(), field, "null"))).Args);
    }

    public static TheoryData<string, string, string, string, string> Rejections() => new()
    {
        // op, field below args, JSON of its value ("<absent>" removes it), expected code, expected path.
        { "file.put", "path", "<absent>", RejectCodes.MissingField, "args.path" },
        { "file.put", "path", "7", RejectCodes.WrongType, "args.path" },
        { "file.put", "path", "\"relative/app.tar\"", RejectCodes.InvalidValue, "args.path" },
        { "file.put", "path", "\"/srv/a\\u0000b\"", RejectCodes.InvalidValue, "args.path" },
        { "file.put", "path", "\"/" + new string('a', 1024) + "\"", RejectCodes.InvalidValue, "args.path" },
        { "file.put", "size", "<absent>", RejectCodes.MissingField, "args.size" },
        { "file.put", "size", "\"10\"", RejectCodes.WrongType, "args.size" },
        { "file.put", "size", "1.5", RejectCodes.WrongType, "args.size" },
        { "file.put", "size", "-1", RejectCodes.InvalidValue, "args.size" },
        { "file.put", "sha256", "<absent>", RejectCodes.MissingField, "args.sha256" },
        { "file.put", "sha256", "[]", RejectCodes.WrongType, "args.sha256" },
        { "file.put", "sha256", "\"" + Sha.ToUpperInvariant() + "\"", RejectCodes.InvalidValue, "args.sha256" },
        { "file.put", "sha256", "\"" + Sha[..63] + "\"", RejectCodes.InvalidValue, "args.sha256" },
        { "file.put", "url", "5", RejectCodes.WrongType, "args.url" },
        { "file.put", "url", "\"\"", RejectCodes.InvalidValue, "args.url" },
        { "file.put", "url", "\"/v1/AUTH_p/c/o\"", RejectCodes.InvalidValue, "args.url" },
        { "file.put", "url", "\"ftp://files.example/app.tar\"", RejectCodes.InvalidValue, "args.url" },
        { "file.put", "url", "\"file:///etc/passwd\"", RejectCodes.InvalidValue, "args.url" },
        { "file.put", "url", "\"http://a.example/x\\ny\"", RejectCodes.InvalidValue, "args.url" },
        { "file.put", "url", "\"http://a.example/\\u0000\"", RejectCodes.InvalidValue, "args.url" },
        { "file.put", "headers", "\"X-A: b\"", RejectCodes.WrongType, "args.headers" },
        { "file.put", "headers.X-A", "1", RejectCodes.WrongType, "args.headers.X-A" },
        { "file.put", "headers.Bad Name", "\"v\"", RejectCodes.InvalidValue, "args.headers.Bad Name" },
        { "file.put", "headers.X:Y", "\"v\"", RejectCodes.InvalidValue, "args.headers.X:Y" },
        { "file.put", "headers.X-A", "\"a\\r\\nInjected: yes\"", RejectCodes.InvalidValue, "args.headers.X-A" },
        { "file.put", "headers.X-A", "\"a\\u0000\"", RejectCodes.InvalidValue, "args.headers.X-A" },
        { "file.put", "headers.Host", "\"evil.example\"", RejectCodes.InvalidValue, "args.headers.Host" },
        { "file.put", "headers.content-length", "\"1\"", RejectCodes.InvalidValue, "args.headers.content-length" },
        { "file.put", "headers.Transfer-Encoding", "\"chunked\"", RejectCodes.InvalidValue, "args.headers.Transfer-Encoding" },
        { "file.put", "headers.Connection", "\"close\"", RejectCodes.InvalidValue, "args.headers.Connection" },
        { "file.put", "mode", "644", RejectCodes.WrongType, "args.mode" },
        { "file.put", "mode", "\"0648\"", RejectCodes.InvalidValue, "args.mode" },
        { "file.put", "owner", "\"root:root\"", RejectCodes.InvalidValue, "args.owner" },
        { "file.put", "group", "\"a b\"", RejectCodes.InvalidValue, "args.group" },
        { "file.put", "overwrite", "\"yes\"", RejectCodes.WrongType, "args.overwrite" },
        { "file.put", "timeout_s", "\"60\"", RejectCodes.WrongType, "args.timeout_s" },
        { "file.put", "timeout_s", "0", RejectCodes.InvalidValue, "args.timeout_s" },
        { "file.put", "timeout_s", "-5", RejectCodes.InvalidValue, "args.timeout_s" },
        { "file.put", "timeout_s", "86401", RejectCodes.InvalidValue, "args.timeout_s" },
        { "file.get", "upload_url", "true", RejectCodes.WrongType, "args.upload_url" },
        { "file.get", "upload_url", "\"\"", RejectCodes.InvalidValue, "args.upload_url" },
        { "file.get", "upload_url", "\"swift.example/c/o\"", RejectCodes.InvalidValue, "args.upload_url" },
        { "file.get", "upload_url", "\"ftp://swift.example/c/o\"", RejectCodes.InvalidValue, "args.upload_url" },
        { "file.get", "upload_method", "1", RejectCodes.WrongType, "args.upload_method" },
        { "file.get", "upload_method", "\"GET\"", RejectCodes.InvalidValue, "args.upload_method" },
        { "file.get", "upload_method", "\"put\"", RejectCodes.InvalidValue, "args.upload_method" },
        { "file.get", "upload_method", "\"PATCH\"", RejectCodes.InvalidValue, "args.upload_method" },
        { "file.get", "upload_headers", "[]", RejectCodes.WrongType, "args.upload_headers" },
        { "file.get", "upload_headers.Host", "\"x\"", RejectCodes.InvalidValue, "args.upload_headers.Host" },
        { "file.get", "upload_headers.Content-Length", "\"5\"", RejectCodes.InvalidValue, "args.upload_headers.Content-Length" },
        { "file.get", "upload_headers.X(A)", "\"v\"", RejectCodes.InvalidValue, "args.upload_headers.X(A)" },
        { "file.get", "upload_headers.X-A", "\"v\\r\"", RejectCodes.InvalidValue, "args.upload_headers.X-A" },
        { "file.get", "upload_headers.X-A", "null", RejectCodes.WrongType, "args.upload_headers.X-A" },
        { "file.get", "timeout_s", "0", RejectCodes.InvalidValue, "args.timeout_s" },
        { "file.get", "timeout_s", "90000", RejectCodes.InvalidValue, "args.timeout_s" },
        { "file.get", "timeout_s", "false", RejectCodes.WrongType, "args.timeout_s" },
        { "file.get", "output_cap_bytes", "100", RejectCodes.InvalidValue, "args.output_cap_bytes" },
        { "file.get", "offset", "-1", RejectCodes.InvalidValue, "args.offset" },
        { "file.get", "path", "\"log\"", RejectCodes.InvalidValue, "args.path" },
    };

    [Theory]
    [MemberData(nameof(Rejections))]
    public void Bad_url_mode_arguments_are_rejected_with_code_and_path(string op, string field, string valueJson, string code, string path)
    {
        var args = op == Ops.FilePut ? PutArgs() : UploadArgs();

        AssertRejected(Bodies.Op(op, Spoil(args, field, valueJson)), code, path);
    }

    [Fact]
    public void A_header_given_twice_in_another_case_is_refused_at_the_second()
    {
        var headers = new JsonObject { ["X-Auth-Token"] = "a", ["x-auth-token"] = "b" };

        AssertRejected(Put(PutArgs(("headers", headers))), RejectCodes.InvalidValue, "args.headers.x-auth-token");
        AssertRejected(Get(UploadArgs(("upload_headers", headers.DeepClone()))), RejectCodes.InvalidValue, "args.upload_headers.x-auth-token");
    }

    [Fact]
    public void A_file_get_with_an_upload_url_reads_the_upload_fields_with_defaults()
    {
        var plain = Assert.IsType<FileGetArgs>(Bodies.Accepted(Get(UploadArgs())).Args);
        var full = Assert.IsType<FileGetArgs>(Bodies.Accepted(Get(UploadArgs(("offset", 4096), ("upload_method", "POST"),
            ("upload_headers", new JsonObject { ["Content-Type"] = "application/gzip" }), ("timeout_s", 7200)))).Args);

        Assert.Equal((TempUrl, (string?)null, (double?)null, (int?)null), (plain.UploadUrl, plain.UploadMethod, plain.TimeoutSeconds, plain.OutputCapBytes));
        Assert.Null(plain.UploadHeaders);
        Assert.Equal(("PUT", 3600.0), (FileGetArgs.DefaultUploadMethod, FileGetArgs.DefaultUploadTimeoutSeconds));
        Assert.Equal((4096L, "POST", (double?)7200), (full.Offset, full.UploadMethod, full.TimeoutSeconds));
        Assert.Equal(new Dictionary<string, string> { ["Content-Type"] = "application/gzip" }, full.UploadHeaders);
    }

    [Fact]
    public void A_file_get_without_an_upload_url_is_unchanged()
    {
        var args = Assert.IsType<FileGetArgs>(Bodies.Accepted(Get(new JsonObject { ["path"] = "/var/log/app.log", ["output_cap_bytes"] = 10 })).Args);

        Assert.Null(args.UploadUrl);
        Assert.Equal(10, args.OutputCapBytes);
        Assert.Equal("""{"path":"/var/log/app.log","offset":0,"output_cap_bytes":10}""", args.ToJsonElement().GetRawText());
    }

    [Theory]
    [InlineData("upload_method", "\"PUT\"")]
    [InlineData("upload_headers", "{}")]
    [InlineData("timeout_s", "60")]
    public void Upload_fields_without_an_upload_url_are_refused_rather_than_ignored(string field, string valueJson)
    {
        // Ignored, they would let a forgotten upload_url send the whole file back through the reply queue.
        var args = new JsonObject { ["path"] = "/var/log/app.log" };

        AssertRejected(Get(Spoil(args, field, valueJson)), RejectCodes.InvalidValue, $"args.{field}");
    }

    /// <summary>Writes <paramref name="args"/> as a command with CommandWriter and parses it back; the wire form must not change.</summary>
    private static T RoundTrip<T>(T args) where T : OpArgs
    {
        var command = Command.Call(args, "replies-vm1", Bodies.IssuedAt, Bodies.ExpiresAt);

        var parsed = CommandParser.Parse(CommandWriter.ToJson(command), Bodies.Now);

        Assert.True(parsed.IsAccepted, parsed.IsAccepted ? "" : parsed.Rejection.Message);
        Assert.Equal(CommandWriter.ToJson(command), CommandWriter.ToJson(parsed.Command));
        var back = Assert.IsType<T>(parsed.Command.Args);
        Assert.Equal(args.ToJsonElement().GetRawText(), back.ToJsonElement().GetRawText());
        return back;
    }

    [Fact]
    public void Download_args_round_trip_through_the_wire_form()
    {
        var args = new FilePutUrlArgs
        {
            Path = "/srv/app/ünï +.tar",
            Size = 5_000_000_000,
            Sha256 = Sha,
            Url = TempUrl,
            Headers = new Dictionary<string, string> { ["X-Auth-Token"] = "tok" },
            Mode = "0750",
            Owner = "app",
            Group = "app",
            Overwrite = true,
            TimeoutSeconds = 600.5,
        };

        var back = RoundTrip(args);

        Assert.Equal(args with { Headers = null }, back with { Headers = null });
        Assert.Equal(args.Headers, back.Headers);
        Assert.Equal(
            ["path", "size", "sha256", "url", "headers", "mode", "owner", "group", "overwrite", "timeout_s"],
            args.ToJsonElement().EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void Upload_args_round_trip_through_the_wire_form()
    {
        var args = new FileGetArgs
        {
            Path = "/var/log/app.log",
            Offset = 12,
            UploadUrl = TempUrl,
            UploadMethod = "POST",
            UploadHeaders = new Dictionary<string, string> { ["Content-Type"] = "text/plain" },
            TimeoutSeconds = 30,
        };

        var back = RoundTrip(args);

        Assert.Equal(args with { UploadHeaders = null }, back with { UploadHeaders = null });
        Assert.Equal(args.UploadHeaders, back.UploadHeaders);
        Assert.Equal(
            ["path", "offset", "upload_url", "upload_method", "upload_headers", "timeout_s"],
            args.ToJsonElement().EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void Results_are_written_in_snake_case_and_read_back()
    {
        var download = new FileDownloadResult("/srv/app/app.tar", 10, Sha, true, 200, "https://swift.example:8080/v1/AUTH_p/c/app.tar", 1, 1234, 2);
        var upload = new FileUploadResult("/var/log/app.log", 10, 4, 6, "0644", Sha, 201, "https://swift.example:8080/v1/AUTH_p/c/app.log", 0, 55);

        var downloadJson = JsonSerializer.Serialize(download, ProtocolJson.Options);
        var uploadJson = JsonSerializer.Serialize(upload, ProtocolJson.Options);

        Assert.Equal("""{"path":"/srv/app/app.tar","bytes":10,"sha256":"84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882","complete":true,"http_status":200,"url":"https://swift.example:8080/v1/AUTH_p/c/app.tar","redirects":1,"duration_ms":1234,"attempt":2}""", downloadJson);
        Assert.Equal("""{"path":"/var/log/app.log","size":10,"offset":4,"bytes":6,"mode":"0644","sha256":"84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882","http_status":201,"url":"https://swift.example:8080/v1/AUTH_p/c/app.log","redirects":0,"duration_ms":55,"attempt":1}""", uploadJson);
        Assert.Equal(download, JsonSerializer.Deserialize<FileDownloadResult>(downloadJson, ProtocolJson.Options));
        Assert.Equal(upload, JsonSerializer.Deserialize<FileUploadResult>(uploadJson, ProtocolJson.Options));
    }

    [Fact]
    public void The_documented_examples_parse()
    {
        // The examples of docs/_url-mode.md, as they stand there.
        const string put = """
            {"v":1,"id":"6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","op":"file.put","mode":"call","reply_to":"replies-ctl1",
             "issued_at":"2026-11-25T13:00:00Z","expires_at":"2026-11-25T13:10:00Z","on_interrupt":"rerun",
             "args":{"path":"/srv/app/release.tar.gz","size":73400320,
                     "sha256":"5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
                     "url":"https://swift.example.com:443/v1/AUTH_ops/releases/release.tar.gz?temp_url_sig=da39a3ee5e6b4b0d3255bfef95601890afd80709&temp_url_expires=1795000000",
                     "mode":"0640","owner":"app","overwrite":true,"timeout_s":1800}}
            """;
        const string get = """
            {"v":1,"id":"7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e","op":"file.get","mode":"call","reply_to":"replies-ctl1",
             "issued_at":"2026-11-25T13:00:00Z","expires_at":"2026-11-25T13:10:00Z",
             "args":{"path":"/var/backups/db.dump","upload_url":"https://swift.example.com:443/v1/AUTH_ops/backups/vm1/db.dump?temp_url_sig=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12&temp_url_expires=1795000000",
                     "upload_headers":{"Content-Type":"application/octet-stream"},"timeout_s":7200}}
            """;

        var putParsed = CommandParser.Parse(put, Bodies.Now);
        var getParsed = CommandParser.Parse(get, Bodies.Now);

        Assert.True(putParsed.IsAccepted, putParsed.IsAccepted ? "" : putParsed.Rejection.Message);
        Assert.True(getParsed.IsAccepted, getParsed.IsAccepted ? "" : getParsed.Rejection.Message);
        Assert.Equal(73_400_320, Assert.IsType<FilePutUrlArgs>(putParsed.Command.Args).Size);
        Assert.Equal(InterruptPolicy.Rerun, putParsed.Command.OnInterrupt);
        Assert.Equal(7200, Assert.IsType<FileGetArgs>(getParsed.Command.Args).TimeoutSeconds);
    }
}
