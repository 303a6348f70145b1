using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Protocol.Args;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Protocol.Tests;

public sealed class FileArgsTests
{
    private const string TransferId = "0f8fad5b-d9cb-469f-a165-70867728950e";

    // A 10-byte file cut into chunks of 4: 4 + 4 + 2.
    private static readonly byte[] File10 = "0123456789"u8.ToArray();
    private static readonly string File10Sha = Convert.ToHexStringLower(SHA256.HashData(File10));

    private static JsonObject Put(JsonObject args) => Bodies.Op("file.put", args);

    private static JsonObject Get(JsonObject args) => Bodies.Op("file.get", args);

    /// <summary>Chunk <paramref name="index"/> of <see cref="File10"/>, valid as it stands.</summary>
    private static JsonObject PutArgs(int index = 0, params (string Name, JsonNode? Value)[] extra)
    {
        var data = File10.AsSpan(index * 4, Math.Min(4, File10.Length - (index * 4)));
        var args = new JsonObject
        {
            ["transfer_id"] = TransferId,
            ["path"] = "/srv/data/f.bin",
            ["size"] = File10.Length,
            ["sha256"] = File10Sha,
            ["chunk_bytes"] = 4,
            ["index"] = index,
            ["count"] = 3,
            ["data_b64"] = Convert.ToBase64String(data),
        };
        foreach (var (name, value) in extra)
        {
            args[name] = value;
        }
        return args;
    }

    private static JsonObject GetArgs(params (string Name, JsonNode? Value)[] extra)
    {
        var args = new JsonObject { ["path"] = "/srv/data/f.bin" };
        foreach (var (name, value) in extra)
        {
            args[name] = value;
        }
        return args;
    }

    private static void SetOrRemove(JsonObject args, string field, string valueJson)
    {
        if (valueJson == "<absent>")
        {
            args.Remove(field);
        }
        else
        {
            args[field] = JsonNode.Parse(valueJson);
        }
    }

    [Fact]
    public void File_put_and_file_get_are_standard_ops()
    {
        Assert.Contains("file.put", OpCatalog.Standard.OpNames);
        Assert.Contains("file.get", OpCatalog.Standard.OpNames);
        Assert.NotNull(OpCatalog.Standard.ReaderFor(Ops.FilePut));
        Assert.NotNull(OpCatalog.Standard.ReaderFor(Ops.FileGet));
        Assert.NotNull(OpCatalog.Standard.ReaderFor(Ops.Exec));
        Assert.Null(OpCatalog.Standard.ReaderFor("file.delete"));
    }

    [Fact]
    public void Every_chunk_of_a_file_put_is_read()
    {
        for (var i = 0; i < 3; i++)
        {
            var cmd = Bodies.Accepted(Put(PutArgs(i)));
            var args = Assert.IsType<FilePutArgs>(cmd.Args);

            Assert.Equal("file.put", cmd.Op);
            Assert.Equal(Guid.Parse(TransferId), args.TransferId);
            Assert.Equal("/srv/data/f.bin", args.Path);
            Assert.Equal(10, args.Size);
            Assert.Equal(File10Sha, args.Sha256);
            Assert.Equal(4, args.ChunkBytes);
            Assert.Equal((i, 3), (args.Index, args.Count));
            Assert.Equal(File10.AsSpan(i * 4, Math.Min(4, 10 - (i * 4))).ToArray(), args.DecodeData());
            Assert.Null(args.Mode);
            Assert.Null(args.DecodeMode());
            Assert.Null(args.Owner);
            Assert.Null(args.Group);
            Assert.False(args.Overwrite);
        }
    }


