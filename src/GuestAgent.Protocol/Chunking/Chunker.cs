using System.Security.Cryptography;

namespace GuestAgent.Protocol.Chunking;

/// <summary>Cuts a stream into chunks that each fit one Zaqar message.</summary>
public static class Chunker
{
    /// <summary>
    /// Splits <c>data[firstOffset..]</c> into chunks of at most <paramref name="maxChunkBytes"/>
    /// (see <see cref="ProtocolLimits.MaxChunkDataBytes"/>). The bytes before
    /// <paramref name="firstOffset"/> are the part sent inline; they count in the hash, which
    /// covers the whole stream. Nothing to send gives no chunks. The chunks slice
    /// <paramref name="data"/> without copying.
    /// </summary>
    public static IReadOnlyList<Chunk> Split(ReadOnlyMemory<byte> data, int maxChunkBytes, string stream, int firstOffset = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxChunkBytes);
        ArgumentException.ThrowIfNullOrEmpty(stream);
        ArgumentOutOfRangeException.ThrowIfNegative(firstOffset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstOffset, data.Length);

        var rest = data.Length - firstOffset;
        if (rest == 0)
        {
            return [];
        }
        var sha256 = Sha256Hex(data.Span);
        var count = (int)((rest + (long)maxChunkBytes - 1) / maxChunkBytes);
        var chunks = new Chunk[count];
        for (var i = 0; i < count; i++)
        {
            var offset = firstOffset + (i * maxChunkBytes);
            var length = Math.Min(maxChunkBytes, data.Length - offset);
            chunks[i] = new Chunk(stream, i, count, offset, sha256, data.Slice(offset, length));
        }
        return chunks;
    }

    /// <summary>Lower-case hex SHA-256, the form used on the wire.</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));
}
