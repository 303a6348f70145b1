using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Protocol.Signing;

namespace GuestAgent.Protocol.Tests;

/// <summary>Canonical form, command and reply signatures, and the parser's signing policy (docs/protocol.md, "Signing").</summary>
public sealed class SigningTests
{
    // The worked example of docs/protocol.md: key k1 = bytes 0..31.
    private const string DocKeyBase64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    private const string DocCanonical =
        "{\"args\":{\"argv\":[\"/bin/echo\",\"héllo\"],\"timeout_s\":30},\"expires_at\":\"2026-11-25T13:10:00Z\"," +
        "\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"issued_at\":\"2026-11-25T13:00:00Z\",\"mode\":\"call\"," +
        "\"on_interrupt\":\"fail\",\"op\":\"exec\",\"reply_to\":\"replies-vm1\",\"v\":1}";
    private const string DocMac = "YKZ/oztu4yLU0Leci5928MaEEi3/3h8bgXziZRJzQ/c=";

    private static readonly SigningKey K1 = SigningKey.FromBase64("k1", DocKeyBase64);
    private static readonly SigningKey K2 = new("k2", Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());
    private static readonly SigningPolicy Strict = new([K1], AllowUnsigned: false, TimeSpan.FromHours(1));

    private static JsonObject Signed(JsonObject body, SigningKey? key = null)
    {
        body.Remove("sig");
        return Signatures.Sign(JsonSerializer.SerializeToElement(body), key ?? K1, Signatures.CommandDomain);
    }

    private static CommandParseResult Parse(JsonNode body, SigningPolicy? policy = null, DateTimeOffset? now = null) =>
        CommandParser.Parse(Encoding.UTF8.GetBytes(body.ToJsonString()), now ?? Bodies.Now, null, policy ?? Strict);

    private static CommandRejection Rejected(JsonNode body, SigningPolicy? policy = null, DateTimeOffset? now = null)
    {
        var r = Parse(body, policy, now);
        Assert.False(r.IsAccepted, $"expected a rejection of {body.ToJsonString()}");
        return r.Rejection;
    }

    // Every case is a JSON text; Python reads it with json.loads and writes the canonical form.
    public static readonly string[] TrickyJson =
    [
        """{"b":1,"a":2,"A":3,"_":4,"aa":5,"":6}""",
        """{"s":"héllo 日本 😀 \ud83d\ude00"}""",
        """{"c":"\u0000\u0001\u0007\u001f\u007f\u0080\u00a0\u2028\u2029\ufeff\uffff"}""",
        """{"e":"\b\f\n\r\t\"\\\/ / < > & ' + ="}""",
        """{"\uffff":1,"😀":2,"\ue000":3,"é":4,"z":5}""",
        """{"n":[0,-0,1,-1,123456789012345678901234567890,-98765432109876543210,9007199254740993]}""",
        """{"f":[1.0,1e3,1E3,1e-7,0.1,1e16,1e15,123.456e5,-2.5e-5,0.0001,0.00001,5e-324,1.7976931348623157e308,0.30000000000000004,100.0,-0.0,0.0,2.5,1e22,1e21,1.5e300,12345678901234567.0,0.000123456789]}""",
        """{"t":[true,false,null,{},[],[[]],{"x":{}}],"deep":{"z":{"y":{"x":[1,{"b":2,"a":1}]}}}}""",
        """{"sig":{"kid":"k1","mac":"x"},"v":1}""",
        """{"args":{"argv":["/bin/echo","hi"],"timeout_s":2.5,"env":{"Z":"1","A":"2"}},"v":1,"id":"x"}""",
        // Strings with no escape at all are copied as they are: raw non-ASCII, base64, HTML-ish characters.
        """{"plain":"héllo 日本 😀 € <>&' +/=","data_b64":"QUJD+/8=","mix":["raw é","escaped \u00e9"]}""",
    ];

    private static IEnumerable<string> RandomFloats()
    {
        var random = new Random(20261125);
        for (var i = 0; i < 300; i++)
        {
            var d = BitConverter.Int64BitsToDouble(random.NextInt64());
            if (!double.IsFinite(d))
            {
                continue;
            }
            yield return d.ToString("R", CultureInfo.InvariantCulture);
            yield return (random.NextDouble() * Math.Pow(10, random.Next(-30, 30))).ToString("E10", CultureInfo.InvariantCulture);
        }
    }