    [Fact]
    public void A_read_chunk_equals_the_one_written_and_writes_back_the_same_base64()
    {
        var written = new FilePutArgs
        {
            TransferId = Guid.Parse(TransferId), Path = "/srv/data/f.bin", Size = 10, Sha256 = File10Sha,
            ChunkBytes = 4, Index = 1, Count = 3, DataB64 = Convert.ToBase64String(File10.AsSpan(4, 4)),
        };

        var read = Assert.IsType<FilePutArgs>(Bodies.Accepted(Put(PutArgs(1))).Args);

        Assert.Equal(written, read);
        Assert.Equal(written.GetHashCode(), read.GetHashCode());
        Assert.Equal(written.DataB64, read.DataB64);
        Assert.NotEqual(written with { DataB64 = Convert.ToBase64String(new byte[4]) }, read);
        Assert.NotEqual(written with { Index = 0 }, read);
        // Escaped characters inside the base64 (\u002B is '+') read as the characters.
        var body = Put(PutArgs(0, ("data_b64", "++++/w==")));
        Assert.Contains("\\u002B", body.ToJsonString(), StringComparison.Ordinal);
        var escaped = Assert.IsType<FilePutArgs>(Bodies.Accepted(body).Args);
        Assert.Equal(new byte[] { 0xFB, 0xEF, 0xBE, 0xFF }, escaped.DecodeData());
    }
    [Fact]
    public void Optional_file_put_fields_are_read()
    {
        var args = Assert.IsType<FilePutArgs>(Bodies.Accepted(Put(PutArgs(0,
            ("mode", "0640"), ("owner", "www-data"), ("group", "adm"), ("overwrite", true)))).Args);

        Assert.Equal("0640", args.Mode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, args.DecodeMode());
        Assert.Equal(("www-data", "adm", true), (args.Owner, args.Group, args.Overwrite));
        Assert.Equal((UnixFileMode)0x9ED, Assert.IsType<FilePutArgs>(Bodies.Accepted(Put(PutArgs(0, ("mode", "4755")))).Args).DecodeMode());
    }

    [Fact]
    public void An_empty_file_is_one_empty_chunk()
    {
        var empty = Convert.ToHexStringLower(SHA256.HashData([]));
        var args = Assert.IsType<FilePutArgs>(Bodies.Accepted(Put(PutArgs(0,
            ("size", 0), ("sha256", empty), ("count", 1), ("data_b64", "")))).Args);

        Assert.Equal((0L, 0, 1), (args.Size, args.Index, args.Count));
        Assert.Empty(args.DecodeData());

        var zeroCount = Bodies.Rejected(Put(PutArgs(0, ("size", 0), ("sha256", empty), ("count", 0), ("data_b64", ""))));
        Assert.Equal((RejectCodes.InvalidValue, "args.count"), (zeroCount.Code, zeroCount.Field));
        var withData = Bodies.Rejected(Put(PutArgs(0, ("size", 0), ("sha256", empty), ("count", 1), ("data_b64", "AA=="))));
        Assert.Equal((RejectCodes.InvalidValue, "args.data_b64"), (withData.Code, withData.Field));
    }

    [Theory]
    [InlineData(10, 4, 3)]
    [InlineData(8, 4, 2)]
    [InlineData(1, 4, 1)]
    [InlineData(0, 4, 1)]
    [InlineData(193_537, 193_536, 2)]
    public void Count_is_the_number_of_chunks_and_at_least_one(long size, int chunkBytes, long count)
    {
        Assert.Equal(count, FilePutArgs.ExpectedCount(size, chunkBytes));
    }

    [Theory]
    // size, chunk_bytes, index -> bytes the chunk must hold
    [InlineData(10, 4, 0, 4)]
    [InlineData(10, 4, 1, 4)]
    [InlineData(10, 4, 2, 2)]
    [InlineData(8, 4, 1, 4)]
    [InlineData(0, 4, 0, 0)]
    [InlineData(3, 4, 0, 3)]
    public void Chunk_length_is_chunk_bytes_except_for_the_remainder_in_the_last(long size, int chunkBytes, int index, long length)
    {
        Assert.Equal(length, FilePutArgs.ExpectedChunkLength(size, chunkBytes, index));
    }

