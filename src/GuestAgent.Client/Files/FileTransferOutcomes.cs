namespace GuestAgent.Client.Files;

/// <summary>A file put in place in the guest, as the agent confirmed it.</summary>
/// <param name="Path">The guest path.</param>
/// <param name="Bytes">Size of the file in place (the agent's figure, checked against what was sent).</param>
/// <param name="Sha256">SHA-256 of the file in place (the agent's figure, checked against what was sent).</param>
/// <param name="TransferId">The transfer's id; pass it again to resume a transfer of the same file.</param>
/// <param name="ChunkCount">Chunks in the transfer.</param>
/// <param name="ChunksSent">Distinct chunks sent in this call (a chunk sent twice counts once).</param>
/// <param name="ChunksSkipped">Chunks not sent because the agent already held them (a resumed transfer).</param>
/// <param name="BytesSent">Bytes of the chunks sent in this call (each counted once): what a transfer rate is made of.</param>
/// <param name="Commands">Chunk commands posted, re-sends included.</param>
/// <param name="Retries">Chunk commands posted again after a timeout or an <c>interrupted</c> answer.</param>
/// <param name="Resumed">Whether the call resumed a given transfer (probed first) rather than starting one.</param>
/// <param name="Elapsed">Wall-clock time of the call, hashing included.</param>
public sealed record FilePutOutcome(
    string Path,
    long Bytes,
    string Sha256,
    Guid TransferId,
    int ChunkCount,
    int ChunksSent,
    int ChunksSkipped,
    long BytesSent,
    int Commands,
    int Retries,
    bool Resumed,
    TimeSpan Elapsed);

/// <summary>A file read from the guest, checked against the agent's SHA-256 of the whole file.</summary>
/// <param name="Path">The guest path.</param>
/// <param name="Size">Size of the whole file.</param>
/// <param name="Offset">Where this read started: the bytes already held when resuming, else 0.</param>
/// <param name="BytesReceived">Bytes that came in this read: <see cref="Size"/> - <see cref="Offset"/>.</param>
/// <param name="Sha256">SHA-256 of the whole file, as the agent reported and this side verified.</param>
/// <param name="Mode">The guest file's permission bits as an octal string, e.g. "0644".</param>
/// <param name="Chunks">Chunk replies the bytes came in.</param>
/// <param name="Attempts">Reads made (more than one after an <c>interrupted</c> answer).</param>
/// <param name="Elapsed">Wall-clock time of the call.</param>
/// <param name="LocalPath">With a local path: where the file now is; otherwise null.</param>
/// <param name="Restarted">With a local path and resume: the partial file did not belong to the guest file (it changed, or is longer) and was read again from the start.</param>
public sealed record FileGetOutcome(
    string Path,
    long Size,
    long Offset,
    long BytesReceived,
    string Sha256,
    string Mode,
    int Chunks,
    int Attempts,
    TimeSpan Elapsed,
    string? LocalPath = null,
    bool Restarted = false);
