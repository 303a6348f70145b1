using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using GuestAgent.Protocol.Signing;

namespace GuestAgent.Protocol.Tests;

/// <summary>
/// Generated bodies of every shape. Whatever arrives, the parser judges it: exactly one of a command
/// and a rejection with a listed code and a message, never an exception and never internal_error
/// (which would mean the parser itself failed), and a command it accepts is written back in a form
/// it accepts again as the same command.
/// </summary>
public sealed class ParserPropertyTests
{
    [Property(MaxTest = 800)]
    public Property Arbitrary_json_is_judged_never_thrown() => Prop.ForAll(ParserCases.ArbitraryJson.ToArbitrary(), Judge);

    [Property(MaxTest = 300)]
    public Property Nesting_of_any_depth_is_judged_never_thrown() => Prop.ForAll(ParserCases.Nesting.ToArbitrary(), Judge);

    [Property(MaxTest = 500)]
    public Property Random_bytes_and_invalid_utf8_are_judged_never_thrown() => Prop.ForAll(ParserCases.Bytes.ToArbitrary(), Judge);

    [Property(MaxTest = 2000)]
    public Property Commands_with_one_field_spoiled_are_judged_never_thrown() => Prop.ForAll(ParserCases.SpoiledCommands.ToArbitrary(), Judge);

    [Property(MaxTest = 1000)]
    public Property Timestamps_of_any_shape_are_judged_never_thrown() => Prop.ForAll(ParserCases.Timestamps.ToArbitrary(), Judge);

    [Fact]
    public void Every_command_template_is_accepted_unspoiled_signed_and_unsigned()
    {
        foreach (var template in ParserCases.Templates)
        {
            var json = template().ToJsonString();
            var unsigned = CommandParser.Parse(Encoding.UTF8.GetBytes(json), Bodies.Now, null, null);
            Assert.True(unsigned.IsAccepted, $"{json}: {unsigned.Rejection}");
            var signed = CommandParser.Parse(Encoding.UTF8.GetBytes(ParserCases.SignIfPossible(json)), Bodies.Now, null, ParserCases.Strict);
            Assert.True(signed.IsAccepted, $"{json}: {signed.Rejection}");
            Assert.Equal("k1", signed.Command.Signature?.KeyId);
        }
    }

    private static void Judge(ParserCase c)
    {
        var result = CommandParser.Parse(c.Body, c.Now, null, c.Policy);
        Assert.True((result.Command is null) != (result.Rejection is null), "exactly one of Command and Rejection");
        if (result.Rejection is { } r)
        {
            Assert.True(RejectCodes.All.Contains(r.Code), $"unlisted code {r.Code}");
            Assert.True(r.Code != RejectCodes.InternalError, r.Message);
            Assert.False(string.IsNullOrWhiteSpace(r.Message), "empty message");
            Assert.True(r.ReplyTo is null || QueueNames.IsValid(r.ReplyTo), $"salvaged reply_to {r.ReplyTo}");
            Assert.True(r.KeyId is null || c.Policy is not null, "authenticated without a policy");
            return;
        }
        var command = result.Command!;
        var again = CommandParser.Parse(Encoding.UTF8.GetBytes(command.ToJson()), c.Now, null, null);
        Assert.True(again.IsAccepted, $"written back as {command.ToJson()}: {again.Rejection}");
        Assert.Equal((command.Id, command.Op), (again.Command.Id, again.Command.Op));
    }
}

/// <summary>One body, the agent's clock and the tenant's signing policy; printed readably when a property fails.</summary>
internal sealed record ParserCase(string Kind, byte[] Body, DateTimeOffset Now, SigningPolicy? Policy)
{
    public override string ToString()
    {
        var text = System.Text.Unicode.Utf8.IsValid(Body) ? Encoding.UTF8.GetString(Body) : "hex " + Convert.ToHexString(Body);
        var policy = Policy is null ? "none" : $"allow-unsigned={Policy.AllowUnsigned} max-lifetime={Policy.MaxLifetime}";
        return $"{Kind}; now {Now:o}; policy {policy}; body ({Body.Length} bytes) {(text.Length > 2000 ? text[..2000] + "…" : text)}";
    }
}

