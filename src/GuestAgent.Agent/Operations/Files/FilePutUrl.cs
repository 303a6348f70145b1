using System.Security.Cryptography;
using GuestAgent.Agent.Operations.Http;
using GuestAgent.Blocks;
using GuestAgent.Agent.Platform;
using GuestAgent.Protocol;
using static GuestAgent.Agent.Operations.Files.UrlTransfer;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>
/// One run of one file.put with a <c>url</c>: the agent GETs the file
/// itself (every hop checked against the tenant's http-destinations), streams the body into a
/// hidden temp file beside the target, stops as soon as the body is longer than announced, checks
/// size and SHA-256 and renames the file into place (<see cref="FileInstaller"/>). Nothing is
/// visible at the target until the whole file is verified; the temp file is deleted whatever
/// happens. The run keeps no state between attempts: a rerun after an agent restart starts over.
/// </summary>
public static class FilePutUrl
{
    public static Task<BlockOutcome> RunAsync(FilePutUrlArgs args, UrlTransferOptions options, CancellationToken cancel)
    {
        var started = options.Time.GetTimestamp();
        var check = options.Policy.Check(args.Path, FileAccessKind.Write);
        if (!check.IsOk)
        {
            return Task.FromResult(Failed(check.ErrorCode!, check.Message!));
        }
        var target = check.ResolvedPath!;
        var part = FileInstaller.PartPathFor(target, options.CommandId);
        // Everything that can be known before a byte is fetched is checked first: a refusal costs nothing.
        var refusal = FileInstaller.ResolveOwnership(options.Platform.Accounts, args.Owner, args.Group, out var ownership)
            ?? (!args.Overwrite && File.Exists(target)
                ? new FileFailure(FileErrorCodes.Exists, $"{args.Path} exists and overwrite is false; nothing was downloaded")
                : null)
            ?? FileInstaller.CheckPart(options.Platform.Files, part)
            ?? RoomFor(target, args.Size);
        if (refusal is not null)
        {
            return Task.FromResult(Failed(refusal));
        }

        return UrlTransfer.RunAsync(args.TimeoutSeconds, options.Time, UrlTransferErrorCodes.DownloadFailed, async ct =>
        {
            try
            {
                using var client = HttpHops.CreateClient();
                var request = new HopRequest(HttpMethod.Get, new Uri(args.Url, UriKind.Absolute), args.Headers, null, RedirectPolicy.All, HttpHops.Redact);
                using var sent = await HttpHops.SendAsync(client, request, options.AllowList, ct).ConfigureAwait(false);
                if (sent.Response is not { } response)
                {
                    return NotSent(sent, UrlTransferErrorCodes.DownloadFailed);
                }
                if (!response.IsSuccessStatusCode)
                {
                    return Failed(UrlTransferErrorCodes.DownloadFailed, await DescribeAnswerAsync("GET", sent, ct).ConfigureAwait(false));
                }
                var source = HttpHops.Redact(sent.Url);
                if (response.Content.Headers.ContentLength is { } announced && announced != args.Size)
                {
                    // The server says up front that it holds another file: not worth fetching.
                    return Failed(UrlTransferErrorCodes.SizeMismatch,
                        $"{source} announces {announced} bytes (Content-Length), not the {args.Size} of args.size; nothing was downloaded");
                }

                await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                var (sha256, failure) = await ReceiveAsync(options.Platform.Files, body, part, args.Size, source, ct).ConfigureAwait(false);
                failure ??= sha256 != args.Sha256
                    ? new FileFailure(FileErrorCodes.ChecksumMismatch,
                        $"the {args.Size} bytes from {source} have SHA-256 {sha256}, not the announced {args.Sha256}; nothing was installed")
                    : null;
                // A download can take an hour: the file goes where the path leads now, or nowhere.
                failure ??= options.Policy.StillLeadsTo(args.Path, target)
                    ?? FileInstaller.Install(options.Platform.Files, part, target, args.Size, args.Sha256, args.DecodeMode(), ownership, args.Overwrite, ct);
                return failure is not null
                    ? Failed(failure)
                    : Succeeded(new FileDownloadResult(args.Path, args.Size, args.Sha256, Complete: true, (int)response.StatusCode, source,
                        sent.Redirects, (long)options.Time.GetElapsedTime(started).TotalMilliseconds, options.Attempt));
            }
            finally
            {
                // Gone after a successful rename already; after anything else its bytes are of no use.
                FileInstaller.TryDelete(part);
            }
        }, cancel);
    }

    /// <summary>
    /// Streams <paramref name="body"/> into the (emptied) temp file, hashing it, and stops as soon
    /// as more than <paramref name="size"/> bytes arrive; forces the bytes to disk before they can
    /// be renamed into place. Returns the SHA-256, or why the body is not the file.
    /// </summary>
    private static async Task<(string? Sha256, FileFailure? Failure)> ReceiveAsync(IFileSystem files, Stream body, string part, long size, string source, CancellationToken ct)
    {
        await using var file = FileInstaller.OpenPart(files, part);
        file.SetLength(0);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[BufferBytes];
        long received = 0;
        while (true)
        {
            int n;
            try
            {
                n = await body.ReadAsync(buffer, ct).ConfigureAwait(false);
            }
            catch (IOException e) when (!ct.IsCancellationRequested)
            {
                return (null, new FileFailure(UrlTransferErrorCodes.DownloadFailed,
                    $"the body from {source} broke off after {received} of {size} bytes: {HttpHops.Describe(e)}"));
            }
            if (n == 0)
            {
                break;
            }
            received += n;
            if (received > size)
            {
                return (null, new FileFailure(UrlTransferErrorCodes.SizeMismatch,
                    $"{source} sent more than the {size} bytes of args.size; the download was stopped and nothing was installed"));
            }
            hash.AppendData(buffer, 0, n);
            await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
        }
        if (received < size)
        {
            return (null, new FileFailure(UrlTransferErrorCodes.SizeMismatch,
                $"{source} sent {received} bytes, not the {size} of args.size; nothing was installed"));
        }
        file.Flush(flushToDisk: true);
        return (Convert.ToHexStringLower(hash.GetHashAndReset()), null);
    }

    /// <summary>Refuses a file larger than the free space beside its target, before any of it is fetched.</summary>
    private static FileFailure? RoomFor(string target, long size)
    {
        long free;
        try
        {
            free = new DriveInfo(Path.GetDirectoryName(target) ?? "/").AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Not knowing is no reason to refuse: a full disk still fails the write.
            return null;
        }
        return free >= size ? null
            : new FileFailure(UrlTransferErrorCodes.NoSpace, $"the {size} bytes of args.size do not fit in the {free} bytes free beside {target}; nothing was downloaded");
    }
}
