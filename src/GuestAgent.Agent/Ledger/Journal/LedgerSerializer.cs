using System.Runtime.Serialization;
using System.Text.Json;
using Akka.Actor;
using Akka.Serialization;
using GuestAgent.Agent.Ledger.Events;

namespace GuestAgent.Agent.Ledger.Journal;

/// <summary>
/// Writes the ledger's events and snapshots as JSON under stable string manifests
/// (<c>command-accepted.v1</c> ...), so that a journal outlives renames and moves of the types that
/// hold them: the manifest, not the CLR name, says what a row is. Bound in the journal's HOCON
/// (<see cref="Hosting.JournalConfig"/>). Rows written before this serializer existed are read by
/// <see cref="LegacyJournalJsonSerializer"/>.
/// </summary>
public sealed class LedgerSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>This serializer's id in journal rows; never reuse or change it.</summary>
    public const int Id = 7410;

    // The storage format: a manifest, once written, means this shape for ever. A new shape is a
    // new type with a new manifest (".v2"), and the old one stays readable.
    private static readonly (string Manifest, Type Type)[] Formats =
    [
        ("command-accepted.v1", typeof(CommandAcceptedV1)),
        ("command-rejected.v1", typeof(CommandRejectedV1)),
        ("command-started.v1", typeof(CommandStartedV1)),
        ("command-completed.v1", typeof(CommandCompletedV1)),
        ("command-cancelled.v1", typeof(CommandCancelledV1)),
        ("command-cancel-requested.v1", typeof(CommandCancelRequestedV1)),
        ("command-timed-out.v1", typeof(CommandTimedOutV1)),
        ("command-interrupted.v1", typeof(CommandInterruptedV1)),
        ("command-replied.v1", typeof(CommandRepliedV1)),
        ("chunk-command-accepted.v1", typeof(ChunkCommandAcceptedV1)),
        ("transfer-opened.v1", typeof(TransferOpenedV1)),
        ("transfer-chunk-stored.v1", typeof(TransferChunkStoredV1)),
        ("transfer-completed.v1", typeof(TransferCompletedV1)),
        ("transfer-discarded.v1", typeof(TransferDiscardedV1)),
        ("ledger-snapshot.v1", typeof(LedgerSnapshotV1)),
    ];

    private static readonly Dictionary<string, Type> ByManifest = Formats.ToDictionary(f => f.Manifest, f => f.Type);
    private static readonly Dictionary<Type, string> ByType = Formats.ToDictionary(f => f.Type, f => f.Manifest);

    /// <summary>Property names as declared (PascalCase), as the rows written before this serializer had them.</summary>
    internal static readonly JsonSerializerOptions Json = new() { RespectNullableAnnotations = true };

    public override int Identifier => Id;

    /// <summary>Every manifest this serializer writes or reads.</summary>
    public static IReadOnlyCollection<string> Manifests => ByManifest.Keys;

    public override string Manifest(object o) =>
        ByType.TryGetValue(o.GetType(), out var manifest)
            ? manifest
            : throw new ArgumentException($"{o.GetType()} has no journal manifest; add it to {nameof(LedgerSerializer)}.{nameof(Formats)}");

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Json);

    public override object FromBinary(byte[] bytes, string manifest) => Read(bytes, manifest);

    internal static object Read(ReadOnlySpan<byte> json, string manifest) =>
        ByManifest.TryGetValue(manifest, out var type)
            ? JsonSerializer.Deserialize(json, type, Json) ?? throw new SerializationException($"journal row '{manifest}' is null")
            : throw new SerializationException(
                $"journal row of unknown manifest '{manifest}': written by a newer agent? (known: {string.Join(", ", ByManifest.Keys)})");
}