    [Theory]
    [InlineData(0, 3)] // a middle chunk one byte short
    [InlineData(0, 5)]
    [InlineData(1, 2)] // a middle chunk with the last one's length
    [InlineData(2, 4)] // the last chunk as long as the others
    [InlineData(2, 1)]
    [InlineData(2, 0)]
    public void A_chunk_of_the_wrong_length_is_invalid(int index, int length)
    {
        var r = Bodies.Rejected(Put(PutArgs(index, ("data_b64", Convert.ToBase64String(new byte[length])))));

        Assert.Equal(RejectCodes.InvalidValue, r.Code);
        Assert.Equal("args.data_b64", r.Field);
        Assert.Contains("decodes to", r.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> PutRejections() => new()
    {
        // field, JSON of its value ("<absent>" removes it), expected code; the path is args.<field>.
        { "transfer_id", "<absent>", RejectCodes.MissingField },
        { "transfer_id", "null", RejectCodes.MissingField },
        { "transfer_id", "5", RejectCodes.WrongType },
        { "transfer_id", "\"not-a-uuid\"", RejectCodes.InvalidValue },
        { "path", "<absent>", RejectCodes.MissingField },
        { "path", "[\"/a\"]", RejectCodes.WrongType },
        { "path", "\"\"", RejectCodes.InvalidValue },
        { "path", "\"relative/f.bin\"", RejectCodes.InvalidValue },
        { "path", "\"/srv/f\\u0000.bin\"", RejectCodes.InvalidValue },
        { "path", "\"/" + new string('a', 1024) + "\"", RejectCodes.InvalidValue },
        { "size", "<absent>", RejectCodes.MissingField },
        { "size", "\"10\"", RejectCodes.WrongType },
        { "size", "10.5", RejectCodes.WrongType },
        { "size", "-1", RejectCodes.InvalidValue },
        { "size", "13", RejectCodes.InvalidValue }, // 4 chunks, reported at args.count (see below)
        { "sha256", "<absent>", RejectCodes.MissingField },
        { "sha256", "1", RejectCodes.WrongType },
        { "sha256", "\"abc\"", RejectCodes.InvalidValue },
        { "sha256", "\"" + new string('A', 64) + "\"", RejectCodes.InvalidValue },
        { "sha256", "\"" + new string('g', 64) + "\"", RejectCodes.InvalidValue },
        { "sha256", "\"" + new string('a', 65) + "\"", RejectCodes.InvalidValue },
        { "chunk_bytes", "<absent>", RejectCodes.MissingField },
        { "chunk_bytes", "\"4\"", RejectCodes.WrongType },
        { "chunk_bytes", "0", RejectCodes.InvalidValue },
        { "chunk_bytes", "-4", RejectCodes.InvalidValue },
        { "chunk_bytes", "193537", RejectCodes.InvalidValue },
        { "index", "<absent>", RejectCodes.MissingField },
        { "index", "1.5", RejectCodes.WrongType },
        { "index", "-1", RejectCodes.InvalidValue },
        { "index", "2147483648", RejectCodes.InvalidValue },
        { "index", "3", RejectCodes.InvalidValue },
        { "count", "<absent>", RejectCodes.MissingField },
        { "count", "true", RejectCodes.WrongType },
        { "count", "0", RejectCodes.InvalidValue },
        { "count", "2", RejectCodes.InvalidValue },
        { "count", "4", RejectCodes.InvalidValue },
        { "count", "2147483648", RejectCodes.InvalidValue },
        { "data_b64", "<absent>", RejectCodes.MissingField },
        { "data_b64", "7", RejectCodes.WrongType },
        { "data_b64", "\"not base64!\"", RejectCodes.InvalidValue },
        { "data_b64", "\"MDEy\"", RejectCodes.InvalidValue },
        { "mode", "644", RejectCodes.WrongType },
        { "mode", "\"64\"", RejectCodes.InvalidValue },
        { "mode", "\"06444\"", RejectCodes.InvalidValue },
        { "mode", "\"0648\"", RejectCodes.InvalidValue },
        { "mode", "\"rw-r--r--\"", RejectCodes.InvalidValue },
        { "owner", "0", RejectCodes.WrongType },
        { "owner", "\"\"", RejectCodes.InvalidValue },
        { "owner", "\"root:root\"", RejectCodes.InvalidValue },
        { "owner", "\"a b\"", RejectCodes.InvalidValue },
        { "owner", "\"" + new string('u', 33) + "\"", RejectCodes.InvalidValue },
        { "group", "false", RejectCodes.WrongType },
        { "group", "\"../etc\"", RejectCodes.InvalidValue },
        { "group", "\"g\\u0000\"", RejectCodes.InvalidValue },
        { "overwrite", "\"true\"", RejectCodes.WrongType },
        { "overwrite", "1", RejectCodes.WrongType },
    };

    [Theory]
    [MemberData(nameof(PutRejections))]
    public void Bad_file_put_arguments_are_rejected_with_code_and_path(string field, string valueJson, string code)
    {
        var args = PutArgs(0);
        SetOrRemove(args, field, valueJson);

        var r = Bodies.Rejected(Put(args));

        Assert.Equal(code, r.Code);
        // A size that does not match the count is reported at the count, which is checked against it.
        Assert.Equal(field == "size" && valueJson == "13" ? "args.count" : $"args.{field}", r.Field);
        Assert.Equal(Guid.Parse(Bodies.Id), r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
    }

    [Fact]
    public void The_last_chunk_carries_the_remainder_of_the_announced_size()
    {
        // size 11 makes the chunks 4 + 4 + 3: the 2-byte last chunk of File10 no longer fits.
        var r = Bodies.Rejected(Put(PutArgs(2, ("size", 11))));

        Assert.Equal((RejectCodes.InvalidValue, "args.data_b64"), (r.Code, r.Field));
        Assert.Contains("must hold 3 bytes", r.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_chunks_are_refused()
    {
        // 2^20 + 1 chunks of one byte.
        var size = ChunkAssembler.MaxChunkCount + 1L;
        var r = Bodies.Rejected(Put(PutArgs(0, ("size", size), ("chunk_bytes", 1), ("count", size), ("data_b64", "AA=="))));

        Assert.Equal((RejectCodes.InvalidValue, "args.count"), (r.Code, r.Field));
    }

    [Fact]
    public void A_path_of_exactly_the_limit_is_accepted()
    {
        var path = "/" + new string('é', (FilePutArgs.MaxPathBytes - 1) / 2);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(path) <= FilePutArgs.MaxPathBytes);

        Assert.Equal(path, Assert.IsType<FilePutArgs>(Bodies.Accepted(Put(PutArgs(0, ("path", path)))).Args).Path);
        var r = Bodies.Rejected(Put(PutArgs(0, ("path", path + "éé"))));
        Assert.Equal((RejectCodes.InvalidValue, "args.path"), (r.Code, r.Field));
    }

    [Fact]
    public void A_maximal_chunk_command_fits_in_one_zaqar_post()
    {
        var max = ProtocolLimits.MaxChunkDataBytes();
        var data = RandomNumberGenerator.GetBytes(max);
        // Worst case everywhere: the longest path (all two-byte characters), longest names, huge numbers.
        var args = new FilePutArgs
        {
            TransferId = Guid.NewGuid(),
            Path = "/" + new string('é', (FilePutArgs.MaxPathBytes - 1) / 2),
            Size = ((long)max * ChunkAssembler.MaxChunkCount) - 1,
            Sha256 = new string('f', 64),
            ChunkBytes = max,
            Index = ChunkAssembler.MaxChunkCount - 2,
            Count = ChunkAssembler.MaxChunkCount,
            DataB64 = Convert.ToBase64String(data),
            Mode = "0644",
            Owner = new string('o', FilePutArgs.MaxNameLength),
            Group = new string('g', FilePutArgs.MaxNameLength),
            Overwrite = true,
        };
        var command = Command.Call(args, new string('r', QueueNames.MaxLength), Bodies.IssuedAt, Bodies.ExpiresAt) with
        {
            Signature = new CommandSignature("k1", Convert.ToBase64String(new byte[64])),
        };

        var body = command.ToJson();
        var post = PostBody(body, ttl: 1_209_600);

        Assert.True(post.Length <= ProtocolLimits.ZaqarMaxPostBodyBytes, $"{post.Length} bytes");
        var parsed = CommandParser.Parse(body, Bodies.Now);
        Assert.True(parsed.IsAccepted, parsed.IsAccepted ? "" : parsed.Rejection.Message);
        Assert.Equal(data, ((FilePutArgs)parsed.Command.Args).DecodeData());
    }

    [Fact]
    public void File_put_args_round_trip_through_the_wire_form()
    {
        var args = new FilePutArgs
        {
            TransferId = Guid.Parse(TransferId),
            Path = "/srv/data/ünï +.bin",
            Size = 10,
            Sha256 = File10Sha,
            ChunkBytes = 4,
            Index = 2,
            Count = 3,
            DataB64 = Convert.ToBase64String(File10.AsSpan(8)),
            Mode = "0600",
            Owner = "app",
            Group = "app",
            Overwrite = true,
        };
        var command = Command.Call(args, "replies-vm1", Bodies.IssuedAt, Bodies.ExpiresAt);

        var parsed = CommandParser.Parse(command.ToJson(), Bodies.Now);

        Assert.True(parsed.IsAccepted, parsed.IsAccepted ? "" : parsed.Rejection.Message);
        Assert.Equal("file.put", parsed.Command.Op);
        Assert.Equal(args, Assert.IsType<FilePutArgs>(parsed.Command.Args));
        Assert.Equal(command.ToJson(), parsed.Command.ToJson());
        using var doc = JsonDocument.Parse(command.ToJson());
        Assert.Equal(
            ["transfer_id", "path", "size", "sha256", "chunk_bytes", "index", "count", "data_b64", "mode", "owner", "group", "overwrite"],
            doc.RootElement.GetProperty("args").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void The_documented_examples_parse()
    {
        const string put = """
            {"v":1,"id":"9b2e4f10-5c3d-4e6f-8a7b-1c2d3e4f5a60","op":"file.put","mode":"call","reply_to":"replies-ctl1",
             "issued_at":"2026-11-25T13:00:00Z","expires_at":"2026-11-25T14:00:00Z",
             "args":{"transfer_id":"0f8fad5b-d9cb-469f-a165-70867728950e","path":"/srv/app/config.json","size":10,
                     "sha256":"84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882","chunk_bytes":4,
                     "index":2,"count":3,"data_b64":"ODk=","mode":"0640","owner":"app","overwrite":true}}
            """;
        const string get = """
            {"v":1,"id":"4d3c2b1a-0f9e-4d8c-b7a6-958473625140","op":"file.get","mode":"call","reply_to":"replies-ctl1",
             "issued_at":"2026-11-25T13:00:00Z","args":{"path":"/var/log/app.log","offset":0}}
            """;

        var putArgs = Assert.IsType<FilePutArgs>(CommandParser.Parse(put, Bodies.Now).Command!.Args);
        Assert.Equal(File10Sha, putArgs.Sha256);
        Assert.Equal("89"u8.ToArray(), putArgs.DecodeData());
        Assert.Equal("/var/log/app.log", Assert.IsType<FileGetArgs>(CommandParser.Parse(get, Bodies.Now).Command!.Args).Path);
    }

    [Fact]
    public void Minimal_file_get_reads_from_the_start()
    {
        var cmd = Bodies.Accepted(Get(GetArgs()));
        var args = Assert.IsType<FileGetArgs>(cmd.Args);

        Assert.Equal("file.get", cmd.Op);
        Assert.Equal("/srv/data/f.bin", args.Path);
        Assert.Equal(0, args.Offset);
        Assert.Null(args.OutputCapBytes);
    }

    [Fact]
    public void Every_file_get_field_is_read()
    {
        var args = Assert.IsType<FileGetArgs>(Bodies.Accepted(Get(GetArgs(("offset", 5_000_000_000L), ("output_cap_bytes", 100)))).Args);

        Assert.Equal((5_000_000_000L, (int?)100), (args.Offset, args.OutputCapBytes));
    }

    [Theory]
    [InlineData(@"C:\data\f.bin")]
    [InlineData("c:/data/f.bin")]
    [InlineData(@"\\server\share\f.bin")]
    [InlineData("Z:f.bin")]
    public void Windows_shaped_paths_pass_the_protocol_for_the_guest_policy_to_judge(string path)
    {
        var args = Assert.IsType<FileGetArgs>(Bodies.Accepted(Get(GetArgs(("path", path)))).Args);

        Assert.Equal(path, args.Path);
    }

    public static TheoryData<string, string, string> GetRejections() => new()
    {
        { "path", "<absent>", RejectCodes.MissingField },
        { "path", "1", RejectCodes.WrongType },
        { "path", "\"\"", RejectCodes.InvalidValue },
        { "path", "\"etc/passwd\"", RejectCodes.InvalidValue },
        { "path", "\"/etc/pass\\u0000wd\"", RejectCodes.InvalidValue },
        { "path", "\"/" + new string('a', 1024) + "\"", RejectCodes.InvalidValue },
        { "offset", "\"0\"", RejectCodes.WrongType },
        { "offset", "0.5", RejectCodes.WrongType },
        { "offset", "-1", RejectCodes.InvalidValue },
        { "output_cap_bytes", "0", RejectCodes.InvalidValue },
        { "output_cap_bytes", "1.5", RejectCodes.WrongType },
        { "output_cap_bytes", "4294967296", RejectCodes.InvalidValue },
    };

    [Theory]
    [MemberData(nameof(GetRejections))]
    public void Bad_file_get_arguments_are_rejected_with_code_and_path(string field, string valueJson, string code)
    {
        var args = GetArgs();
        SetOrRemove(args, field, valueJson);

        var r = Bodies.Rejected(Get(args));

        Assert.Equal(code, r.Code);
        Assert.Equal($"args.{field}", r.Field);
        Assert.Equal(Guid.Parse(Bodies.Id), r.CommandId);
    }

    [Fact]
    public void File_get_args_round_trip_through_the_wire_form()
    {
        var args = new FileGetArgs { Path = "/var/log/app.log", Offset = 42, OutputCapBytes = 1000 };
        var command = Command.Call(args, "replies-vm1", Bodies.IssuedAt, Bodies.ExpiresAt);

        var parsed = CommandParser.Parse(command.ToJson(), Bodies.Now);

        Assert.True(parsed.IsAccepted, parsed.IsAccepted ? "" : parsed.Rejection.Message);
        Assert.Equal(args, Assert.IsType<FileGetArgs>(parsed.Command.Args));
        Assert.Equal(command.ToJson(), parsed.Command.ToJson());
    }

    [Fact]
    public void File_put_result_round_trips_with_documented_names()
    {
        var progress = new FilePutResult(Guid.Parse(TransferId), 1, 3, FilePutResult.MissingOf(new HashSet<int> { 1 }, 3), false, "/srv/data/f.bin");
        var done = new FilePutResult(Guid.Parse(TransferId), 3, 3, [], true, "/srv/data/f.bin", 10, File10Sha);

        var element = ProtocolJson.ToElement(progress);
        Assert.Equal(["transfer_id", "received", "count", "missing", "complete", "path"], element.EnumerateObject().Select(p => p.Name));
        Assert.Equal([0, 2], element.GetProperty("missing").EnumerateArray().Select(e => e.GetInt32()));
        var doneElement = ProtocolJson.ToElement(done);
        Assert.Equal(
            ["transfer_id", "received", "count", "missing", "complete", "path", "bytes", "sha256"],
            doneElement.EnumerateObject().Select(p => p.Name));

        var back = doneElement.Deserialize<FilePutResult>(ProtocolJson.Options)!;
        Assert.Equal((done.TransferId, 3, 3, true, 10L, File10Sha), (back.TransferId, back.Received, back.Count, back.Complete, back.Bytes, back.Sha256));
        Assert.Empty(back.Missing);
    }

    [Fact]
    public void Missing_indexes_are_listed_in_order_and_capped()
    {
        Assert.Equal(Enumerable.Range(0, FilePutResult.MaxMissingListed), FilePutResult.MissingOf(new HashSet<int>(), 5000));
        Assert.Equal([1, 3], FilePutResult.MissingOf(new HashSet<int> { 0, 2, 4 }, 5));
        Assert.Empty(FilePutResult.MissingOf(new HashSet<int> { 0 }, 1));
    }

    [Fact]
    public void File_get_result_round_trips_with_documented_names()
    {
        var content = "hello file"u8.ToArray();
        var result = new FileGetResult("/srv/data/f.txt", 14, 4, 10, "0644", new string('c', 64), StreamOutput.From(content, 10, 0));

        var element = ProtocolJson.ToElement(result);
        var back = element.Deserialize<FileGetResult>(ProtocolJson.Options)!;

        Assert.Equal(["path", "size", "offset", "bytes", "mode", "sha256", "data"], element.EnumerateObject().Select(p => p.Name));
        Assert.Equal("hello file", element.GetProperty("data").GetProperty("data").GetString());
        Assert.Equal(result with { Data = back.Data }, back);
        Assert.Equal(result.Data, back.Data);
        Assert.Equal("file", ChunkStreams.File);
    }

    /// <summary>The request body of Zaqar's POST /v2/queues/{q}/messages carrying one command.</summary>
    private static byte[] PostBody(string command, int ttl)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, ProtocolJson.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("messages");
            writer.WriteStartObject();
            writer.WritePropertyName("body");
            writer.WriteRawValue(command);
            writer.WriteNumber("ttl", ttl);
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
