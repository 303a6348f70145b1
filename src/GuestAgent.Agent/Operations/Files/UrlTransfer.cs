using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Operations.Http;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using Microsoft.Win32.SafeHandles;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>
/// Error codes of the URL transfers (file.put with <c>url</c>, file.get with <c>upload_url</c>),
/// besides those of <see cref="FileErrorCodes"/>. Stable wire values: never rename one.
/// </summary>
public static class UrlTransferErrorCodes
{
    /// <summary>A hop's host:port is not in the tenant's http-destinations; nothing was sent to it (as for the http op).</summary>
    public const string ForbiddenDestination = HttpBlock.ForbiddenDestination;

    /// <summary>The file could not be fetched: a non-2xx answer, a connection, TLS or redirect error.</summary>
    public const string DownloadFailed = "download_failed";

    /// <summary>The file could not be sent: a non-2xx answer, a connection, TLS or redirect error.</summary>
    public const string UploadFailed = "upload_failed";

    /// <summary>The body was longer or shorter than the announced <c>size</c>.</summary>
    public const string SizeMismatch = "size_mismatch";

    /// <summary>The target's file system has less free space than the file needs.</summary>
    public const string NoSpace = "no_space";

    /// <summary>Reading or writing a local file failed.</summary>
    public const string IoError = "io_error";
}

/// <summary>What a URL transfer needs besides its arguments.</summary>
/// <param name="Policy">The tenant's file roots.</param>
/// <param name="Platform">The guest's accounts and file system (owners, modes, the temp file).</param>
/// <param name="AllowList">The tenant's http-destinations: every hop must be one of them.</param>
public sealed record UrlTransferOptions(Guid CommandId, int Attempt, FilePolicy Policy, GuestPlatform Platform,
    IReadOnlyList<HttpDestination> AllowList, TimeProvider Time);

/// <summary>
/// What the download (<see cref="FilePutUrl"/>) and the upload
/// (<see cref="FileUpload"/>) share: how a run ends and is reported, the timeout, and
/// reading a file range while hashing it.
/// </summary>
public static class UrlTransfer
{
    /// <summary>Bytes read or written at a time.</summary>
    public const int BufferBytes = 128 * 1024;

    /// <summary>Most characters of an error answer's body quoted in <c>error.message</c>.</summary>
    private const int SnippetChars = 200;

    public static BlockOutcome Failed(string code, string message) => BlockOutcome.Failed(code, message);

    public static BlockOutcome Failed(FileFailure failure) => Failed(failure.Code, failure.Message);

    /// <summary>A transfer whose request got no answer: refused by the allow-list, or failed with <paramref name="code"/>.</summary>
    public static BlockOutcome NotSent(HopResult sent, string code) =>
        Failed(sent.Refusal == HopRefusal.ForbiddenDestination ? UrlTransferErrorCodes.ForbiddenDestination : code, sent.Error!);

    public static BlockOutcome Succeeded<T>(T result) => BlockOutcome.Succeeded(result);

    /// <summary>
    /// Runs <paramref name="transfer"/> within <paramref name="timeoutSeconds"/> and maps the ends
    /// that are the same in both directions: the timeout, a cancel, a network failure (as
    /// <paramref name="networkCode"/>) and a local I/O failure. The transfer cleans up after itself
    /// (temp files) in every case.
    /// </summary>
    public static async Task<BlockOutcome> RunAsync(double timeoutSeconds, TimeProvider time, string networkCode,
        Func<CancellationToken, Task<BlockOutcome>> transfer, CancellationToken cancel)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, timeout.Token);
        try
        {
            return await transfer(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            return cancel.IsCancellationRequested
                ? BlockOutcome.Cancelled()
                : BlockOutcome.TimedOut($"the transfer did not finish within {timeoutSeconds} s");
        }
        catch (HttpRequestException e)
        {
            return Failed(networkCode, HttpHops.Describe(e));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Failed(UrlTransferErrorCodes.IoError, HttpHops.Describe(e));
        }
    }

    /// <summary>
    /// "PUT http://host/path answered 403 Forbidden: &lt;start of the body&gt;": what an operator
    /// needs to see why an object store refused (an expired temp URL, a wrong container).
    /// </summary>
    public static async Task<string> DescribeAnswerAsync(string method, HopResult sent, CancellationToken ct)
    {
        var response = sent.Response!;
        var text = $"{method} {HttpHops.Redact(sent.Url)} answered {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();
        var buffer = new byte[SnippetChars * 4];
        var read = 0;
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            for (int n; read < buffer.Length && (n = await body.ReadAsync(buffer.AsMemory(read), ct).ConfigureAwait(false)) > 0;)
            {
                read += n;
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // The status says enough; the body was only a courtesy.
        }
        var snippet = new string(Encoding.UTF8.GetString(buffer, 0, read).Select(c => char.IsControl(c) ? ' ' : c).ToArray()).Trim();
        return snippet.Length == 0 ? text : $"{text}: {snippet[..Math.Min(snippet.Length, SnippetChars)]}";
    }

    /// <summary>
    /// Reads <paramref name="length"/> bytes of <paramref name="file"/> from <paramref name="offset"/>
    /// into <paramref name="hash"/>, and into <paramref name="destination"/> when there is one. A
    /// file that ends early has shrunk since it was measured: that is an error, never a short body.
    /// </summary>
    public static async Task CopyRangeAsync(SafeFileHandle file, long offset, long length, IncrementalHash hash, Stream? destination, CancellationToken ct)
    {
        var buffer = new byte[BufferBytes];
        for (long done = 0; done < length;)
        {
            var n = await RandomAccess.ReadAsync(file, buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - done)), offset + done, ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException($"the file shrank while it was read: it ended at {offset + done} bytes, {offset + length} were expected");
            }
            hash.AppendData(buffer, 0, n);
            if (destination is not null)
            {
                await destination.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            }
            done += n;
        }
    }
}
