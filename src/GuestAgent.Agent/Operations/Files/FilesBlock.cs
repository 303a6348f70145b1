using Akka.Actor;
using GuestAgent.Agent.Blocks;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Operations.Http;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>
/// The built-in <c>files</c> block: <c>file.put</c> (a chunk of a transfer, or one download from a
/// URL) and <c>file.get</c> (through the reply queue, or one upload to a URL), under the binding's
/// <c>file-roots</c> only, at most <c>max-file-bytes</c>, URLs to its <c>http-destinations</c> only.
/// </summary>
public sealed class FilesBlock(GuestPlatform platform) : OperationBlock
{
    public override string Name => "files";

    public override IReadOnlyList<BlockOp> Ops { get; } =
        [new(Protocol.Ops.FilePut, StandardArgs.ReadFilePut), new(Protocol.Ops.FileGet, StandardArgs.ReadFileGetArgs)];

    /// <summary>Each of its ops enforces the timeout its args give (<c>timeout_s</c>), with its own cleanup.</summary>
    public override TimeSpan? TimeLimit(BlockCommand command) => null;

    public override object? ReadPolicy(IBlockSettings binding)
    {
        var roots = binding.GetStringList("file-roots");
        foreach (var root in roots.Where(r => string.IsNullOrEmpty(r) || !Path.IsPathFullyQualified(r)))
        {
            throw new BlockConfigException("file-roots", $"'{root}' is not an absolute path");
        }
        var maxFile = binding.GetBytes("max-file-bytes") ?? FilesPolicy.DefaultMaxFileBytes;
        if (maxFile < 0)
        {
            throw new BlockConfigException("max-file-bytes", "must not be negative");
        }
        return new FilesPolicy(roots, maxFile, HttpBlock.ReadDestinations(binding));
    }

    /// <summary>A file larger than max-file-bytes is refused before it is accepted (a transfer's size is announced with each chunk).</summary>
    public override string? Refusal(BlockCommand command)
    {
        var policy = command.PolicyAs<FilesPolicy>();
        long? size = command.Args switch
        {
            FilePutArgs put => put.Size,
            FilePutUrlArgs download => download.Size,
            _ => null,
        };
        return size > policy.MaxFileBytes
            ? $"{command.Op} of {size} bytes is larger than max-file-bytes ({policy.MaxFileBytes}) of tenant {command.Tenant}"
            : null;
    }

    public override async Task<BlockOutcome> RunAsync(BlockRun run, CancellationToken cancel)
    {
        var policy = run.PolicyAs<FilesPolicy>();
        var files = policy.Paths(platform.Files);
        UrlTransferOptions Url() => new(run.CommandId, run.Attempt, files, platform, policy.Destinations, run.Time);
        try
        {
            // BlockOperation already runs this off the ledger's thread: no further hop to the pool.
            return run.Args switch
            {
                FilePutArgs put => await FilePut.RunAsync(run.CommandId, put, files, platform,
                    (run.Services?.GetService(typeof(TransferDesk)) as TransferDesk
                        ?? throw new InvalidOperationException("file.put chunks need the ledger's transfer desk")).Ledger, cancel).ConfigureAwait(false),
                FilePutUrlArgs download => await FilePutUrl.RunAsync(download, Url(), cancel).ConfigureAwait(false),
                FileGetArgs { UploadUrl: not null } upload => await FileUpload.RunAsync(upload, Url(), cancel).ConfigureAwait(false),
                FileGetArgs get => await FileGet.RunAsync(run.CommandId, get, run.Attempt, files, platform.Files,
                    ((SpoolOutput)run.Output).Directory, run.InlineCapBytes, run.ChunkBytes, cancel).ConfigureAwait(false),
                var other => BlockOutcome.Failed(RejectCodes.InternalError, $"the files block has no run for {other.GetType().Name}"),
            };
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return BlockOutcome.Cancelled();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return BlockOutcome.Failed(UrlTransferErrorCodes.IoError, e.GetBaseException().Message);
        }
    }

    /// <summary>A download's temp file is named after its command: removed, since a rerun starts it over anyway.</summary>
    public override InterruptMeaning Interrupted(BlockCommand command)
    {
        if (command.Args is FilePutUrlArgs download
            && command.PolicyAs<FilesPolicy>().Paths(platform.Files).Check(download.Path, FileAccessKind.Write) is { IsOk: true } target)
        {
            FileInstaller.TryDelete(FileInstaller.PartPathFor(target.ResolvedPath!, command.CommandId));
        }
        return InterruptMeaning.MayHaveTakenEffect;
    }
}

/// <summary>A binding's policy for the files block: its file-roots, max-file-bytes and http-destinations.</summary>
public sealed record FilesPolicy(IReadOnlyList<string> Roots, long MaxFileBytes, IReadOnlyList<HttpDestination> Destinations)
{
    /// <summary>Default max-file-bytes: 1 GiB.</summary>
    public const long DefaultMaxFileBytes = 1L << 30;

    public FilePolicy Paths(IFileSystem files) => new(Roots, files) { MaxFileBytes = MaxFileBytes };
}

/// <summary>The ledger, for the file.put chunk runs that ask it which chunk is new (it records every stored chunk).</summary>
public sealed record TransferDesk(IActorRef Ledger);
