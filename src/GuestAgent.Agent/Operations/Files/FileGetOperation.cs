using System.Security.Cryptography;
using System.Text.Json;
using Akka.Actor;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Platform;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>
/// One run of one file.get, a child of the ledger: checks the path against the tenant's file
/// roots, then copies the file (from the asked offset) to the spool while hashing it, so the bytes
/// sent are a snapshot that matches the reported SHA-256 even if the file changes afterwards.
/// </summary>
public sealed class FileGetOperation(Guid commandId, FileGetArgs args, int attempt, FilePolicy policy, IFileSystem files,
    string spoolDirectory, int inlineCap, int chunkBytes)
    : OperationActor<FileGetOperation.Done>(commandId, attempt,
        ct => Task.Run(() => RunAsync(commandId, args, attempt, policy, files, spoolDirectory, inlineCap, chunkBytes, ct), ct),
        ex => new Done(CommandLedgerProtocol.FinishKind.Completed, null, ex),
        Finish)
{
    /// <summary>How the run ended: an outcome, or the exception that stopped it (I/O error or cancel).</summary>
    public sealed record Done(CommandLedgerProtocol.FinishKind Kind, OutcomeV1? Outcome, Exception? Crash = null);

    public static Props Props(Guid commandId, FileGetArgs args, int attempt, FilePolicy policy, IFileSystem files,
        string spoolDirectory, int inlineCap, int chunkBytes) =>
        Akka.Actor.Props.Create(() => new FileGetOperation(commandId, args, attempt, policy, files, spoolDirectory, inlineCap, chunkBytes));

    private static (CommandLedgerProtocol.FinishKind, OutcomeV1) Finish(Done done, bool cancelledByCommand) =>
        done.Outcome is { } outcome ? (done.Kind, outcome)
        : done.Crash is OperationCanceledException
            ? (CommandLedgerProtocol.FinishKind.Cancelled, new OutcomeV1("cancelled", null, "cancelled", CancelReason(cancelledByCommand), []))
            : (CommandLedgerProtocol.FinishKind.Completed, new OutcomeV1("failed", null, "io_error", done.Crash?.GetBaseException().Message ?? "unknown error", []));

    private static async Task<Done> RunAsync(Guid id, FileGetArgs args, int attempt, FilePolicy policy, IFileSystem files, string spoolDirectory,
        int inlineCap, int chunkBytes, CancellationToken ct)
    {
        static Done Failed(string code, string message) =>
            new(CommandLedgerProtocol.FinishKind.Completed, new OutcomeV1("failed", null, code, message, []));

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
        var spools = new List<SpooledStreamV1>();
        captured.AddSpool(spools, ChunkStreams.File, chunkBytes);
        return new Done(CommandLedgerProtocol.FinishKind.Completed,
            new OutcomeV1("succeeded", JsonSerializer.Serialize(result, ProtocolJson.Options), null, null, spools));
    }
}