/// <summary>The generators. Values are JSON text, so that they can be what no serialiser writes (NaN, 1e400, \ud800).</summary>
internal static class ParserCases
{
    public static readonly SigningKey Key = new("k1", Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
    public static readonly SigningPolicy Strict = new([Key], AllowUnsigned: false, TimeSpan.FromHours(1));

    private static readonly string[] Keys =
    [
        "v", "id", "op", "mode", "reply_to", "issued_at", "expires_at", "on_interrupt", "args", "sig", "kid", "mac",
        "argv", "shell", "env", "timeout_s", "url", "path", "size", "command_id", "x", "", "i\\u0064", "\\ud800", "日本", "\\u0000",
    ];

    private static readonly string[] StringPieces =
    [
        "", "a", "hello", "/bin/echo", "é", "😀", "日本", " ", "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\ud83d",
        "\\\"", "\\\\", "\\n", "\\/", "\\u00e9", "\\u0041", Bodies.Id, Bodies.ReplyTo, "2026-11-25T13:00:00Z", "https://example.com/x", "=",
    ];

    // Raw bytes no JSON string may hold: a control character, a quote cut short, a bad escape.
    private static readonly string[] BrokenStrings = ["\"a\u0001b\"", "\"unterminated", "\"\\x41\"", "\"\\u12\"", "'single'"];

    private static readonly string[] NumberLiterals =
    [
        "0", "-0", "1", "-1", "0.0", "-0.0", "1.5", "1e400", "-1e400", "1e-400", "5e-324", "1.7976931348623157e308", "2.5e-5", "1E+2",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "4294967296", "2147483648",
        "123456789012345678901234567890", "1.0000000000000000000000000001", "0e0", "1e-7",
    ];

    private static readonly string[] Literals =
    [
        "true", "false", "null", "NaN", "-NaN", "Infinity", "-Infinity", "+1", "01", ".5", "1.", "-", "1e", "0x10", "undefined", "tru",
    ];

    private static readonly string[] EndsOfTime =
    [
        "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999999999Z", "9999-12-31T09:59:59-14:00",
        "9999-12-31T23:58:00Z", "9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59-00:01", "0001-01-01T00:00:00Z",
        "0001-01-01T14:00:00+14:00", "0001-01-01T00:00:00+14:00", "0000-12-31T23:59:59Z", "2026-11-25T23:59:60Z",
        "2026-11-25T13:00:00Z", "2026-11-25T13:10:00Z", "2026-11-25T13:00:00.123456789+01:00",
    ];

    private static readonly string[] Zones =
        ["Z", "z", "+00:00", "-00:00", "+14:00", "-14:00", "-12:00", "+12:00", "+15:00", "+01:30", "+23:59", "+01:75", "", "+0100"];

    private static readonly DateTimeOffset[] Clocks =
        [Bodies.Now, Bodies.Now, Bodies.Now, Bodies.Now, DateTimeOffset.MinValue, DateTimeOffset.MaxValue, DateTimeOffset.UnixEpoch];

    private static Gen<string> Str =>
        Gen.Frequency(
            (9, from n in Gen.Choose(0, 4) from parts in Gen.ArrayOf(Gen.Elements(StringPieces), n) select "\"" + string.Concat(parts) + "\""),
            (1, Gen.Elements(BrokenStrings)));

    private static Gen<string> Number =>
        Gen.OneOf(
            Gen.Elements(NumberLiterals),
            ArbMap.Default.GeneratorFor<long>().Select(l => l.ToString(CultureInfo.InvariantCulture)),
            // May print NaN or ∞: no JSON either, and still to be judged.
            ArbMap.Default.GeneratorFor<double>().Select(d => d.ToString("R", CultureInfo.InvariantCulture)),
            from digits in Gen.Choose(1, 400) from first in Gen.Choose(1, 9) select first + new string('7', digits - 1),
            from mantissa in Gen.Choose(-999, 999) from exponent in Gen.Choose(-500, 500) select $"{mantissa}e{exponent}");

    private static Gen<string> Scalar => Gen.Frequency((4, Str), (3, Number), (2, Gen.Elements(Literals)), (2, Timestamp));

    /// <summary>Any JSON value (and some near misses) nested at most <paramref name="depth"/> deep.</summary>
    private static Gen<string> Json(int depth) =>
        depth <= 0
            ? Scalar
            : Gen.Frequency((4, Scalar), (1, ArrayOf(depth - 1)), (2, ObjectOf(depth - 1)));

    private static Gen<string> ArrayOf(int depth) =>
        from n in Gen.Choose(0, 4)
        from items in Gen.ArrayOf(Json(depth), n)
        select "[" + string.Join(",", items) + "]";

    private static Gen<string> ObjectOf(int depth) =>
        from n in Gen.Choose(0, 6)
        from members in Gen.ArrayOf(from key in Gen.Elements(Keys) from value in Json(depth) select $"\"{key}\":{value}", n)
        select "{" + string.Join(",", members) + "}";

    /// <summary>RFC 3339 look-alikes from year 0 to 9999 with every part sometimes out of range, and values that are no string at all.</summary>
    public static Gen<string> Timestamp =>
        Gen.Frequency(
            (3, Gen.Elements(EndsOfTime).Select(t => $"\"{t}\"")),
            (6, from year in Gen.Frequency((2, Gen.Elements(0, 1, 2, 1970, 2026, 9998, 9999)), (1, Gen.Choose(0, 9999)))
                from month in Gen.Choose(0, 13)
                from day in Gen.Choose(0, 32)
                from hour in Gen.Choose(0, 24)
                from minute in Gen.Choose(0, 60)
                from second in Gen.Frequency((5, Gen.Choose(0, 59)), (1, Gen.Elements(59, 60, 61)))
                from fractionDigits in Gen.Choose(0, 10)
                from fraction in Gen.ArrayOf(Gen.Choose(0, 9), fractionDigits)
                from zone in Gen.Elements(Zones)
                from separator in Gen.Elements("T", "t", " ")
                select $"\"{year:0000}-{month:00}-{day:00}{separator}{hour:00}:{minute:00}:{second:00}" +
                    (fraction.Length == 0 ? "" : "." + string.Concat(fraction)) + zone + "\""),
            (1, Gen.Elements("1795611600", "1795611600.5", "null", "true", "{}", "[]", "\"\"", "[\"2026-11-25T13:00:00Z\"]")));

    /// <summary>A command of every op, each accepted as it stands (see the test of that).</summary>
    public static readonly Func<JsonObject>[] Templates =
    [
        () => Bodies.Exec(),
        () => Bodies.Exec(new JsonObject
        {
            ["shell"] = "echo hi", ["env"] = new JsonObject { ["A"] = "1" }, ["cwd"] = "/", ["stdin"] = "x", ["timeout_s"] = 30,
            ["run_as"] = "root", ["kill_grace_s"] = 5, ["output_cap_bytes"] = 1024,
        }),
        () => Bodies.Op("http", new JsonObject
        {
            ["method"] = "POST", ["url"] = "https://example.com/x?y=1", ["headers"] = new JsonObject { ["X-A"] = "1" },
            ["body_b64"] = "aGk=", ["timeout_s"] = 10, ["follow_redirects"] = false, ["output_cap_bytes"] = 100,
        }),
        () => Bodies.Op("file.put", new JsonObject
        {
            ["transfer_id"] = "1b4e28ba-2fa1-11d2-883f-0000f81d4fab", ["path"] = "/tmp/f", ["size"] = 3,
            ["sha256"] = new string('a', 64), ["chunk_bytes"] = 3, ["index"] = 0, ["count"] = 1, ["data_b64"] = "YWJj",
            ["mode"] = "0644", ["owner"] = "root", ["group"] = "root", ["overwrite"] = true,
        }),
        () => Bodies.Op("file.put", new JsonObject
        {
            ["path"] = "/tmp/f", ["size"] = 10, ["sha256"] = new string('b', 64), ["url"] = "https://example.com/f",
            ["headers"] = new JsonObject { ["Authorization"] = "x" }, ["timeout_s"] = 60,
        }),
        () => Bodies.Op("file.get", new JsonObject { ["path"] = "/etc/hostname", ["offset"] = 1, ["output_cap_bytes"] = 100 }),
        () => Bodies.Op("file.get", new JsonObject
        {
            ["path"] = "/var/log/x", ["upload_url"] = "https://example.com/u", ["upload_method"] = "PUT",
            ["upload_headers"] = new JsonObject { ["X-B"] = "2" }, ["timeout_s"] = 60,
        }),
        () => Bodies.Op("status", new JsonObject { ["command_id"] = "1b4e28ba-2fa1-11d2-883f-0000f81d4fab" }),
        () => Bodies.Op("cancel", new JsonObject { ["command_id"] = "1b4e28ba-2fa1-11d2-883f-0000f81d4fab" }),
        () => Bodies.Op("ping"),
        () => Bodies.Op("credentials", new JsonObject
        {
            ["command_queue_signature"] = PreSigned("/v2/queues/cmd/messages"),
            ["reply_queue_signature"] = PreSigned("/v2/queues/rep/messages"),
        }),
    ];

    private static JsonObject PreSigned(string path) => new()
    {
        ["paths"] = new JsonArray(path), ["methods"] = new JsonArray("GET", "POST"), ["expires"] = "2026-11-26T13:00:00",
        ["signature"] = new string('c', 64), ["project"] = "p1",
    };

    public static Gen<ParserCase> ArbitraryJson =>
        from depth in Gen.Choose(0, 4)
        from json in Gen.Frequency((3, ObjectOf(depth)), (1, Json(depth)))
        from now in Gen.Elements(Clocks)
        select new ParserCase("json", Encoding.UTF8.GetBytes(json), now, null);

    /// <summary>Arrays and objects 0 to 200 deep, as the whole body or inside a command before or after its id.</summary>
    public static Gen<ParserCase> Nesting =>
        from depth in Gen.Choose(0, 200)
        from opens in Gen.ArrayOf(Gen.Elements('[', '{'), depth)
        from core in Scalar
        from place in Gen.Elements("body", "args", "before-id", "after-id")
        select new ParserCase($"nesting {depth} in {place}", Encoding.UTF8.GetBytes(Place(Nest(opens, core), place)), Bodies.Now, null);

    private static string Nest(char[] opens, string core)
    {
        var text = new StringBuilder();
        foreach (var open in opens)
        {
            text.Append(open == '[' ? "[" : "{\"a\":");
        }
        text.Append(core);
        for (var i = opens.Length - 1; i >= 0; i--)
        {
            text.Append(opens[i] == '[' ? ']' : '}');
        }
        return text.ToString();
    }

    private static string Place(string value, string place)
    {
        var body = Bodies.Exec().ToJsonString();
        return place switch
        {
            "body" => value,
            "args" => body.Replace("\"argv\":", $"\"x\":{value},\"argv\":", StringComparison.Ordinal),
            "before-id" => "{\"x\":" + value + "," + body[1..],
            _ => body.Replace("\"args\":", $"\"x\":{value},\"args\":", StringComparison.Ordinal),
        };
    }

    private static readonly byte[][] BadUtf8 =
        [[0xFF], [0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98]];

    /// <summary>Random bytes, and commands with a byte inserted, overwritten or cut off.</summary>
    public static Gen<ParserCase> Bytes =>
        Gen.OneOf(
            ArbMap.Default.GeneratorFor<byte[]>().Select(b => new ParserCase("random bytes", b, Bodies.Now, null)),
            from template in Gen.Elements(Templates)
            let body = Encoding.UTF8.GetBytes(template().ToJsonString())
            from at in Gen.Choose(0, body.Length)
            from how in Gen.Elements("insert", "overwrite", "cut", "bad-utf8")
            from b in Gen.Choose(0, 255)
            from bad in Gen.Elements(BadUtf8)
            select new ParserCase($"{how} at {at}", Damage(body, at, how, (byte)b, bad), Bodies.Now, null));

    private static byte[] Damage(byte[] body, int at, string how, byte b, byte[] bad)
    {
        var bytes = body.ToList();
        switch (how)
        {
            case "insert": bytes.Insert(at, b); break;
            case "overwrite" when at < bytes.Count: bytes[at] = b; break;
            case "cut": bytes.RemoveRange(at, bytes.Count - at); break;
            default: bytes.InsertRange(at, bad); break;
        }
        return bytes.ToArray();
    }

    private static Gen<SigningPolicy?> Policy =>
        Gen.Frequency(
            (1, Gen.Constant<SigningPolicy?>(null)),
            (1, from allowUnsigned in Gen.Elements(false, true)
                from lifetime in Gen.Elements(TimeSpan.FromHours(1), TimeSpan.FromHours(1), TimeSpan.Zero, TimeSpan.MaxValue)
                select (SigningPolicy?)(Strict with { AllowUnsigned = allowUnsigned, MaxLifetime = lifetime })));

    /// <summary>
    /// A command of any op with one field (top level or nested) replaced by any value, by a
    /// timestamp, or removed, or with a member added (perhaps a second of one already there); under
    /// a policy it is then signed whenever it can be, so that the checks behind the signature run too.
    /// </summary>
    public static Gen<ParserCase> SpoiledCommands =>
        from template in Gen.Elements(Templates)
        from stripSig in Gen.Elements(false, true)
        let body = WithoutSig(template(), stripSig)
        from path in Gen.Elements(PathsOf(body).ToArray())
        from change in Gen.Frequency(
            (6, Json(2).Select(v => (Kind: "replace", Text: v))),
            (3, Timestamp.Select(v => (Kind: "replace", Text: v))),
            (1, Gen.Constant((Kind: "remove", Text: ""))),
            (2, from key in Gen.Elements(Keys) from v in Json(1) select (Kind: "add", Text: $"\"{key}\":{v}")))
        from policy in Policy
        from sign in Gen.Frequency((3, Gen.Constant(true)), (1, Gen.Constant(false)))
        from now in Gen.Elements(Clocks)
        let json = Spoil(body, path, change.Kind, change.Text)
        select new ParserCase(
            $"{change.Kind} {string.Join('.', path)}{(policy is not null && sign ? " signed" : "")}",
            Encoding.UTF8.GetBytes(policy is not null && sign ? SignIfPossible(json) : json), now, policy);

    /// <summary>Valid commands whose issued_at and expires_at are any timestamp, signed or not.</summary>
    public static Gen<ParserCase> Timestamps =>
        from template in Gen.Elements(Templates)
        from issuedAt in Timestamp
        from expiresAt in Gen.Frequency((4, Timestamp), (1, Gen.Constant("null")))
        from policy in Policy
        from now in Gen.Elements(Clocks)
        let json = Spoil(Spoil(template(), ["issued_at"], "replace", issuedAt), ["expires_at"], "replace", expiresAt)
        select new ParserCase("timestamps", Encoding.UTF8.GetBytes(policy is null ? json : SignIfPossible(json)), now, policy);

    private static JsonObject WithoutSig(JsonObject body, bool strip)
    {
        if (strip)
        {
            body.Remove("sig");
        }
        return body;
    }

    private static string Spoil(string json, string[] path, string kind, string text) =>
        Spoil(JsonNode.Parse(json)!.AsObject(), path, kind, text);

    /// <summary>The paths of every member and element below the top, as keys and indexes.</summary>
    private static IEnumerable<string[]> PathsOf(JsonNode node, string[]? prefix = null)
    {
        prefix ??= [];
        var children = node switch
        {
            JsonObject o => o.Select(m => (Key: m.Key, Value: m.Value)).ToList(),
            JsonArray a => a.Select((v, i) => (Key: $"[{i}]", Value: v)).ToList(),
            _ => [],
        };
        foreach (var (key, value) in children)
        {
            string[] path = [.. prefix, key];
            yield return path;
            if (value is not null)
            {
                foreach (var below in PathsOf(value, path))
                {
                    yield return below;
                }
            }
        }
    }

    private const string Hole = "@@HOLE@@";

    /// <summary>The body with the node at <paramref name="path"/> replaced by the JSON text, removed, or given a member beside it.</summary>
    private static string Spoil(JsonObject body, string[] path, string kind, string text)
    {
        body = body.DeepClone().AsObject();
        JsonNode parent = body;
        foreach (var step in path[..^1])
        {
            parent = parent is JsonArray a ? a[Index(step)]! : parent[step]!;
        }
        var last = path[^1];
        switch (kind, parent)
        {
            case ("remove", JsonArray a):
                a.RemoveAt(Index(last));
                return body.ToJsonString();
            case ("remove", JsonObject o):
                o.Remove(last);
                return body.ToJsonString();
            case ("add", JsonArray a):
                a.Add(Hole);
                return body.ToJsonString().Replace($"\"{Hole}\"", "{" + text + "}", StringComparison.Ordinal);
            case ("add", JsonObject o):
                o[Hole] = Hole;
                return body.ToJsonString().Replace($"\"{Hole}\":\"{Hole}\"", text, StringComparison.Ordinal);
            case (_, JsonArray a):
                a[Index(last)] = Hole;
                break;
            default:
                parent[last] = Hole;
                break;
        }
        return body.ToJsonString().Replace($"\"{Hole}\"", text, StringComparison.Ordinal);
    }

    private static int Index(string step) => int.Parse(step.AsSpan(1, step.Length - 2), CultureInfo.InvariantCulture);

    /// <summary>The body signed with <see cref="Key"/> if it has a canonical form; as it is otherwise.</summary>
    public static string SignIfPossible(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? Signatures.Sign(document.RootElement, Key, Signatures.CommandDomain).ToJsonString()
                : json;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or ArgumentException)
        {
            return json;
        }
    }
}
