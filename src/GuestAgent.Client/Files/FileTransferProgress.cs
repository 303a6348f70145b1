namespace GuestAgent.Client.Files;

/// <summary>
/// How far a file transfer is. <see cref="BytesDone"/> and <see cref="ChunksDone"/> never go down
/// within one transfer, and the last report of a successful transfer has them equal to the totals.
/// </summary>
/// <param name="BytesDone">Bytes the destination holds so far (the agent, for a put; this side, for a get), skipped ones included.</param>
/// <param name="TotalBytes">Size of the file. For a get, an estimate until <see cref="TotalKnown"/>.</param>
/// <param name="ChunksDone">Chunks done, skipped ones included.</param>
/// <param name="TotalChunks">Chunks in the transfer; for a get, 0 until the first chunk says (a small file has none).</param>
/// <param name="ChunksSkipped">Chunks not sent because the agent already held them (a resumed put).</param>
/// <param name="BytesSkipped">Bytes counted in <see cref="BytesDone"/> that did not travel in this transfer: chunks the agent already held, or the part of the file a resumed get already had. Leave them out of a rate.</param>
/// <param name="Elapsed">Time since the transfer started.</param>
/// <param name="TotalKnown">Whether <see cref="TotalBytes"/> is exact (always for a put).</param>
public sealed record FileTransferProgress(
    long BytesDone,
    long TotalBytes,
    int ChunksDone,
    int TotalChunks,
    int ChunksSkipped,
    long BytesSkipped,
    TimeSpan Elapsed,
    bool TotalKnown = true)
{
    /// <summary>Done as a fraction 0 .. 1 (1 for an empty file).</summary>
    public double Fraction => TotalBytes <= 0 ? 1 : Math.Clamp((double)BytesDone / TotalBytes, 0, 1);

    /// <summary>Bytes per second that actually travelled (skipped ones left out), or null before any did.</summary>
    public double? BytesPerSecond
    {
        get
        {
            var moved = BytesDone - BytesSkipped;
            return moved > 0 && Elapsed > TimeSpan.Zero ? moved / Elapsed.TotalSeconds : null;
        }
    }

    /// <summary>Time left at <see cref="BytesPerSecond"/>, or null while no rate is known.</summary>
    public TimeSpan? Remaining =>
        BytesPerSecond is { } rate ? TimeSpan.FromSeconds(Math.Max(0, TotalBytes - BytesDone) / rate) : null;
}
