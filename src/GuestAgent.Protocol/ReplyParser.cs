using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace GuestAgent.Protocol;

/// <summary>
/// Reads replies for the controller. Lenient: anything that is not a v1 reply (garbage, a command
/// posted to the wrong queue) yields false and a reason instead of an exception, so a consumer can
/// log and delete it. Unknown fields are ignored.
/// </summary>
public static class ReplyParser
{
    public static bool TryParse(string json, [NotNullWhen(true)] out Reply? reply, [NotNullWhen(false)] out string? error) =>
        TryParse(Encoding.UTF8.GetBytes(json), out reply, out error);

    public static bool TryParse(JsonElement body, [NotNullWhen(true)] out Reply? reply, [NotNullWhen(false)] out string? error) =>
        TryParse(JsonMarshal.GetRawUtf8Value(body), out reply, out error);

    public static bool TryParse(ReadOnlySpan<byte> utf8Json, [NotNullWhen(true)] out Reply? reply, [NotNullWhen(false)] out string? error)
    {
        reply = null;
        try
        {
            using var document = JsonDocument.Parse(utf8Json.ToArray(), ProtocolJson.DocumentOptions);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "Not a reply: the body is not a JSON object.";
                return false;
            }
            // Checked before the full read so that a future version's reply is named as such.
            if (!root.TryGetProperty("v", out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var version))
            {
                error = "Not a reply: no integer v.";
                return false;
            }
            if (version != ProtocolVersion.Current)
            {
                error = $"Reply version {version} is not supported; this reader speaks v={ProtocolVersion.Current}.";
                return false;
            }
            if (!root.TryGetProperty("seq", out _) || !root.TryGetProperty("status", out _))
            {
                error = "Not a reply: seq or status is missing.";
                return false;
            }
            reply = root.Deserialize<Reply>(ProtocolJson.Options);
            if (reply is null)
            {
                error = "Not a reply: the body is null.";
                return false;
            }
            if (reply.Seq < 0)
            {
                reply = null;
                error = "Invalid reply: seq is negative.";
                return false;
            }
            error = null;
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            // InvalidOperationException: invalid UTF-8 met while reading a string.
            reply = null;
            error = $"Not a valid reply: {e.Message}";
            return false;
        }
    }
}
