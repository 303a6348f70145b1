using System.CommandLine;
using System.Security.Cryptography;
using GuestAgent.Client;
using GuestAgent.Client.Files;
using GuestAgent.Protocol;
using Command = System.CommandLine.Command;

namespace GuestAgent.Cli.Commands;

/// <summary>`guestctl cp`: copy one file to or from the guest (file.put in chunks, file.get), resuming an interrupted copy.</summary>
public static partial class GuestCommands
{
    /// <summary>The agent refused or failed the file operation (forbidden_path, not_found, exists, ...), or the local destination exists.</summary>
    public const int ExitFileRefused = 1;

    /// <summary>The data did not verify: a checksum (the agent's, or this side's over what arrived) did not match.</summary>
    public const int ExitFileCorrupt = 2;

    /// <summary>The prefix that names a path in the guest: guest:/srv/app.conf.</summary>
    public const string GuestPrefix = "guest:";

    private const string CopyExitCodesHelp =
        "0 if the file was copied and its SHA-256 checked; 1 if the agent refused or failed the file operation " +
        "(forbidden_path, not_found, exists, is_directory, not_a_regular_file, transfer_mismatch ...) or the local file exists; " +
        "2 if the data did not verify (checksum); 124 if no answer came in time (after re-sending); 125 if the command was rejected " +
        "(e.g. an agent without file.put), or guestctl/Zaqar failed, or on bad usage; 130 if interrupted (run the same cp again to resume).";

