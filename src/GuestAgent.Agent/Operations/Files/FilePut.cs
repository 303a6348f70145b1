using Akka.Actor;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>
/// One run of one file.put chunk command: checks the path, asks the ledger
/// what to do with the chunk (write it, nothing, or install the finished file), writes it at its
/// offset in the transfer's temp file beside the target, and reports it stored. The ledger
/// decides because it alone sees every chunk of a transfer, and records each stored chunk, so the
/// transfer survives an agent restart.
/// </summary>
public static class FilePut
{
    /// <summary>How long the operation waits for the ledger's answer (it persists one event first).</summary>
    private static readonly TimeSpan LedgerTimeout = TimeSpan.FromSeconds(60);

    private static BlockOutcome Failed(string code, string message) => BlockOutcome.Failed(code, message);

    public static async Task<BlockOutcome> RunAsync(Guid id, FilePutArgs args, FilePolicy policy, GuestPlatform platform, IActorRef ledger, CancellationToken ct)
    {
        var check = policy.Check(args.Path, FileAccessKind.Write);
        if (!check.IsOk)
        {
            return Failed(check.ErrorCode!, check.Message!);
        }
        var target = check.ResolvedPath!;
        if (FileInstaller.ResolveOwnership(platform.Accounts, args.Owner, args.Group, out var ownership) is { } badOwner)
        {
            return Failed(badOwner.Code, badOwner.Message);
        }
        var part = FileInstaller.PartPathFor(target, args.TransferId);
        if (FileInstaller.CheckPart(platform.Files, part) is { } badPart)
        {
            return Failed(badPart.Code, badPart.Message);
        }

        var verdict = await AskAsync(ledger, new ChunkArriving(id, args, target, part, File.Exists(target)), ct).ConfigureAwait(false);
        if (verdict.Action == ChunkAction.Write)
        {
            FileInstaller.WriteChunk(platform.Files, part, (long)args.Index * args.ChunkBytes, args.DecodeData());
            verdict = await AskAsync(ledger, new ChunkStored(id, args.TransferId, args.Index), ct).ConfigureAwait(false);
        }
        switch (verdict.Action)
        {
            case ChunkAction.Fail:
                return Failed(verdict.ErrorCode!, verdict.Message!);
            case ChunkAction.Install:
                // The tree may have changed since the first chunk: the file goes where the path leads now, or nowhere.
                var failure = policy.StillLeadsTo(args.Path, target)
                    ?? FileInstaller.Install(platform.Files, part, target, args.Size, args.Sha256, args.DecodeMode(), ownership, args.Overwrite, ct);
                if (failure is not null)
                {
                    await AskAsync(ledger, new TransferFailed(id, args.TransferId, failure.Code, failure.Message), ct).ConfigureAwait(false);
                    return Failed(failure.Code, failure.Message);
                }
                verdict = await AskAsync(ledger, new TransferInstalled(id, args.TransferId, args.Size, args.Sha256), ct).ConfigureAwait(false);
                return BlockOutcome.Succeeded(verdict.Progress!);
            default:
                return BlockOutcome.Succeeded(verdict.Progress!);
        }
    }

    private static Task<ChunkVerdict> AskAsync(IActorRef ledger, object message, CancellationToken ct) =>
        ledger.Ask<ChunkVerdict>(message, LedgerTimeout, ct);
}
