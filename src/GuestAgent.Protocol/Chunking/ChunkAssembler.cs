using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace GuestAgent.Protocol.Chunking;

/// <summary>What went wrong with a chunk or a reassembly.</summary>
public enum ChunkErrorKind
{
    /// <summary>The chunk itself is malformed: index outside 0..count-1, count out of range, negative offset, a hash that is not SHA-256 hex.</summary>
    InvalidChunk,

    /// <summary>The chunk disagrees with earlier ones (or the expectation) about stream, count or whole-stream hash.</summary>
    Inconsistent,

    /// <summary>A second chunk with the same index but other data or offset.</summary>
    ConflictingDuplicate,

    /// <summary>Assembly was asked for before every chunk arrived.</summary>
    Incomplete,

    /// <summary>The chunks do not tile the stream: a gap or overlap between consecutive offsets.</summary>
    OffsetMismatch,

    /// <summary>The reassembled stream is not as long as announced.</summary>
    LengthMismatch,

    /// <summary>The reassembled stream does not hash to the announced SHA-256.</summary>
    HashMismatch,
}

/// <param name="Index">The chunk at fault, when one is.</param>
public sealed record ChunkError(ChunkErrorKind Kind, string Message, int? Index = null);

public enum ChunkAddStatus
{
    Added,

    /// <summary>The same chunk again (Zaqar delivers at least once); ignored.</summary>
    Duplicate,

    /// <summary>Refused; see <see cref="ChunkAddResult.Error"/>. The assembler is unchanged.</summary>
    Rejected,
}

public sealed record ChunkAddResult(ChunkAddStatus Status, ChunkError? Error = null)
{
    public static ChunkAddResult Added { get; } = new(ChunkAddStatus.Added);
    public static ChunkAddResult Duplicate { get; } = new(ChunkAddStatus.Duplicate);

    public static ChunkAddResult Rejected(ChunkError error) => new(ChunkAddStatus.Rejected, error);
}

public sealed record ChunkAssemblyResult(byte[]? Data, ChunkError? Error)
{
    [MemberNotNullWhen(true, nameof(Data))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsSuccess => Data is not null;
}

/// <summary>
/// Collects the chunks of one stream in any order and puts the stream back together, checking
/// that the pieces tile it and that the whole matches its SHA-256. Not thread-safe.
/// </summary>
public sealed class ChunkAssembler
{
    /// <summary>More chunks than this is taken as a hostile or broken count (about 190 GiB at full size).</summary>
    public const int MaxChunkCount = 1 << 20;

    private readonly Dictionary<int, Chunk> _chunks = [];
    private readonly ReadOnlyMemory<byte> _prefix;
    private readonly long? _expectedBytes;

    /// <param name="prefix">Bytes of the stream before the first chunk (the inline part of a <see cref="StreamOutput"/>).</param>
    /// <param name="expectedCount">Chunk count announced elsewhere; otherwise learnt from the first chunk.</param>
    /// <param name="expectedSha256">Whole-stream hash announced elsewhere; otherwise learnt from the first chunk.</param>
    /// <param name="expectedBytes">Total stream length announced elsewhere.</param>
    public ChunkAssembler(
        ReadOnlyMemory<byte> prefix = default, int? expectedCount = null, string? expectedSha256 = null, long? expectedBytes = null)
    {
        if (expectedCount is { } c)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(c, nameof(expectedCount));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(c, MaxChunkCount, nameof(expectedCount));
        }
        _prefix = prefix;
        Count = expectedCount;
        Sha256 = expectedSha256?.ToLowerInvariant();
        _expectedBytes = expectedBytes;
    }

    /// <summary>An assembler for the chunks that complete <paramref name="output"/> (its inline bytes are the prefix).</summary>
    public static ChunkAssembler For(StreamOutput output)
    {
        ArgumentNullException.ThrowIfNull(output);
        return new ChunkAssembler(output.DecodeInline(), output.Chunks, output.Sha256, output.Bytes);
    }

    /// <summary>The stream name, known from the first chunk.</summary>
    public string? Stream { get; private set; }

    /// <summary>How many chunks make the stream; null until a chunk (or the constructor) says.</summary>
    public int? Count { get; private set; }

    /// <summary>The whole-stream hash; null until a chunk (or the constructor) says.</summary>
    public string? Sha256 { get; private set; }

    public int ReceivedCount => _chunks.Count;

    public bool IsComplete => Count is { } c && _chunks.Count == c;

    /// <summary>Indexes not received yet, ascending; empty while <see cref="Count"/> is unknown.</summary>
    public IReadOnlyList<int> MissingIndexes =>
        Count is { } c ? Enumerable.Range(0, c).Where(i => !_chunks.ContainsKey(i)).ToList() : [];

