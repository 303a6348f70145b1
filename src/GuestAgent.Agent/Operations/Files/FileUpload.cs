using System.Net;
using System.Security.Cryptography;
using GuestAgent.Agent.Operations.Http;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using Microsoft.Win32.SafeHandles;
using static GuestAgent.Agent.Operations.Files.UrlTransfer;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>
/// One run of one file.get with an <c>upload_url</c>: the file (from the
/// offset) is streamed as the body of one PUT or POST, with its Content-Length, and hashed on the
/// way. Only 307 and 308 redirects are followed (they keep method and body; the body is sent again
/// from the start), each hop checked against the tenant's http-destinations. The length is the
/// file's size when it was opened: a file that grows meanwhile is sent as it was, one that
/// shrinks fails the upload.
/// </summary>
public static class FileUpload
{
    public static Task<BlockOutcome> RunAsync(FileGetArgs args, UrlTransferOptions options, CancellationToken cancel) =>
        UrlTransfer.RunAsync(args.TimeoutSeconds ?? FileGetArgs.DefaultUploadTimeoutSeconds, options.Time,
            UrlTransferErrorCodes.UploadFailed, ct => TransferAsync(args, options, ct), cancel);

    private static async Task<BlockOutcome> TransferAsync(FileGetArgs args, UrlTransferOptions options, CancellationToken ct)
    {
        var started = options.Time.GetTimestamp();
        var check = options.Policy.Check(args.Path, FileAccessKind.Read);
        if (!check.IsOk)
        {
            return Failed(check.ErrorCode!, check.Message!);
        }
        using var file = File.OpenHandle(check.ResolvedPath!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous);
        var size = RandomAccess.GetLength(file);
        if (options.Policy.TooLarge(args.Path, size) is { } tooLarge)
        {
            return Failed(FileErrorCodes.TooLarge, tooLarge);
        }
        if (args.Offset > size)
        {
            return Failed(FileErrorCodes.InvalidOffset, $"offset {args.Offset} is past the end of {args.Path} ({size} bytes)");
        }
        // The result's SHA-256 is the whole file's: the bytes before the offset are hashed once, here.
        using var head = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await CopyRangeAsync(file, 0, args.Offset, head, null, ct).ConfigureAwait(false);

        FileRangeContent? body = null;
        var method = args.UploadMethod ?? FileGetArgs.DefaultUploadMethod;
        var request = new HopRequest(new HttpMethod(method), new Uri(args.UploadUrl!, UriKind.Absolute), args.UploadHeaders,
            () => body = new FileRangeContent(file, args.Offset, size - args.Offset, head), RedirectPolicy.KeepBody, HttpHops.Redact,
            // An expired temp URL or a wrong container is refused before gigabytes are pushed at it.
            ExpectContinue: true);
        using var client = HttpHops.CreateClient();
        using var sent = await HttpHops.SendAsync(client, request, options.AllowList, ct).ConfigureAwait(false);
        if (sent.Response is not { } response)
        {
            return NotSent(sent, UrlTransferErrorCodes.UploadFailed);
        }
        if (!response.IsSuccessStatusCode)
        {
            return Failed(UrlTransferErrorCodes.UploadFailed, await DescribeAnswerAsync(method, sent, ct).ConfigureAwait(false));
        }
        if (body?.Sha256 is not { } sha256)
        {
            // With Expect: 100-continue a server may answer before it took the body.
            return Failed(UrlTransferErrorCodes.UploadFailed,
                $"{method} {HttpHops.Redact(sent.Url)} answered {(int)response.StatusCode} before the body was sent; the upload did not happen");
        }
        return Succeeded(new FileUploadResult(args.Path, size, args.Offset, size - args.Offset, FilePolicy.ModeText(options.Platform.Files.ModeOf(file)), sha256,
            (int)response.StatusCode, HttpHops.Redact(sent.Url), sent.Redirects, (long)options.Time.GetElapsedTime(started).TotalMilliseconds,
            options.Attempt));
    }

    /// <summary>
    /// A range of an open file as a request body with a known length. Every hop gets a fresh one
    /// (a 307/308 sends the body again); each continues the hash of the bytes before the range, so
    /// the one that was sent last knows the whole file's SHA-256.
    /// </summary>
    private sealed class FileRangeContent(SafeFileHandle file, long start, long bytes, IncrementalHash head) : HttpContent
    {
        /// <summary>Set once the whole range was written to the request.</summary>
        public string? Sha256 { get; private set; }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            using var whole = head.Clone();
            await CopyRangeAsync(file, start, bytes, whole, stream, cancellationToken).ConfigureAwait(false);
            Sha256 = Convert.ToHexStringLower(whole.GetHashAndReset());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = bytes;
            return true;
        }
    }
}
