using System.Security.Cryptography;
using GuestAgent.Protocol;

namespace GuestAgent.Blocks;

/// <summary>One output stream of a run, spooled whole (<see cref="IOutputWriter"/>; the built-in exec, http and file.get runners), its first bytes kept inline.</summary>
/// <param name="TotalBytes">Every byte the stream produced.</param>
/// <param name="Inline">The first bytes of the stream, at most the inline cap.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the whole stream.</param>
/// <param name="SpoolPath">File holding the whole stream; null when nothing was spooled (the run did not start).</param>
public sealed record CapturedStream(long TotalBytes, byte[] Inline, string Sha256, string? SpoolPath)
{
    public static CapturedStream Empty { get; } = new(0, [], Convert.ToHexStringLower(SHA256.HashData([])), null);

    public int InlineBytes => Inline.Length;

    public bool Truncated => InlineBytes < TotalBytes;

    /// <summary>Chunk replies of at most <paramref name="chunkBytes"/> that carry what is not inline.</summary>
    public int ChunkCount(int chunkBytes) =>
        TotalBytes <= InlineBytes ? 0 : (int)((TotalBytes - InlineBytes + chunkBytes - 1) / chunkBytes);

    /// <summary>The wire form; <paramref name="chunks"/> is how many chunk replies carry the bytes after the inline part.</summary>
    public StreamOutput ToStreamOutput(int chunks = 0) =>
        // From decides text vs base64 for the inline part; the totals come from the whole stream.
        StreamOutput.From(Inline, Inline.Length, chunks) with { Bytes = TotalBytes, Sha256 = Sha256 };
}