    [Fact]
    public void Canonical_form_is_byte_for_byte_what_python_json_dumps_writes()
    {
        var cases = TrickyJson.Concat(RandomFloats().Select(f => $$"""{"x":{{f}}}""")).ToList();
        var script = """
            import json, sys
            for text in json.load(sys.stdin):
                obj = json.loads(text)
                print(json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8').hex())
            """;
        var psi = new ProcessStartInfo("/usr/bin/python3", ["-c", script])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var python = Process.Start(psi)!;
        python.StandardInput.Write(JsonSerializer.Serialize(cases));
        python.StandardInput.Close();
        var lines = python.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        python.WaitForExit();
        Assert.True(python.ExitCode == 0, python.StandardError.ReadToEnd());
        Assert.Equal(cases.Count, lines.Length);
        for (var i = 0; i < cases.Count; i++)
        {
            using var doc = JsonDocument.Parse(cases[i]);
            var mine = Convert.ToHexStringLower(CanonicalJson.Serialize(doc.RootElement));
            Assert.True(lines[i] == mine,
                $"case {cases[i]}:\npython {Encoding.UTF8.GetString(Convert.FromHexString(lines[i]))}\nC#     {Encoding.UTF8.GetString(Convert.FromHexString(mine))}");
        }
    }

    [Fact]
    public void Canonical_form_leaves_out_only_the_top_level_sig()
    {
        using var doc = JsonDocument.Parse("""{"sig":{"kid":"k"},"a":{"sig":1}}""");
        Assert.Equal("""{"a":{"sig":1}}""", Encoding.UTF8.GetString(CanonicalJson.Serialize(doc.RootElement, "sig")));
    }

