using GuestAgent.Protocol;

namespace GuestAgent.Client;

/// <summary>
/// The URL transfers of <see cref="GuestClient"/>: the agent itself downloads a file from an
/// HTTP(S) URL into the guest (file.put with <c>url</c>), or uploads a guest file to one (file.get
/// with <c>upload_url</c>), e.g. an object store's temp URLs. Only the result travels through
/// the message transport, so file size is not bounded by message sizes. Every hop must be in the tenant's
/// <c>http-destinations</c>.
/// </summary>
public static class UrlTransferExtensions
{
    /// <summary>
    /// Has the agent download <see cref="FilePutUrlArgs.Url"/> to <see cref="FilePutUrlArgs.Path"/>
    /// and waits until the file is verified and in place. Unless <paramref name="options"/> says
    /// otherwise, the wait covers the command's own <c>timeout_s</c>.
    /// </summary>
    /// <exception cref="GuestRejectedException">The agent refused the command (e.g. file.put not allowed).</exception>
    /// <exception cref="GuestCallFailedException">The download failed; <c>Reply.Error.Code</c> says why (<c>checksum_mismatch</c>, <c>forbidden_destination</c> ...).</exception>
    /// <exception cref="GuestTimeoutException">No final reply within the wait.</exception>
    public static async Task<FileDownloadResult> PutFileFromUrlAsync(this GuestClient client, FilePutUrlArgs args,
        CallOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(args);
        return await CallForAsync<FileDownloadResult>(client, args, args.TimeoutSeconds, options, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Has the agent upload <see cref="FileGetArgs.Path"/> (from <see cref="FileGetArgs.Offset"/>)
    /// to <see cref="FileGetArgs.UploadUrl"/> and waits until the server took it.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="args"/> has no <see cref="FileGetArgs.UploadUrl"/>.</exception>
    /// <exception cref="GuestRejectedException">The agent refused the command.</exception>
    /// <exception cref="GuestCallFailedException">The upload failed; <c>Reply.Error.Code</c> says why (<c>upload_failed</c>, <c>not_found</c> ...).</exception>
    /// <exception cref="GuestTimeoutException">No final reply within the wait.</exception>
    public static async Task<FileUploadResult> GetFileToUrlAsync(this GuestClient client, FileGetArgs args,
        CallOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(args);
        if (args.UploadUrl is null)
        {
            throw new ArgumentException("An upload needs FileGetArgs.UploadUrl; without it the file comes back in replies.", nameof(args));
        }
        return await CallForAsync<FileUploadResult>(client, args, args.TimeoutSeconds ?? FileGetArgs.DefaultUploadTimeoutSeconds, options, ct)
            .ConfigureAwait(false);
    }

    private static async Task<T> CallForAsync<T>(GuestClient client, OpArgs args, double timeoutSeconds, CallOptions? options, CancellationToken ct)
        where T : class
    {
        options ??= new CallOptions();
        if (options.Timeout is null)
        {
            // A transfer may rightly take up to its own timeout_s: do not give up on it sooner.
            var run = TimeSpan.FromSeconds(timeoutSeconds) + client.Options.ExecTimeoutMargin;
            options = options with { Timeout = run > client.Options.DefaultCallTimeout ? run : client.Options.DefaultCallTimeout };
        }
        var result = (await client.CallAsync(args, options, ct).ConfigureAwait(false)).EnsureSucceeded();
        return result.ResultAs<T>()
               ?? throw new GuestProtocolException($"{result.Op} command {result.CommandId} succeeded without a result.", result.CommandId, result.Op);
    }
}
