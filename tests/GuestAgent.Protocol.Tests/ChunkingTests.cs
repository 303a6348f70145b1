using System.Text;
using System.Text.Json;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Protocol.Tests;

public sealed class ChunkingTests
{
    private static byte[] RandomBytes(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] Reassemble(IEnumerable<Chunk> chunks, ChunkAssembler? assembler = null)
    {
        assembler ??= new ChunkAssembler();
        foreach (var chunk in chunks)
        {
            Assert.Equal(ChunkAddStatus.Added, assembler.Add(chunk).Status);
        }
        var result = assembler.Assemble();
        Assert.True(result.IsSuccess, result.Error?.Message);
        return result.Data;
    }

    [Fact]
    public void Empty_stream_needs_no_chunks_and_reassembles_to_empty()
    {
        Assert.Empty(Chunker.Split(ReadOnlyMemory<byte>.Empty, 10, ChunkStreams.Stdout));

        var output = StreamOutput.From([], 0, 0);
        var assembler = ChunkAssembler.For(output);
        Assert.True(assembler.IsComplete);
        Assert.Empty(assembler.MissingIndexes);
        var result = assembler.Assemble();
        Assert.True(result.IsSuccess);
        Assert.Empty(result.Data);
    }

    [Fact]
    public void Assembler_without_any_chunk_is_incomplete()
    {
        var assembler = new ChunkAssembler();
        Assert.False(assembler.IsComplete);
        Assert.Null(assembler.Count);
        Assert.Equal(ChunkErrorKind.Incomplete, assembler.Assemble().Error?.Kind);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(9, 10, 1)]
    [InlineData(10, 10, 1)]
    [InlineData(11, 10, 2)]
    [InlineData(20, 10, 2)]
    [InlineData(21, 10, 3)]
    public void Split_at_and_around_exact_boundaries(int length, int max, int expectedCount)
    {
        var data = RandomBytes(length);
        var chunks = Chunker.Split(data, max, ChunkStreams.Stderr);

        Assert.Equal(expectedCount, chunks.Count);
        Assert.All(chunks, c => Assert.Equal(expectedCount, c.Count));
        Assert.All(chunks, c => Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data)), c.Sha256));
        Assert.All(chunks, c => Assert.InRange(c.Data.Length, 1, max));
        Assert.Equal(Enumerable.Range(0, expectedCount), chunks.Select(c => c.Index));
        Assert.Equal(chunks.Select(c => (long)c.Index * max), chunks.Select(c => c.Offset));
        Assert.Equal(data, Reassemble(chunks));
    }

    [Fact]
    public void Chunks_after_an_inline_prefix_carry_the_rest_and_hash_the_whole_stream()
    {
        var data = RandomBytes(1000);
        var output = StreamOutput.From(data, 300, Chunker.Split(data, 256, ChunkStreams.Stdout, firstOffset: 300).Count);
        var chunks = Chunker.Split(data, 256, ChunkStreams.Stdout, firstOffset: 300);

        Assert.Equal(3, output.Chunks);
        Assert.Equal(300, chunks[0].Offset);
        Assert.Equal(Chunker.Sha256Hex(data), chunks[0].Sha256);
        Assert.Equal(data, Reassemble(chunks, ChunkAssembler.For(output)));
    }

    [Fact]
    public void Fully_inline_stream_needs_no_chunks()
    {
        var data = RandomBytes(50);
        Assert.Empty(Chunker.Split(data, 10, ChunkStreams.Stdout, firstOffset: 50));
        var result = ChunkAssembler.For(StreamOutput.From(data, 50, 0)).Assemble();
        Assert.Equal(data, result.Data);
    }

    [Fact]
    public void Chunks_in_any_order_reassemble()
    {
        var data = RandomBytes(1000);
        var chunks = Chunker.Split(data, 100, ChunkStreams.Stdout);
        var shuffled = chunks.OrderBy(_ => Random.Shared.Next()).Reverse().ToList();
        Assert.Equal(data, Reassemble(shuffled));
    }

    [Fact]
    public void Missing_indexes_are_reported_until_complete()
    {
        var chunks = Chunker.Split(RandomBytes(50), 10, ChunkStreams.Stdout);
        var assembler = new ChunkAssembler();
        assembler.Add(chunks[3]);
        assembler.Add(chunks[0]);

        Assert.False(assembler.IsComplete);
        Assert.Equal([1, 2, 4], assembler.MissingIndexes);
        var incomplete = assembler.Assemble();
        Assert.Equal(ChunkErrorKind.Incomplete, incomplete.Error?.Kind);

        assembler.Add(chunks[1]);
        assembler.Add(chunks[2]);
        assembler.Add(chunks[4]);
        Assert.True(assembler.IsComplete);
        Assert.Empty(assembler.MissingIndexes);
    }

    [Fact]
    public void Duplicate_chunk_is_ignored()
    {
        var data = RandomBytes(30);
        var chunks = Chunker.Split(data, 10, ChunkStreams.Stdout);
        var assembler = new ChunkAssembler();
        Assert.Equal(ChunkAddStatus.Added, assembler.Add(chunks[1]).Status);
        // A redelivered message carries an equal copy, not the same instance.
        var copy = chunks[1] with { Data = chunks[1].Data.ToArray() };
        Assert.Equal(ChunkAddStatus.Duplicate, assembler.Add(copy).Status);
        assembler.Add(chunks[0]);
        assembler.Add(chunks[2]);
        Assert.Equal(3, assembler.ReceivedCount);
        Assert.Equal(data, assembler.Assemble().Data);
    }

    [Fact]
    public void Conflicting_duplicate_is_rejected_and_the_first_copy_kept()
    {
        var data = RandomBytes(30);
        var chunks = Chunker.Split(data, 10, ChunkStreams.Stdout);
        var assembler = new ChunkAssembler();
        assembler.Add(chunks[1]);
        var forged = chunks[1] with { Data = RandomBytes(10, seed: 99) };

        var result = assembler.Add(forged);

        Assert.Equal(ChunkAddStatus.Rejected, result.Status);
        Assert.Equal(ChunkErrorKind.ConflictingDuplicate, result.Error?.Kind);
        Assert.Equal(1, result.Error?.Index);
        assembler.Add(chunks[0]);
        assembler.Add(chunks[2]);
        Assert.Equal(data, assembler.Assemble().Data);
    }

    [Fact]
    public void Wrong_whole_stream_hash_is_detected_on_assembly()
    {
        var chunks = Chunker.Split(RandomBytes(30), 10, ChunkStreams.Stdout);
        var tampered = chunks.Select((c, i) => i == 2 ? c with { Data = RandomBytes(10, seed: 7) } : c);
        var assembler = new ChunkAssembler();
        foreach (var c in tampered)
        {
            assembler.Add(c);
        }
        var result = assembler.Assemble();
        Assert.False(result.IsSuccess);
        Assert.Equal(ChunkErrorKind.HashMismatch, result.Error.Kind);
    }

    [Fact]
    public void Hash_announced_by_the_final_reply_wins_over_the_chunks()
    {
        var data = RandomBytes(30);
        var chunks = Chunker.Split(data, 10, ChunkStreams.Stdout);
        var assembler = new ChunkAssembler(expectedCount: 3, expectedSha256: Chunker.Sha256Hex(RandomBytes(30, seed: 5)));
        var result = assembler.Add(chunks[0]);
        Assert.Equal(ChunkErrorKind.Inconsistent, result.Error?.Kind);
    }

    [Fact]
    public void Chunks_that_disagree_on_count_or_stream_are_inconsistent()
    {
        var chunks = Chunker.Split(RandomBytes(30), 10, ChunkStreams.Stdout);
        var assembler = new ChunkAssembler();
        assembler.Add(chunks[0]);
        Assert.Equal(ChunkErrorKind.Inconsistent, assembler.Add(chunks[1] with { Count = 4 }).Error?.Kind);
        Assert.Equal(ChunkErrorKind.Inconsistent, assembler.Add(chunks[1] with { Stream = ChunkStreams.Stderr }).Error?.Kind);
    }

    [Theory]
    [InlineData(3, 3)]
    [InlineData(-1, 3)]
    [InlineData(0, 0)]
    [InlineData(0, int.MaxValue)]
    public void Chunk_with_impossible_index_or_count_is_invalid(int index, int count)
    {
        var chunk = Chunker.Split(RandomBytes(10), 10, ChunkStreams.Stdout)[0] with { Index = index, Count = count };
        Assert.Equal(ChunkErrorKind.InvalidChunk, new ChunkAssembler().Add(chunk).Error?.Kind);
    }

    [Fact]
    public void Offsets_that_leave_a_gap_are_detected()
    {
        var chunks = Chunker.Split(RandomBytes(30), 10, ChunkStreams.Stdout).ToList();
        chunks[1] = chunks[1] with { Offset = 11 };
        var assembler = new ChunkAssembler();
        chunks.ForEach(c => assembler.Add(c));
        var result = assembler.Assemble();
        Assert.Equal(ChunkErrorKind.OffsetMismatch, result.Error?.Kind);
        Assert.Equal(1, result.Error?.Index);
    }

    [Fact]
    public void Stream_shorter_than_announced_is_detected()
    {
        var data = RandomBytes(30);
        var output = StreamOutput.From(data, 0, 3) with { Bytes = 31 };
        var assembler = ChunkAssembler.For(output);
        foreach (var c in Chunker.Split(data, 10, ChunkStreams.Stdout))
        {
            assembler.Add(c);
        }
        Assert.Equal(ChunkErrorKind.LengthMismatch, assembler.Assemble().Error?.Kind);
    }

    [Fact]
    public void Max_chunk_data_is_a_multiple_of_three_with_at_least_2_KiB_left_for_the_envelope()
    {
        var max = ProtocolLimits.MaxChunkDataBytes(ProtocolLimits.ZaqarMaxPostBodyBytes);
        Assert.Equal(0, max % 3);
        Assert.True((max / 3 * 4) + 2048 <= ProtocolLimits.ZaqarMaxPostBodyBytes);
        Assert.True(max > 190_000, $"only {max} bytes per chunk");
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtocolLimits.MaxChunkDataBytes(4096));
    }

    [Fact]
    public void Largest_chunk_as_a_whole_zaqar_post_body_fits_in_262144_bytes()
    {
        var max = ProtocolLimits.MaxChunkDataBytes(ProtocolLimits.ZaqarMaxPostBodyBytes);
        // Worst case everywhere: a longer-than-fits stream, the longest agent name, extreme numbers.
        var data = RandomBytes((max * 2) + 1);
        var chunk = Chunker.Split(data, max, ChunkStreams.Stderr)[0] with { Index = int.MaxValue - 1, Count = int.MaxValue, Offset = long.MaxValue };
        var reply = new Reply(Guid.NewGuid(), long.MaxValue, ReplyStatus.Progress, new string('a', ProtocolLimits.MaxAgentNameLength),
            DateTimeOffset.MaxValue.AddTicks(-1), Chunk: chunk);

        var post = PostBody(reply, ttl: 1_209_600);

        Assert.Equal(max, chunk.Data.Length);
        Assert.True(post.Length <= ProtocolLimits.ZaqarMaxPostBodyBytes, $"{post.Length} bytes");
        Assert.True(ProtocolLimits.ZaqarMaxPostBodyBytes - post.Length >= 2048, $"only {ProtocolLimits.ZaqarMaxPostBodyBytes - post.Length} bytes to spare");
    }

    [Fact]
    public void Chunk_data_is_written_as_unescaped_base64()
    {
        // 0xfb 0xef 0xbe is "++++" in base64; System.Text.Json's default encoder would write \u002B.
        var chunk = Chunker.Split(new byte[] { 0xfb, 0xef, 0xbe }, 3, ChunkStreams.Stdout)[0];
        var json = new Reply(Guid.NewGuid(), 0, ReplyStatus.Progress, "vm1", DateTimeOffset.UnixEpoch, Chunk: chunk).ToJson();
        Assert.Contains("\"data_b64\":\"++++\"", json, StringComparison.Ordinal);
    }

    /// <summary>The request body of Zaqar's POST /v2/queues/{q}/messages carrying one reply.</summary>
    private static byte[] PostBody(Reply reply, int ttl)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, ProtocolJson.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("messages");
            writer.WriteStartObject();
            writer.WritePropertyName("body");
            writer.WriteRawValue(reply.ToUtf8Bytes());
            writer.WriteNumber("ttl", ttl);
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