    [Theory]
    [InlineData("""{"s":"\ud800"}""")]
    [InlineData("""{"f":1e400}""")]
    public void Values_without_a_canonical_form_cannot_be_signed_and_never_verify(string json)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.Throws<FormatException>(() => CanonicalJson.Serialize(doc.RootElement));
        using var signed = JsonDocument.Parse(json[..^1] + ",\"sig\":{\"kid\":\"k1\",\"mac\":\"" + DocMac + "\"}}");
        Assert.Equal(SignatureStatus.BadMac, Signatures.Verify(signed.RootElement, Signatures.CommandDomain, [K1]).Status);
    }

    [Fact]
    public void Worked_example_of_the_protocol_document_has_the_documented_mac()
    {
        var body = Bodies.Exec(new JsonObject { ["argv"] = new JsonArray("/bin/echo", "héllo"), ["timeout_s"] = 30 });
        body.Remove("sig");
        var element = JsonSerializer.SerializeToElement(body);
        Assert.Equal(DocCanonical, Encoding.UTF8.GetString(CanonicalJson.Serialize(element, "sig")));
        Assert.Equal(DocMac, Signatures.ComputeMac(K1, Signatures.CommandDomain, element));

        var doc = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "protocol.md"));
        Assert.Contains(DocKeyBase64, doc);
        Assert.Contains(DocCanonical, doc);
        Assert.Contains(DocMac, doc);
        Assert.Contains("guestagent-v1 command\\n", doc);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "GuestAgent.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public void Signed_command_is_accepted_and_keeps_its_key_id()
    {
        var command = Parse(Signed(Bodies.Exec())).Command;
        Assert.NotNull(command);
        Assert.Equal("k1", command.Signature!.KeyId);
    }

    [Fact]
    public void Command_signed_by_the_sdk_verifies()
    {
        var command = Command.Call(new ExecArgs { Argv = ["/bin/echo", "ü"], TimeoutSeconds = 2.5 }, "rep", Bodies.IssuedAt, Bodies.ExpiresAt);
        var body = Signatures.SignCommand(command, K1);
        Assert.True(Parse(body).IsAccepted);
    }

    public static TheoryData<string> Tamperings => new()
    {
        "args.number", "id", "op", "mode", "reply_to", "issued_at", "expires_at", "on_interrupt", "args.argv", "args.added", "added", "sig.kid",
    };

    [Theory]
    [MemberData(nameof(Tamperings))]
    public void Changing_any_field_after_signing_breaks_the_signature(string field)
    {
        var body = Signed(Bodies.Exec());
        switch (field)
        {
            case "args.number": body["args"]!["timeout_s"] = 1.5; break;
            case "id": body["id"] = Guid.NewGuid().ToString(); break;
            case "op": body["op"] = "http"; break;
            case "mode": body["mode"] = "cast"; break;
            case "reply_to": body["reply_to"] = "attacker"; break;
            case "issued_at": body["issued_at"] = "2026-11-25T13:00:01Z"; break;
            case "expires_at": body["expires_at"] = "2026-11-25T13:20:00Z"; break;
            case "on_interrupt": body["on_interrupt"] = "rerun"; break;
            case "args.argv": body["args"]!["argv"] = new JsonArray("/bin/rm", "-rf", "/"); break;
            case "args.added": body["args"]!["cwd"] = "/"; break;
            case "added": body["x_unknown"] = 1; break;
            case "sig.kid": body["sig"]!["kid"] = "k2"; break;
        }
        var policy = Strict with { Keys = [K1, K2] };
        var rejection = Rejected(body, policy);
        Assert.Equal(RejectCodes.BadSignature, rejection.Code);
        Assert.Null(rejection.KeyId);
    }

    [Fact]
    public void Unsigned_command_is_rejected_unless_the_binding_allows_it()
    {
        var body = Bodies.Exec();
        body.Remove("sig");
        var rejection = Rejected(body);
        Assert.Equal(RejectCodes.Unsigned, rejection.Code);
        Assert.Equal(Guid.Parse(Bodies.Id), rejection.CommandId);
        Assert.False(rejection.IsAuthenticated);

        var open = Strict with { AllowUnsigned = true };
        Assert.Null(Parse(body, open).Command!.Signature);
        // A sig that is there is checked even so.
        Assert.Equal(RejectCodes.BadSignature, Rejected(Bodies.Exec(), open).Code);
    }

    [Fact]
    public void Unknown_key_and_wrong_secret_are_rejected()
    {
        Assert.Equal(RejectCodes.UnknownKey, Rejected(Signed(Bodies.Exec(), K2)).Code);
        var impostor = new SigningKey("k1", K2.Secret);
        Assert.Equal(RejectCodes.BadSignature, Rejected(Signed(Bodies.Exec(), impostor)).Code);
    }

    [Theory]
    [InlineData("""{"kid":"k1"}""", "sig")]
    [InlineData("""{"kid":1,"mac":"x"}""", "sig")]
    [InlineData("\"k1:abc\"", "sig")]
    public void Malformed_sig_is_a_bad_signature(string sig, string field)
    {
        var body = Bodies.Exec();
        body["sig"] = JsonNode.Parse(sig);
        var rejection = Rejected(body);
        Assert.Equal(RejectCodes.BadSignature, rejection.Code);
        Assert.Equal(field, rejection.Field);
    }

    [Fact]
    public void Rotation_accepts_every_configured_key()
    {
        var both = Strict with { Keys = [K2, K1] };
        Assert.Equal("k1", Parse(Signed(Bodies.Exec(), K1), both).Command!.Signature!.KeyId);
        Assert.Equal("k2", Parse(Signed(Bodies.Exec(), K2), both).Command!.Signature!.KeyId);
        Assert.Equal(RejectCodes.UnknownKey, Rejected(Signed(Bodies.Exec(), K2)).Code);
    }

    [Fact]
    public void Signed_command_must_expire_within_the_maximum_lifetime()
    {
        var none = Bodies.Exec();
        none.Remove("expires_at");
        var missing = Rejected(Signed(none));
        Assert.Equal((RejectCodes.MissingField, "expires_at", "k1"), (missing.Code, missing.Field, missing.KeyId));

        var longLived = Bodies.Exec();
        longLived["expires_at"] = "2026-11-25T14:00:01Z";
        var tooLong = Rejected(Signed(longLived));
        Assert.Equal((RejectCodes.InvalidValue, "expires_at"), (tooLong.Code, tooLong.Field));
        Assert.True(tooLong.IsAuthenticated);

        longLived["expires_at"] = "2026-11-25T14:00:00Z";
        Assert.True(Parse(Signed(longLived)).IsAccepted);
    }

    [Theory]
    [InlineData("9999-12-31T23:59:59Z")]
    [InlineData("9999-12-31T23:59:59.9999999Z")]
    [InlineData("9999-12-31T23:58:00Z")]
    public void Signed_command_expiring_at_the_end_of_time_is_refused_for_its_lifetime_not_thrown(string expiresAt)
    {
        var body = Bodies.Exec();
        body["expires_at"] = expiresAt;
        var r = Rejected(Signed(body));
        Assert.Equal((RejectCodes.InvalidValue, "expires_at", "k1"), (r.Code, r.Field, r.KeyId));
        Assert.Equal(Guid.Parse(Bodies.Id), r.CommandId);
    }

    [Fact]
    public void Signed_command_issued_at_the_start_of_time_is_refused_for_its_lifetime_not_thrown()
    {
        var body = Bodies.Exec();
        body["issued_at"] = "0001-01-01T00:00:00Z";
        var r = Rejected(Signed(body));
        Assert.Equal((RejectCodes.InvalidValue, "expires_at", "k1"), (r.Code, r.Field, r.KeyId));
    }

    [Fact]
    public void An_exception_inside_the_parser_becomes_an_internal_error_with_id_and_reply_to()
    {
        var broken = Strict with { Keys = new BrokenKeys() };
        var r = Rejected(Signed(Bodies.Exec()), broken);
        Assert.Equal(RejectCodes.InternalError, r.Code);
        Assert.Null(r.Field);
        Assert.Equal(Guid.Parse(Bodies.Id), r.CommandId);
        Assert.Equal(Bodies.ReplyTo, r.ReplyTo);
        Assert.Null(r.KeyId);
        Assert.Equal("The agent could not judge this command (InvalidOperationException: key store unavailable); nothing ran.", r.Message);
    }

    /// <summary>A key source that fails when read, as a defect or a lost store would.</summary>
    private sealed class BrokenKeys : IReadOnlyList<SigningKey>
    {
        public SigningKey this[int index] => throw new InvalidOperationException("key store unavailable");

        public int Count => throw new InvalidOperationException("key store unavailable");

        public IEnumerator<SigningKey> GetEnumerator() => throw new InvalidOperationException("key store unavailable");

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [Fact]
    public void Signed_command_past_expiry_or_from_the_future_beyond_the_skew_is_expired()
    {
        var body = Signed(Bodies.Exec());
        Assert.Equal(RejectCodes.Expired, Rejected(body, now: Bodies.ExpiresAt.AddSeconds(61)).Code);
        Assert.True(Parse(body, now: Bodies.ExpiresAt.AddSeconds(59)).IsAccepted);
        Assert.Equal(RejectCodes.Expired, Rejected(body, now: Bodies.IssuedAt.AddSeconds(-61)).Code);
        Assert.True(Parse(body, now: Bodies.IssuedAt.AddSeconds(-59)).IsAccepted);
    }

    [Fact]
    public void A_rejection_after_authentication_names_the_key_and_one_before_does_not()
    {
        var badArgs = Signed(Bodies.Exec(new JsonObject { ["argv"] = new JsonArray(), ["timeout_s"] = 1 }));
        Assert.Equal("k1", Rejected(badArgs).KeyId);
        var wrongVersion = Bodies.Exec();
        wrongVersion["v"] = 2;
        var v2 = Rejected(Signed(wrongVersion));
        Assert.Equal((RejectCodes.UnsupportedVersion, (string?)null), (v2.Code, v2.KeyId));
    }

    [Fact]
    public void Without_a_policy_the_parser_does_not_check_signatures()
    {
        Assert.True(CommandParser.Parse(Bodies.Exec().ToJsonString(), Bodies.Now).IsAccepted);
    }

    [Fact]
    public void Reply_signatures_verify_with_any_key_and_never_as_commands()
    {
        var reply = new Reply(Guid.NewGuid(), 1, ReplyStatus.Progress, "vm1", Bodies.Now,
            Chunk: new Chunking.Chunk("stdout", 0, 1, 10, new string('a', 64), "é😀"u8.ToArray()));
        var signed = JsonSerializer.SerializeToElement(Signatures.SignReply(reply, K2));
        Assert.Equal(SignatureStatus.Valid, Signatures.Verify(signed, Signatures.ReplyDomain, [K1, K2]).Status);
        Assert.Equal(SignatureStatus.UnknownKey, Signatures.Verify(signed, Signatures.ReplyDomain, [K1]).Status);
        Assert.Equal(SignatureStatus.BadMac, Signatures.Verify(signed, Signatures.CommandDomain, [K1, K2]).Status);
        Assert.True(ReplyParser.TryParse(signed, out var back, out _));
        Assert.Equal(reply.Seq, back!.Seq);

        var tampered = JsonNode.Parse(signed.GetRawText())!.AsObject();
        tampered["chunk"]!["data_b64"] = Convert.ToBase64String("forged"u8);
        Assert.Equal(SignatureStatus.BadMac,
            Signatures.Verify(JsonSerializer.SerializeToElement(tampered), Signatures.ReplyDomain, [K2]).Status);
        var unsigned = JsonSerializer.SerializeToElement(reply, ProtocolJson.Options);
        Assert.Equal(SignatureStatus.Unsigned, Signatures.Verify(unsigned, Signatures.ReplyDomain, [K2]).Status);
    }

    [Fact]
    public void Short_secrets_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new SigningKey("k", new byte[31]));
    }

    [Theory]
    [InlineData(1.0, "1.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(1.5e300, "1.5e+300")]
    public void Floats_are_written_as_python_repr(double value, string expected) =>
        Assert.Equal(expected, CanonicalJson.PythonFloatRepr(value));
}
