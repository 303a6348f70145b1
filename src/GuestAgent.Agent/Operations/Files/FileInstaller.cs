using GuestAgent.Protocol;
using System.Security.Cryptography;
using System.Text;
using GuestAgent.Agent.Platform;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>Why a file write failed: a <c>failed</c> reply's error code and message.</summary>
public sealed record FileFailure(string Code, string Message);

/// <summary>The ids a written file is given; <see cref="uint.MaxValue"/> leaves one as it is.</summary>
public sealed record Ownership(uint Uid, uint Gid);

/// <summary>
/// The shared end of every file write (queue chunks or a download): the bytes go to a temp file
/// beside the target (same directory, so the final rename is atomic and never crosses a file
/// system), and only a temp file whose size and SHA-256 match is given its mode and owner and
/// renamed over the target. A reader sees the old file or the new one, never a mix.
/// </summary>
public static class FileInstaller
{
    /// <summary>Mode of a new file when the command names none.</summary>
    public const UnixFileMode DefaultMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Longest part of the target's name kept in the temp file's name (file names are at most 255 bytes).</summary>
    private const int MaxNameBytesInPart = 150;

    /// <summary>
    /// The temp file of transfer <paramref name="key"/> for <paramref name="target"/>: hidden,
    /// beside it, named so an operator can tell what it is and which transfer owns it.
    /// </summary>
    public static string PartPathFor(string target, Guid key)
    {
        var dir = Path.GetDirectoryName(target) ?? "/";
        var name = Path.GetFileName(target);
        while (Encoding.UTF8.GetByteCount(name) > MaxNameBytesInPart)
        {
            name = name[..^1];
        }
        return Path.Combine(dir, $".{name}.{key:N}.guestagent-part");
    }

    /// <summary>The uid and gid a command asks for, or why they cannot be used. Null when it asks for neither.</summary>
    public static FileFailure? ResolveOwnership(IAccounts accounts, string? owner, string? group, out Ownership? ids)
    {
        ids = null;
        if (owner is null && group is null)
        {
            return null;
        }
        var uid = uint.MaxValue;
        var gid = uint.MaxValue;
        if (owner is not null)
        {
            var user = accounts.FindUser(owner);
            if (user is null)
            {
                return new FileFailure("unknown_owner", $"there is no user '{owner}' in the guest");
            }
            uid = user.Uid;
            gid = user.Gid;
        }
        if (group is not null)
        {
            gid = accounts.FindGroup(group) ?? uint.MaxValue;
            if (gid == uint.MaxValue)
            {
                return new FileFailure("unknown_group", $"there is no group '{group}' in the guest");
            }
        }
        ids = new Ownership(uid, gid);
        return null;
    }

    /// <summary>A temp file path is only ever a regular file the agent made: anything else there (a planted symlink) is refused.</summary>
    public static FileFailure? CheckPart(IFileSystem files, string partPath)
    {
        var entry = files.LinkStat(partPath);
        if (entry.Lookup == PathLookup.NoEntry || (entry.Exists && entry.Type == FileType.Regular))
        {
            return null;
        }
        return new FileFailure(FileErrorCodes.ForbiddenPath,
            entry.Exists ? $"{partPath} (the transfer's temp file) exists and is not a regular file" : $"{partPath} cannot be examined (errno {entry.Error})");
    }

    /// <summary>Opens the temp file for writing at any offset, creating it readable by the agent's user only until it is complete.</summary>
    public static FileStream OpenPart(IFileSystem files, string partPath) =>
        files.OpenOwnerOnly(partPath, new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite, BufferSize = 0 });

    /// <summary>Writes one chunk at its offset and forces it to disk, so a recorded chunk is a kept chunk.</summary>
    public static void WriteChunk(IFileSystem files, string partPath, long offset, ReadOnlySpan<byte> data)
    {
        using var part = OpenPart(files, partPath);
        RandomAccess.Write(part.SafeFileHandle, data, offset);
        part.Flush(flushToDisk: true);
    }

    /// <summary>Length and lower-case hex SHA-256 of a file.</summary>
    public static (long Length, string Sha256) Hash(string path, CancellationToken ct)
    {
        // Large synchronous reads (callers run on the thread pool already): small reads through an
        // async FileStream made hashing a 16 MiB file take seconds.
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 0, FileOptions.SequentialScan);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long length = 0;
        for (int n; (n = file.Read(buffer)) > 0;)
        {
            ct.ThrowIfCancellationRequested();
            hash.AppendData(buffer, 0, n);
            length += n;
        }
        return (length, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>
    /// Checks the complete temp file against <paramref name="size"/> and <paramref name="sha256"/>,
    /// then gives it its mode and owner and renames it over <paramref name="target"/>. On a
    /// mismatch the temp file is deleted (its bytes are wrong: the transfer starts again). When the
    /// temp file is gone but the target already holds exactly these bytes, an earlier attempt got
    /// as far as the rename: that is success.
    /// </summary>
    public static FileFailure? Install(IFileSystem files, string partPath, string target, long size, string sha256,
        UnixFileMode? mode, Ownership? owner, bool overwrite, CancellationToken ct)
    {
        if (!File.Exists(partPath))
        {
            if (File.Exists(target) && Hash(target, ct) == (size, sha256))
            {
                return null;
            }
            return new FileFailure("transfer_lost", $"the received data of this transfer ({partPath}) is gone; send the file again");
        }
        var (length, actual) = Hash(partPath, ct);
        if (length != size || actual != sha256)
        {
            TryDelete(partPath);
            return new FileFailure(FileErrorCodes.ChecksumMismatch, length != size
                ? $"the received data is {length} bytes, not the announced {size}; the chunks were discarded, send the file again"
                : $"the received data has SHA-256 {actual}, not the announced {sha256}; the chunks were discarded, send the file again");
        }

        var entry = files.LinkStat(target);
        var exists = entry.Exists;
        var existing = entry.Type;
        if (exists && existing == FileType.Directory)
        {
            return new FileFailure(FileErrorCodes.IsDirectory, $"{target} is a directory");
        }
        if (exists && existing != FileType.Regular)
        {
            return new FileFailure(FileErrorCodes.NotARegularFile, $"{target} is not a regular file; it is never replaced");
        }
        if (exists && !overwrite)
        {
            TryDelete(partPath);
            return new FileFailure(FileErrorCodes.Exists, $"{target} exists and overwrite is false");
        }
        if (owner is not null)
        {
            var rc = files.SetOwner(partPath, owner.Uid, owner.Gid);
            if (rc != 0)
            {
                return new FileFailure("chown_failed", $"cannot give {target} owner {owner.Uid}:{owner.Gid} (errno {rc}; the agent must run as root to set owners)");
            }
        }
        // chmod after chown: chown clears set-user-id bits.
        files.SetMode(partPath, mode ?? (exists ? files.ModeOf(target) : DefaultMode));
        try
        {
            // overwrite: false moves with link+unlink, which fails instead of replacing a file created meanwhile.
            File.Move(partPath, target, overwrite);
        }
        catch (IOException) when (!overwrite && File.Exists(target))
        {
            TryDelete(partPath);
            return new FileFailure(FileErrorCodes.Exists, $"{target} exists and overwrite is false");
        }
        files.FsyncDirectory(Path.GetDirectoryName(target) ?? "/");
        return null;
    }

    /// <summary>Deletes a file if it is there; a failure is not worth more than a retry later.</summary>
    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
