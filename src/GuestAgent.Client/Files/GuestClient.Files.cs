using GuestAgent.Client.Files;
using GuestAgent.Protocol;

namespace GuestAgent.Client;

/// <summary>File transfers: file.put in chunks (resumable) and file.get (resumable from an offset).</summary>
public sealed partial class GuestClient
{
    /// <summary>
    /// Writes <paramref name="source"/>, from its position to its end, to <paramref name="guestPath"/>
    /// in the guest. The source is hashed first (unless <see cref="FilePutOptions.Sha256"/> is given),
    /// then sent in chunk commands (file.put calls), several at a time; the agent puts the file in place
    /// with one rename once it holds every chunk and their SHA-256 is right, so nobody sees a half-written
    /// file. Chunks whose answer does not come or says <c>interrupted</c> are sent again. With
    /// <see cref="FilePutOptions.TransferId"/> an earlier transfer is resumed: only the chunks the agent
    /// does not hold are sent.
    /// </summary>
    /// <param name="source">A seekable, readable stream; read from several chunks at once (one at a time), not disposed.</param>
    /// <returns>The file in place, as the agent confirmed it (size and SHA-256 checked against what was sent).</returns>
    /// <exception cref="FileTransferException">
    /// The agent refused or failed a chunk (<see cref="FileTransferException.Code"/>: <c>exists</c>,
    /// <c>forbidden_path</c>, <c>not_found</c>, <c>checksum_mismatch</c>, ...; or <c>forbidden</c> when it does
    /// not do file.put), a chunk went unanswered after <see cref="FilePutOptions.MaxAttempts"/> sends, or the
    /// file in place is not what was sent. Nothing more is sent after it.
    /// </exception>
    /// <exception cref="ArgumentException">A path or option the agent would refuse, or a source that cannot seek.</exception>
    public async Task<FilePutOutcome> PutFileAsync(Stream source, string guestPath, FilePutOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.CanRead || !source.CanSeek)
        {
            throw new ArgumentException("The source must be a readable, seekable stream (chunks are read by position).", nameof(source));
        }
        FileArgsCheck.GuestPath(guestPath, nameof(guestPath));
        options ??= new FilePutOptions();
        FileArgsCheck.Put(options);
        return await new FilePutTransfer(this, source, guestPath, options).RunAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Writes the local file <paramref name="localPath"/> to <paramref name="guestPath"/> in the guest; see <see cref="PutFileAsync(Stream, string, FilePutOptions?, CancellationToken)"/>.</summary>
    public async Task<FilePutOutcome> PutFileAsync(string localPath, string guestPath, FilePutOptions? options = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(localPath);
        FileArgsCheck.GuestPath(guestPath, nameof(guestPath));
        var source = new FileStream(localPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        await using (source.ConfigureAwait(false))
        {
            return await PutFileAsync(source, guestPath, options, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads <paramref name="guestPath"/> from the guest and writes it to <paramref name="destination"/>
    /// (at its position; at its end when resuming). The bytes are checked against their stream's
    /// length and SHA-256, and the whole file's SHA-256 against the bytes held before (when resuming)
    /// plus the new ones, before anything is written. A read the agent answers <c>interrupted</c> is
    /// made again.
    /// </summary>
    /// <remarks>
    /// The bytes of one read are held in memory until they verify (the reply chunks are), so a file
    /// must fit in memory, and in one array (2 GiB).
    /// </remarks>
    /// <exception cref="FileTransferException">
    /// The agent failed the read (<see cref="FileTransferException.Code"/>: <c>not_found</c>,
    /// <c>forbidden_path</c>, <c>is_directory</c>, <c>invalid_offset</c> ...), the bytes did not verify
    /// (<c>verification_failed</c>, or <c>resume_mismatch</c> when the bytes held before do not belong to the
    /// file), or no reply came for <see cref="FileGetOptions.IdleTimeout"/> (<c>timed_out</c>).
    /// </exception>
    public async Task<FileGetOutcome> GetFileAsync(string guestPath, Stream destination, FileGetOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        FileArgsCheck.GuestPath(guestPath, nameof(guestPath));
        options ??= new FileGetOptions();
        FileArgsCheck.Get(options);
        return await FileGetTransfer.Into(this, guestPath, destination, options).RunAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads <paramref name="guestPath"/> from the guest into the local file <paramref name="localPath"/>:
    /// the verified bytes go to <c>localPath.part</c>, which is renamed to <paramref name="localPath"/>
    /// once the whole file's SHA-256 checked out, so <paramref name="localPath"/> never holds a partial or
    /// wrong file. With <see cref="FileGetOptions.Resume"/>, an existing <c>.part</c> (a partial copy) is
    /// continued: file.get from its length, the new bytes appended once the hash over both checked out.
    /// If it turns out not to belong to the guest file (longer than it, or the hash is wrong: the file
    /// changed), the file is read again from the start, once.
    /// </summary>
    /// <remarks>
    /// A read's bytes are written only once all of them have arrived and verified, so a read that is
    /// interrupted leaves no <c>.part</c> behind (nor adds to one): file.get puts the first bytes of a read
    /// in its final reply, after every chunk, so the bytes of an unfinished read cannot be kept in order.
    /// </remarks>
    /// <exception cref="FileTransferException">
    /// As for the stream overload, and <c>exists</c> / <c>is_directory</c> for a local path that is a file
    /// (without <see cref="FileGetOptions.Overwrite"/>) or a directory.
    /// </exception>
    public async Task<FileGetOutcome> GetFileAsync(string guestPath, string localPath, FileGetOptions? options = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(localPath);
        FileArgsCheck.GuestPath(guestPath, nameof(guestPath));
        options ??= new FileGetOptions();
        FileArgsCheck.Get(options);
        var target = Path.GetFullPath(localPath);
        if (Directory.Exists(target))
        {
            throw new FileTransferException(Ops.FileGet, FileErrorCodes.IsDirectory, $"the local path {target} is a directory.", guestPath);
        }
        if (File.Exists(target) && !options.Overwrite)
        {
            throw new FileTransferException(Ops.FileGet, FileErrorCodes.Exists,
                $"the local file {target} exists and overwriting it was not asked for.", guestPath);
        }
        var part = target + ".part";
        var resume = options.Resume && File.Exists(part);
        var restarted = false;
        while (true)
        {
            FileGetOutcome outcome;
            try
            {
                outcome = resume
                    ? await ContinuePartAsync(guestPath, part, options, ct).ConfigureAwait(false)
                    : await new FileGetTransfer(this, guestPath, held: null, (data, token) => WritePartAsync(part, data, token), options)
                        .RunAsync(ct).ConfigureAwait(false);
            }
            catch (FileTransferException e) when (resume && e.Code is FileTransferErrors.ResumeMismatch or FileErrorCodes.InvalidOffset)
            {
                // The partial copy is not of this file (any more): start over rather than fail for good.
                resume = false;
                restarted = true;
                continue;
            }
            File.Move(part, target, overwrite: options.Overwrite);
            return outcome with { LocalPath = target, Restarted = restarted };
        }
    }

    /// <summary>Reads the rest of the file after what <paramref name="part"/> holds, appending it there once it verified.</summary>
    private async Task<FileGetOutcome> ContinuePartAsync(string guestPath, string part, FileGetOptions options, CancellationToken ct)
    {
        var stream = new FileStream(part, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            return await FileGetTransfer.Into(this, guestPath, stream, options with { Resume = true }).RunAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes a whole file's verified bytes to <paramref name="part"/>. Created only now, so a read that
    /// fails or is interrupted leaves no empty or partial file behind.
    /// </summary>
    private static async Task WritePartAsync(string part, byte[] data, CancellationToken ct)
    {
        var stream = new FileStream(part, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(data, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
    }
}
