using System.Text;
using System.Text.Json;

namespace GuestAgent.Protocol;

/// <summary>Writes commands in their wire form, e.g. for a controller SDK.</summary>
public static class CommandWriter
{
    public static string ToJson(Command command) => Encoding.UTF8.GetString(ToUtf8Bytes(command));

    public static byte[] ToUtf8Bytes(Command command)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, ProtocolJson.WriterOptions))
        {
            Write(writer, command);
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Writes every field explicitly, defaults included, so a reader never depends on this
    /// version's defaults. <c>args</c> is <see cref="Command.RawArgs"/> when present, so that fields
    /// this version does not know are passed on.
    /// </summary>
    public static void Write(Utf8JsonWriter writer, Command command)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(command);
        writer.WriteStartObject();
        writer.WriteNumber("v", command.Version);
        writer.WriteString("id", command.Id.ToString("D"));
        writer.WriteString("op", command.Op);
        writer.WriteString("mode", command.Mode == CommandMode.Call ? "call" : "cast");
        if (command.ReplyTo is not null)
        {
            writer.WriteString("reply_to", command.ReplyTo);
        }
        writer.WriteString("issued_at", ProtocolJson.FormatTimestamp(command.IssuedAt));
        if (command.ExpiresAt is { } expiresAt)
        {
            writer.WriteString("expires_at", ProtocolJson.FormatTimestamp(expiresAt));
        }
        writer.WriteString("on_interrupt", command.OnInterrupt == InterruptPolicy.Rerun ? "rerun" : "fail");
        writer.WritePropertyName("args");
        (command.RawArgs.ValueKind == JsonValueKind.Object ? command.RawArgs : command.Args.ToJsonElement()).WriteTo(writer);
        if (command.Signature is { } sig)
        {
            writer.WriteStartObject("sig");
            writer.WriteString("kid", sig.KeyId);
            writer.WriteString("mac", sig.Mac);
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
    }
}