    public ChunkAddResult Add(Chunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        if (Validate(chunk) is { } invalid)
        {
            return ChunkAddResult.Rejected(invalid);
        }
        var sha = chunk.Sha256.ToLowerInvariant();
        if (Stream is not null && chunk.Stream != Stream)
        {
            return Inconsistent(chunk, $"Chunk {chunk.Index} is of stream '{chunk.Stream}', earlier chunks of '{Stream}'.");
        }
        if (Count is { } count && chunk.Count != count)
        {
            return Inconsistent(chunk, $"Chunk {chunk.Index} says the stream has {chunk.Count} chunks; expected {count}.");
        }
        if (Sha256 is not null && sha != Sha256)
        {
            return Inconsistent(chunk, $"Chunk {chunk.Index} names stream hash {sha}; expected {Sha256}.");
        }
        if (_chunks.TryGetValue(chunk.Index, out var earlier))
        {
            return earlier.Offset == chunk.Offset && earlier.Data.Span.SequenceEqual(chunk.Data.Span)
                ? ChunkAddResult.Duplicate
                : ChunkAddResult.Rejected(new ChunkError(ChunkErrorKind.ConflictingDuplicate,
                    $"Chunk {chunk.Index} arrived twice with different contents; the first is kept.", chunk.Index));
        }
        Stream ??= chunk.Stream;
        Count ??= chunk.Count;
        Sha256 ??= sha;
        _chunks.Add(chunk.Index, chunk);
        return ChunkAddResult.Added;
    }

    /// <summary>The whole stream (prefix and chunks), once complete and verified.</summary>
    public ChunkAssemblyResult Assemble()
    {
        if (!IsComplete)
        {
            var missing = MissingIndexes;
            return Failed(new ChunkError(ChunkErrorKind.Incomplete, Count is null
                ? "No chunk has arrived yet, so the chunk count is unknown."
                : $"{missing.Count} of {Count} chunks are missing (first missing: {missing[0]})."));
        }
        var total = (long)_prefix.Length;
        for (var i = 0; i < Count; i++)
        {
            var chunk = _chunks[i];
            if (chunk.Offset != total)
            {
                return Failed(new ChunkError(ChunkErrorKind.OffsetMismatch,
                    $"Chunk {i} starts at offset {chunk.Offset}; the stream so far ends at {total}.", i));
            }
            total += chunk.Data.Length;
        }
        if (_expectedBytes is { } expected && total != expected)
        {
            return Failed(new ChunkError(ChunkErrorKind.LengthMismatch, $"The stream has {total} bytes; {expected} were announced."));
        }
        if (total > Array.MaxLength)
        {
            return Failed(new ChunkError(ChunkErrorKind.LengthMismatch, $"The stream has {total} bytes, more than one array holds."));
        }

        var data = new byte[total];
        _prefix.Span.CopyTo(data);
        var at = _prefix.Length;
        for (var i = 0; i < Count; i++)
        {
            var piece = _chunks[i].Data.Span;
            piece.CopyTo(data.AsSpan(at));
            at += piece.Length;
        }
        var actual = Convert.ToHexStringLower(SHA256.HashData(data));
        if (Sha256 is not null && actual != Sha256)
        {
            return Failed(new ChunkError(ChunkErrorKind.HashMismatch, $"The stream hashes to {actual}; {Sha256} was announced."));
        }
        return new ChunkAssemblyResult(data, null);
    }

    private static ChunkError? Validate(Chunk chunk)
    {
        if (chunk.Count is < 1 or > MaxChunkCount)
        {
            return new ChunkError(ChunkErrorKind.InvalidChunk, $"Chunk count {chunk.Count} is outside 1..{MaxChunkCount}.", chunk.Index);
        }
        if (chunk.Index < 0 || chunk.Index >= chunk.Count)
        {
            return new ChunkError(ChunkErrorKind.InvalidChunk, $"Chunk index {chunk.Index} is outside 0..{chunk.Count - 1}.", chunk.Index);
        }
        if (chunk.Offset < 0)
        {
            return new ChunkError(ChunkErrorKind.InvalidChunk, $"Chunk {chunk.Index} has negative offset {chunk.Offset}.", chunk.Index);
        }
        if (string.IsNullOrEmpty(chunk.Stream))
        {
            return new ChunkError(ChunkErrorKind.InvalidChunk, $"Chunk {chunk.Index} names no stream.", chunk.Index);
        }
        if (chunk.Sha256 is not { Length: 64 } || !chunk.Sha256.All(char.IsAsciiHexDigit))
        {
            return new ChunkError(ChunkErrorKind.InvalidChunk, $"Chunk {chunk.Index} has no SHA-256 hex digest.", chunk.Index);
        }
        return null;
    }

    private static ChunkAddResult Inconsistent(Chunk chunk, string message) =>
        ChunkAddResult.Rejected(new ChunkError(ChunkErrorKind.Inconsistent, message, chunk.Index));

    private static ChunkAssemblyResult Failed(ChunkError error) => new(null, error);
}
