using System.Text.Json.Serialization;

namespace GuestAgent.Protocol.Chunking;

/// <summary>
/// The <c>chunk</c> object of a reply: one contiguous piece of a stream. <see cref="Offset"/>
/// is the position of <see cref="Data"/> in the whole stream and <see cref="Sha256"/> the hash
/// of the whole stream, the same in every chunk of it.
/// </summary>
/// <param name="Stream">Which stream, e.g. "stdout" or "stderr".</param>
/// <param name="Index">0-based position among the chunks of this stream.</param>
/// <param name="Count">How many chunks the stream has in all.</param>
public sealed record Chunk(
    string Stream,
    int Index,
    int Count,
    long Offset,
    string Sha256,
    [property: JsonPropertyName("data_b64")] ReadOnlyMemory<byte> Data);

/// <summary>Stream names of exec output.</summary>
public static class ChunkStreams
{
    public const string Stdout = "stdout";
    public const string Stderr = "stderr";

    /// <summary>The response body of an <c>http</c> op.</summary>
    public const string Body = "body";

    /// <summary>The file contents of a <c>file.get</c> op.</summary>
    public const string File = "file";
}
