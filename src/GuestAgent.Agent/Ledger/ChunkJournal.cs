using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Ledger;

/// <summary>
/// How a file.put chunk command is journaled: without its bytes. They are written to the transfer's
/// temp file and recorded there as stored (<c>TransferChunkStoredV1</c>); journaling them as well
/// sent every file through SQLite once more, as base64 inside JSON, before its bytes reached the disk.
/// </summary>
public static class ChunkJournal
{
    private const string DataField = "data_b64";

    /// <summary>
    /// The command's JSON without <c>args.data_b64</c>, or null when it cannot be cut (it parsed as a
    /// command, so never expected): the command is then journaled whole, as before, rather than the
    /// fault stopping the ledger on the same message again and again.
    /// </summary>
    public static string? WithoutData(string commandJson) => WithoutData(Encoding.UTF8.GetBytes(commandJson));

    /// <inheritdoc cref="WithoutData(string)"/>
    public static string? WithoutData(ReadOnlyMemory<byte> commandUtf8)
    {
        try
        {
            // Written back from the parsed document, member by member, the bytes left out: no tree
            // of the command and no string of its third of a megabyte of base64 is built.
            using var document = JsonDocument.Parse(commandUtf8);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("args", out var args) || args.ValueKind != JsonValueKind.Object
                || !args.TryGetProperty(DataField, out _))
            {
                return null;
            }
            var output = new ArrayBufferWriter<byte>(1024);
            using (var writer = new Utf8JsonWriter(output))
            {
                writer.WriteStartObject();
                foreach (var member in document.RootElement.EnumerateObject())
                {
                    if (member.NameEquals("args"))
                    {
                        writer.WritePropertyName(member.Name);
                        writer.WriteStartObject();
                        foreach (var arg in member.Value.EnumerateObject().Where(a => !a.NameEquals(DataField)))
                        {
                            arg.WriteTo(writer);
                        }
                        writer.WriteEndObject();
                        continue;
                    }
                    member.WriteTo(writer);
                }
                writer.WriteEndObject();
            }
            return Encoding.UTF8.GetString(output.WrittenSpan);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// A journaled chunk command made readable by the parser again: zero bytes of the chunk's length
    /// in place of its data. Only the command's identity, reply queue and key are used from it (a
    /// recovered chunk command is never run); JSON that is not such a command is returned as it is,
    /// and fails to parse as it would have.
    /// </summary>
    public static string WithPlaceholderData(string journaledJson)
    {
        try
        {
            var root = JsonNode.Parse(journaledJson)!.AsObject();
            if (root["args"] is JsonObject args
                && args["size"]?.GetValue<long>() is { } size and >= 0
                && args["chunk_bytes"]?.GetValue<long>() is { } chunkBytes and > 0 and <= int.MaxValue
                && args["index"]?.GetValue<long>() is { } index and >= 0 and <= int.MaxValue)
            {
                var length = FilePutArgs.ExpectedChunkLength(size, (int)chunkBytes, (int)index);
                args[DataField] = Convert.ToBase64String(new byte[Math.Clamp(length, 0, ProtocolLimits.MaxChunkDataBytes())]);
                return root.ToJsonString();
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            // Not a chunk command as this agent writes them: the parser says what is wrong with it.
        }
        return journaledJson;
    }
}
