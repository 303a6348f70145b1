using System.Security.Cryptography;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>
/// One run of one file.get: checks the path against the tenant's file
/// roots, then copies the file (from the asked offset) to the spool while hashing it, so the bytes
/// sent are a snapshot that matches the reported SHA-256 even if the file changes afterwards.
/// </summary>
public static class FileGet
{
    public static async Task<BlockOutcome> RunAsync(Guid id, FileGetArgs args, int attempt, FilePolicy policy, IFileSystem files, string spoolDirectory,
        int inlineCap, int chunkBytes, CancellationToken ct)
    {
        static BlockOutcome Failed(string code, string message) => BlockOutcome.Failed(code, message);

        var check = policy.Check(args.Path, FileAccessKind.Read);
        if (!check.IsOk)
        {
            return Failed(check.ErrorCode!, check.Message!);
        }
        await using var source = new FileStream(check.ResolvedPath!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.Asynchronous);
        var size = source.Length;
        if (policy.TooLarge(args.Path, size) is { } tooLarge)
        {
            return Failed(FileErrorCodes.TooLarge, tooLarge);
        }
        if (args.Offset > size)
        {
            return Failed(FileErrorCodes.InvalidOffset, $"offset {args.Offset} is past the end of {args.Path} ({size} bytes)");
        }
        var cap = Math.Min(inlineCap, args.OutputCapBytes ?? inlineCap);
        var spoolPath = Path.Combine(spoolDirectory, $"{id:N}-{attempt}.file");
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[OutputSpool.ReadBufferBytes];
        long position = 0;
        CapturedStream captured;
        await using (var spool = new OutputSpool(OutputSpool.OpenFile(files, spoolPath), spoolPath, cap))
        {
            while (true)
            {
                var n = await source.ReadAsync(buffer, ct).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                whole.AppendData(buffer, 0, n);
                // Only what lies at or after the offset is sent.
                var skip = (int)Math.Clamp(args.Offset - position, 0, n);
                if (skip < n)
                {
                    await spool.WriteAsync(buffer.AsMemory(skip, n - skip)).ConfigureAwait(false);
                }
                position += n;
            }
            captured = await spool.CompleteAsync().ConfigureAwait(false);
        }
        var mode = FilePolicy.ModeText(files.ModeOf(source.SafeFileHandle));
        var result = new FileGetResult(args.Path, position, args.Offset, captured.TotalBytes, mode,
            Convert.ToHexStringLower(whole.GetHashAndReset()), captured.ToStreamOutput(captured.ChunkCount(chunkBytes)));
        return BlockOutcome.Succeeded(result, (ChunkStreams.File, captured));
    }
}
