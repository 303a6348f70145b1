using System.Text.Json;

namespace GuestAgent.Protocol.Args;

/// <summary>
/// Why a command's field is refused: a <see cref="RejectCodes"/> code, the field's path (for
/// instance <c>args.timeout_s</c>) and a sentence for the issuer. Thrown by argument readers (the
/// parser's and every operation block's) from any depth; the parser turns it into a
/// <c>rejected</c> reply, so it never escapes to the agent.
/// </summary>
public sealed class ArgsRejectedException(string code, string field, string message) : Exception(message)
{
    public string Code { get; } = code;
    public string Field { get; } = field;
}

/// <summary>
/// Typed readers for the fields of a command's JSON, each refusing a wrong value with an
/// <see cref="ArgsRejectedException"/> that names the field. Shared by the envelope parser and the
/// argument readers of every operation block, so every op words its rejections alike. A JSON null
/// counts as absent.
/// </summary>
public static class ArgsReader
{
    public static JsonElement? Optional(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static JsonElement Required(JsonElement obj, string name, string path) =>
        Optional(obj, name) ?? throw new ArgsRejectedException(RejectCodes.MissingField, path, $"{path} is required.");

    public static void RequireObject(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw WrongType(path, "an object", e);
        }
    }

    public static string ReadString(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw WrongType(path, "a string", e);

    /// <summary>A string that will reach execve or the kernel, where NUL would silently cut it short.</summary>
    public static string ReadCleanString(JsonElement e, string path, bool allowEmpty)
    {
        var s = ReadString(e, path);
        if (!allowEmpty && s.Length == 0)
        {
            throw Invalid(path, $"{path} must not be empty.");
        }
        if (s.Contains('\0'))
        {
            throw Invalid(path, $"{path} must not contain NUL characters.");
        }
        return s;
    }

    public static long ReadInteger(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var value) ? value : throw WrongType(path, "an integer", e);

    public static double ReadNumber(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Number)
        {
            throw WrongType(path, "a number", e);
        }
        // TryGetDouble succeeds with infinity for literals like 1e400.
        return e.TryGetDouble(out var value) && double.IsFinite(value)
            ? value
            : throw Invalid(path, $"{path} is out of range.");
    }

    public static Guid ReadGuid(JsonElement e, string path) =>
        Guid.TryParseExact(ReadString(e, path), "D", out var g)
            ? g
            : throw Invalid(path, $"{path} must be a UUID like \"7c9e6679-7425-40de-944b-e07fc1f90ae7\".");

    public static DateTimeOffset ReadTimestamp(JsonElement e, string path) =>
        ProtocolJson.TryParseTimestamp(ReadString(e, path), out var t)
            ? t
            : throw Invalid(path, $"{path} must be an RFC 3339 timestamp with a zone, like \"2026-11-25T13:00:00Z\".");

    public static ArgsRejectedException Invalid(string path, string message) => new(RejectCodes.InvalidValue, path, message);

    public static ArgsRejectedException WrongType(string path, string expected, JsonElement actual) =>
        new(RejectCodes.WrongType, path, $"{path} must be {expected}, not {Describe(actual)}.");

    public static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => e.TryGetInt64(out _) ? "an integer" : "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };

    /// <summary>
    /// A payload given either as text (<c>args.NAME</c>) or as bytes (<c>args.NAME_b64</c>), at most one
    /// of them (exec's stdin, http's body).
    /// </summary>
    public static (string? Text, string? Base64) ReadTextOrBase64(JsonElement args, string name)
    {
        var text = Optional(args, name) is { } t ? ReadString(t, $"args.{name}") : null;
        var b64 = Optional(args, $"{name}_b64") is { } b ? ReadString(b, $"args.{name}_b64") : null;
        if (text is not null && b64 is not null)
        {
            throw Invalid($"args.{name}_b64", $"Give at most one of args.{name} and args.{name}_b64.");
        }
        if (b64 is not null && !System.Buffers.Text.Base64.IsValid(b64))
        {
            throw Invalid($"args.{name}_b64", $"args.{name}_b64 is not valid base64.");
        }
        return (text, b64);
    }

    /// <summary><c>args.timeout_s</c>: more than 0, at most the limit.</summary>
    public static double ReadTimeout(JsonElement args, double defaultSeconds, ProtocolLimits limits)
    {
        if (Optional(args, "timeout_s") is not { } t)
        {
            return defaultSeconds;
        }
        var timeout = ReadNumber(t, "args.timeout_s");
        return timeout <= 0 || timeout > limits.MaxTimeoutSeconds
            ? throw Invalid("args.timeout_s", $"args.timeout_s must be more than 0 and at most {limits.MaxTimeoutSeconds}; got {timeout}.")
            : timeout;
    }

    /// <summary><c>args.output_cap_bytes</c>: how much of an op's output goes inline (exec, http, file.get).</summary>
    public static int? ReadOutputCap(JsonElement args)
    {
        if (Optional(args, "output_cap_bytes") is not { } o)
        {
            return null;
        }
        var cap = ReadInteger(o, "args.output_cap_bytes");
        return cap is <= 0 or > int.MaxValue
            ? throw Invalid("args.output_cap_bytes", $"args.output_cap_bytes must be a positive 32-bit integer; got {cap}.")
            : (int)cap;
    }

    /// <summary><c>args.NAME</c> as a boolean, or <paramref name="absent"/> when not given.</summary>
    public static bool ReadBoolean(JsonElement args, string name, bool absent) =>
        Optional(args, name) is not { } b ? absent
        : b.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType($"args.{name}", "a boolean", b),
        };
}
