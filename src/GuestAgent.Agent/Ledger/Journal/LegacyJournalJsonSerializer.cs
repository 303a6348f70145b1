using System.Globalization;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;

namespace GuestAgent.Agent.Ledger.Journal;

/// <summary>
/// Akka's JSON serializer (journal rows of serializer id 1), able to read the ledger rows written
/// before <see cref="LedgerSerializer"/>: Newtonsoft JSON naming each object's CLR type
/// (<c>"$type":"GuestAgent.Agent.Ledger.Events.CommandAcceptedV1, guest-agent"</c>), ints as
/// <c>{"$":"I1"}</c>, lists as <c>{"$type":...,"$values":[...]}</c>. Those rows are read by the
/// type's short name, fixed below, and the same JSON shapes as <see cref="LedgerSerializer"/>'s:
/// the types may move or be renamed without losing them. Anything else is left to Akka's serializer.
/// </summary>
public sealed class LegacyJournalJsonSerializer : NewtonSoftJsonSerializer
{
    private const string LegacyNamespace = "GuestAgent.Agent.Ledger.Events.";

    /// <summary>The CLR names the first journals hold, and what they mean now. Never change a key.</summary>
    private static readonly Dictionary<string, string> LegacyNames = new()
    {
        ["CommandAcceptedV1"] = "command-accepted.v1",
        ["CommandRejectedV1"] = "command-rejected.v1",
        ["CommandStartedV1"] = "command-started.v1",
        ["CommandCompletedV1"] = "command-completed.v1",
        ["CommandCancelledV1"] = "command-cancelled.v1",
        ["CommandCancelRequestedV1"] = "command-cancel-requested.v1",
        ["CommandTimedOutV1"] = "command-timed-out.v1",
        ["CommandInterruptedV1"] = "command-interrupted.v1",
        ["CommandRepliedV1"] = "command-replied.v1",
        ["TransferOpenedV1"] = "transfer-opened.v1",
        ["TransferChunkStoredV1"] = "transfer-chunk-stored.v1",
        ["TransferCompletedV1"] = "transfer-completed.v1",
        ["TransferDiscardedV1"] = "transfer-discarded.v1",
        ["LedgerSnapshotV1"] = "ledger-snapshot.v1",
    };

    public LegacyJournalJsonSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    public LegacyJournalJsonSerializer(ExtendedActorSystem system, Config config) : base(system, config)
    {
    }

    public override object FromBinary(byte[] bytes, Type type) =>
        TryReadLedgerRow(bytes) ?? base.FromBinary(bytes, type);

    /// <summary>A ledger event or snapshot from a row written before stable manifests; null for any other row.</summary>
    internal static object? TryReadLedgerRow(byte[] bytes)
    {
        if (bytes.AsSpan().IndexOf("\"$type\":\"GuestAgent.Agent.Ledger.Events."u8) < 0)
        {
            return null;
        }
        var root = JsonNode.Parse(bytes);
        if (root is not JsonObject obj || obj["$type"]?.GetValue<string>() is not { } typeName)
        {
            return null;
        }
        var fullName = typeName.Split(',')[0].Trim();
        if (!fullName.StartsWith(LegacyNamespace, StringComparison.Ordinal)
            || !LegacyNames.TryGetValue(fullName[LegacyNamespace.Length..], out var manifest))
        {
            return null;
        }
        return LedgerSerializer.Read(JsonSerializer.SerializeToUtf8Bytes(Plain(obj)), manifest);
    }

    /// <summary>The value without Newtonsoft's metadata: no $id / $type, lists unwrapped, number surrogates as numbers.</summary>
    private static JsonNode? Plain(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o when o.Count == 1 && o["$"] is JsonValue surrogate:
                var text = surrogate.GetValue<string>();
                return text[0] switch
                {
                    'I' => JsonValue.Create(int.Parse(text[1..], CultureInfo.InvariantCulture)),
                    'F' => JsonValue.Create(float.Parse(text[1..], CultureInfo.InvariantCulture)),
                    'M' => JsonValue.Create(decimal.Parse(text[1..], CultureInfo.InvariantCulture)),
                    _ => throw new SerializationException($"journal row holds an unknown number surrogate '{text}'"),
                };
            case JsonObject o when o.ContainsKey("$ref"):
                // Newtonsoft writes one only for an object met twice in a row; the ledger's rows never share one.
                throw new SerializationException("journal row holds a shared reference ($ref), which the ledger never wrote");
            case JsonObject o when o.ContainsKey("$values"):
                return Plain(o["$values"]);
            case JsonObject o:
                var plain = new JsonObject();
                foreach (var (name, value) in o)
                {
                    if (name is not ("$id" or "$type"))
                    {
                        plain[name] = Plain(value);
                    }
                }
                return plain;
            case JsonArray a:
                return new JsonArray(a.Select(Plain).ToArray());
            default:
                return node?.DeepClone();
        }
    }
}