    private static Command Copy()
    {
        var from = new Argument<string>("source") { Description = "A local file, or guest:PATH" };
        var to = new Argument<string>("destination") { Description = "guest:PATH (a PATH ending in / takes the source's name), or a local file or directory" };
        var mode = new Option<string?>("--mode") { Description = "Upload: permission bits of the guest file, 3-4 octal digits (e.g. 0644); default: the agent's", HelpName = "octal" };
        var owner = new Option<string?>("--owner") { Description = "Upload: user to own the guest file; default: the agent's" };
        var group = new Option<string?>("--group") { Description = "Upload: group of the guest file; default: the owner's" };
        var overwrite = new Option<bool>("--overwrite", "-f") { Description = "Replace an existing destination file (in the guest, or locally)" };
        var chunkBytes = new Option<int>("--chunk-bytes")
        {
            Description = $"Upload: bytes per chunk command (1 .. {ProtocolLimits.MaxChunkDataBytes()}, the default)",
            DefaultValueFactory = _ => ProtocolLimits.MaxChunkDataBytes(),
        };
        var window = new Option<int>("--window")
        {
            Description = $"Upload: chunk commands in flight at once (1 .. {FilePutOptions.MaxWindow})",
            DefaultValueFactory = _ => FilePutOptions.DefaultWindow,
        };
        var restart = new Option<bool>("--restart")
        {
            Description = "Do not resume: start a new upload transfer (a random id), or read the whole file instead of continuing LOCAL.part",
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress and no summary on stderr" };
        var cmd = new Command("cp",
            "Copy a file to or from the guest: guestctl cp LOCAL guest:PATH | guestctl cp guest:PATH LOCAL. " +
            "Uploads go in chunks (file.put) under a transfer id derived from the guest, the path and the file's SHA-256, so running " +
            "the same cp again after an interruption sends only the missing chunks. Downloads (file.get) are written to LOCAL.part once " +
            "the whole file's SHA-256 checks out, then renamed to LOCAL; an existing LOCAL.part (a partial copy) is continued from its " +
            "length, and read again from the start if it does not match. Progress and a summary go to stderr. " +
            "--wait is the wait for each chunk's answer (upload) or the longest silence (download). With --json, the summary is " +
            "printed to stdout as one JSON object. The agent allows only paths under its tenant binding's file-roots.")
            .WithExitCodes(CopyExitCodesHelp);
        cmd.Arguments.Add(from);
        cmd.Arguments.Add(to);
        cmd.Options.Add(mode);
        cmd.Options.Add(owner);
        cmd.Options.Add(group);
        cmd.Options.Add(overwrite);
        cmd.Options.Add(chunkBytes);
        cmd.Options.Add(window);
        cmd.Options.Add(restart);
        cmd.Options.Add(quiet);
        AddCommon(cmd);
        cmd.Options.Add(Json);
        cmd.SetAction(async (ParseResult r, CancellationToken ct) =>
        {
            var source = r.GetValue(from) ?? "";
            var destination = r.GetValue(to) ?? "";
            var upload = destination.StartsWith(GuestPrefix, StringComparison.Ordinal);
            if (upload == source.StartsWith(GuestPrefix, StringComparison.Ordinal))
            {
                Error($"cp: exactly one of source and destination must be {GuestPrefix}PATH");
                return ExitError;
            }
            if (!upload && (r.GetValue(mode) is not null || r.GetValue(owner) is not null || r.GetValue(group) is not null))
            {
                Error("cp: --mode, --owner and --group apply to uploads only");
                return ExitError;
            }
            // Checked here, before anything is read or sent, in the option's own terms.
            if (r.GetValue(mode) is { } bits && !System.Text.RegularExpressions.Regex.IsMatch(bits, "^[0-7]{3,4}$"))
            {
                Error($"cp: --mode wants the guest file's permission bits as 3 or 4 octal digits (0-7), such as 0644 or 0640; got '{Printable(bits)}'");
                return ExitError;
            }
            return await WithClient(r, async client =>
            {
                try
                {
                    return upload
                        ? await UploadAsync(client, source, destination[GuestPrefix.Length..], r, ct)
                        : await DownloadAsync(client, source[GuestPrefix.Length..], destination, r, ct);
                }
                catch (FileTransferException e)
                {
                    Error($"cp: {e.Message}{Hint(e)}");
                    return ExitCodeOf(e);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    Error("cp: interrupted; run the same command again to resume");
                    return ExitCancelled;
                }
            });
        });
        return cmd;

        async Task<int> UploadAsync(GuestClient client, string local, string guestPath, ParseResult r, CancellationToken ct)
        {
            if (!File.Exists(local))
            {
                Error(Directory.Exists(local) ? $"cp: {local} is a directory; cp copies one file" : $"cp: {local}: no such file");
                return ExitError;
            }
            if (guestPath.Length == 0 || guestPath.EndsWith('/'))
            {
                guestPath += Path.GetFileName(local);
            }
            if (!guestPath.StartsWith('/'))
            {
                Error($"cp: the guest path must be absolute: {GuestPrefix}{guestPath}");
                return ExitError;
            }
            var outcome = await TransferDisplay.RunAsync(r.GetValue(quiet), async display =>
            {
                // Hashed here, not in the client, because the transfer id is made from the hash.
                var (sha256, size) = await HashAsync(local, display.Phase("sha256", "sha256 " + Path.GetFileName(local)), ct);
                var transferId = r.GetValue(restart) ? (Guid?)null : FileTransferIds.ForPut(client.CommandQueue, guestPath, sha256, size);
                return await client.PutFileAsync(local, guestPath, new FilePutOptions
                {
                    Mode = r.GetValue(mode),
                    Owner = r.GetValue(owner),
                    Group = r.GetValue(group),
                    Overwrite = r.GetValue(overwrite),
                    ChunkBytes = r.GetValue(chunkBytes),
                    Window = r.GetValue(window),
                    TransferId = transferId,
                    Sha256 = sha256,
                    ChunkTimeout = WaitTime(r),
                    Progress = display.Phase(null, "put " + Path.GetFileName(local)),
                }, ct);
            });
            if (r.GetValue(Json))
            {
                PrintJson(new Dictionary<string, object?>
                {
                    ["source"] = local, ["destination"] = GuestPrefix + outcome.Path, ["bytes"] = outcome.Bytes, ["sha256"] = outcome.Sha256,
                    ["chunks"] = outcome.ChunkCount, ["chunks_skipped"] = outcome.ChunksSkipped, ["retries"] = outcome.Retries,
                    ["seconds"] = Math.Round(outcome.Elapsed.TotalSeconds, 3),
                });
            }
            // After the live display has ended, or the line would be drawn into it.
            if (!r.GetValue(quiet))
            {
                var skipped = outcome.ChunksSkipped > 0 ? $" ({outcome.ChunksSkipped} already there)" : "";
                var retries = outcome.Retries > 0 ? $", {outcome.Retries} re-sent" : "";
                Console.Error.WriteLine(
                    $"cp: {local} -> {GuestPrefix}{outcome.Path}: {TransferDisplay.Bytes(outcome.Bytes)} in {TransferDisplay.Duration(outcome.Elapsed, precise: true)}" +
                    $"{Rate(outcome.BytesSent, outcome.Elapsed)}, {outcome.ChunkCount} chunk(s){skipped}{retries}, sha256 {outcome.Sha256}");
            }
            return 0;
        }

        async Task<int> DownloadAsync(GuestClient client, string guestPath, string local, ParseResult r, CancellationToken ct)
        {
            if (!guestPath.StartsWith('/'))
            {
                Error($"cp: the guest path must be absolute: {GuestPrefix}{guestPath}");
                return ExitError;
            }
            if (Directory.Exists(local))
            {
                local = Path.Combine(local, Path.GetFileName(guestPath.TrimEnd('/')));
            }
            var outcome = await TransferDisplay.RunAsync(r.GetValue(quiet), display => client.GetFileAsync(guestPath, local, new FileGetOptions
            {
                Resume = !r.GetValue(restart),
                Overwrite = r.GetValue(overwrite),
                IdleTimeout = WaitTime(r),
                Progress = display.Phase(null, "get " + Path.GetFileName(guestPath)),
            }, ct));
            if (r.GetValue(Json))
            {
                PrintJson(new Dictionary<string, object?>
                {
                    ["source"] = GuestPrefix + outcome.Path, ["destination"] = outcome.LocalPath, ["bytes"] = outcome.Size, ["sha256"] = outcome.Sha256,
                    ["resumed_at"] = outcome.Offset, ["restarted"] = outcome.Restarted, ["seconds"] = Math.Round(outcome.Elapsed.TotalSeconds, 3),
                });
            }
            if (!r.GetValue(quiet))
            {
                var resumed = outcome.Restarted ? $" ({Path.GetFileName(local)}.part did not match the file: read again from the start)"
                    : outcome.Offset > 0 ? $" (resumed at {TransferDisplay.Bytes(outcome.Offset)})" : "";
                Console.Error.WriteLine(
                    $"cp: {GuestPrefix}{outcome.Path} -> {outcome.LocalPath}: {TransferDisplay.Bytes(outcome.Size)} in {TransferDisplay.Duration(outcome.Elapsed, precise: true)}" +
                    $"{Rate(outcome.BytesReceived, outcome.Elapsed)}{resumed}, sha256 {outcome.Sha256}");
            }
            return 0;
        }
    }

    /// <summary>The local file's SHA-256 and size, reporting as it reads (big files take a while).</summary>
    private static async Task<(string Sha256, long Size)> HashAsync(string path, IProgress<FileTransferProgress>? progress, CancellationToken ct)
    {
        var started = TimeProvider.System.GetTimestamp();
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var size = file.Length;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long done = 0;
        int n;
        while ((n = await file.ReadAsync(buffer, ct)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            done += n;
            progress?.Report(new FileTransferProgress(Math.Min(done, size), size, 0, 0, 0, 0, TimeProvider.System.GetElapsedTime(started)));
        }
        if (done != size)
        {
            throw new IOException($"{path} changed while it was read ({size} bytes before, {done} read).");
        }
        progress?.Report(new FileTransferProgress(size, size, 0, 0, 0, 0, TimeProvider.System.GetElapsedTime(started)));
        return (Convert.ToHexStringLower(hash.GetHashAndReset()), size);
    }

    private static string Rate(long bytes, TimeSpan elapsed) =>
        elapsed.TotalSeconds > 0 && bytes > 0 ? $" ({TransferDisplay.Bytes(bytes / elapsed.TotalSeconds)}/s)" : "";

    private static int ExitCodeOf(FileTransferException e) => e switch
    {
        { Rejected: true } => ExitError,
        { IsVerificationFailure: true } => ExitFileCorrupt,
        { Code: FileTransferErrors.TimedOut } => ExitTimedOut,
        { Code: FileTransferErrors.Cancelled } => ExitCancelled,
        { Code: FileTransferErrors.Interrupted or FileTransferErrors.Stalled } => ExitError,
        _ => ExitFileRefused,
    };

    private static string Hint(FileTransferException e) => e.Code switch
    {
        RejectCodes.Forbidden when e.Rejected => "",
        FileErrorCodes.ForbiddenPath =>
            "\nguestctl: the agent allows cp only under the directories in its tenant binding's file-roots (agent config, e.g. " +
            "file-roots = [\"/srv/app\"]); tools/run.sh's demo agent allows $DEMO_FILES",
        FileErrorCodes.TransferMismatch =>
            "\nguestctl: an earlier, unfinished cp of this file to this path used other options (--chunk-bytes, --mode, --owner, --group, -f); " +
            "run it with the same options, or add --restart",
        FileErrorCodes.Exists => " (add -f to replace it)",
        FileErrorCodes.ChecksumMismatch => "\nguestctl: did the local file change while it was sent? run cp again",
        _ => "",
    };
}
