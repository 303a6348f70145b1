using GuestAgent.Agent.Platform;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Operations.Files;

/// <summary>What a file op wants to do with a path.</summary>
public enum FileAccessKind
{
    /// <summary>Read an existing regular file.</summary>
    Read,

    /// <summary>Create or replace a regular file in an existing directory.</summary>
    Write,
}

/// <summary>The verdict on a path: the real path to use, or why not.</summary>
/// <param name="ResolvedPath">The path with every symlink resolved; what the caller must open. Null when refused.</param>
/// <param name="ErrorCode">One of <see cref="FileErrorCodes"/> when refused.</param>
/// <param name="Message">Why it was refused, for <c>error.message</c>.</param>
public sealed record FilePathCheck(string? ResolvedPath, string? ErrorCode, string? Message)
{
    public bool IsOk => ErrorCode is null;

    public static FilePathCheck Ok(string resolvedPath) => new(resolvedPath, null, null);

    public static FilePathCheck Refused(string code, string message) => new(null, code, message);
}

/// <summary>
/// Decides which paths the file ops may touch: only regular files inside one of the allowed roots,
/// judged after resolving every symlink (so a link inside a root that points outside is refused)
/// and by whole path components (so /data2 is not inside /data). No roots means nothing is allowed.
/// The check is a snapshot: the caller must open <see cref="FilePathCheck.ResolvedPath"/> (not the
/// path it was given), and guard against the tree changing afterwards (e.g. O_NOFOLLOW).
/// </summary>
public sealed class FilePolicy
{
    /// <summary>Symlinks followed at most while resolving one path, as Linux's own limit (ELOOP).</summary>
    public const int MaxSymlinks = PathResolution.MaxLinks;

    private readonly IReadOnlyList<string> _roots;
    private readonly IFileSystem _files;

    /// <summary>Largest file the file ops may read or write for this tenant (max-file-bytes).</summary>
    public long MaxFileBytes { get; init; } = long.MaxValue;

    /// <summary>A <see cref="FileErrorCodes.TooLarge"/> message when <paramref name="size"/> exceeds <see cref="MaxFileBytes"/>.</summary>
    public string? TooLarge(string path, long size) =>
        size > MaxFileBytes ? $"{path} has {size} bytes; this tenant's max-file-bytes is {MaxFileBytes}" : null;

    /// <param name="allowedRoots">Absolute directories; resolved (symlinks followed) on every check, so a root may appear later.</param>
    /// <param name="files">The guest's file system, which tells what each path component is.</param>
    public FilePolicy(IReadOnlyList<string> allowedRoots, IFileSystem files)
    {
        ArgumentNullException.ThrowIfNull(allowedRoots);
        ArgumentNullException.ThrowIfNull(files);
        foreach (var root in allowedRoots)
        {
            if (string.IsNullOrEmpty(root) || files.AbsolutePathRefusal(root) is not null || root.Contains('\0'))
            {
                throw new ArgumentException($"Allowed roots must be absolute paths; got '{root}'.", nameof(allowedRoots));
            }
        }
        _roots = [.. allowedRoots];
        _files = files;
    }

    public IReadOnlyList<string> AllowedRoots => _roots;

    public FilePathCheck Check(string path, FileAccessKind kind)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Contains('\0'))
        {
            return FilePathCheck.Refused(FileErrorCodes.ForbiddenPath, "The path contains a NUL character.");
        }
        if (_files.AbsolutePathRefusal(path) is { } refusal)
        {
            return FilePathCheck.Refused(FileErrorCodes.ForbiddenPath, refusal);
        }

        var roots = ResolvedRoots();
        if (roots.Count == 0)
        {
            // Named by its config key, so that the operator knows what allows it.
            return FilePathCheck.Refused(FileErrorCodes.ForbiddenPath, _roots.Count == 0
                ? $"{path}: no file access is allowed: this tenant binding has no file-roots (the agent config's file-roots lists the directories files may be read and written in)."
                : $"{path}: no file access is allowed: none of this tenant binding's file-roots ({string.Join(", ", _roots)}) exists as a directory.");
        }

        var r = _files.ResolvePath(path);
        if (r.Error is not null)
        {
            return FilePathCheck.Refused(FileErrorCodes.ForbiddenPath, $"{path}: {r.Error}");
        }
        // Outside paths are refused before anything else, so nothing is learnt about them.
        if (!roots.Any(root => _files.IsInside(r.Path, root)))
        {
            var shown = r.Path == path ? "" : $" (resolves to {r.Path})";
            return FilePathCheck.Refused(FileErrorCodes.ForbiddenPath,
                $"{path}{shown} is not inside an allowed root ({string.Join(", ", _roots)}).");
        }

        if (r.Missing)
        {
            return kind == FileAccessKind.Write && r.MissingIsLeaf
                ? FilePathCheck.Ok(r.Path)
                : FilePathCheck.Refused(FileErrorCodes.NotFound,
                    kind == FileAccessKind.Write ? $"{path}: the directory does not exist (file.put creates no directories)." : $"{path}: no such file.");
        }
        return r.Type switch
        {
            FileType.Regular => FilePathCheck.Ok(r.Path),
            FileType.Directory => FilePathCheck.Refused(FileErrorCodes.IsDirectory, $"{path} is a directory."),
            var other => FilePathCheck.Refused(FileErrorCodes.NotARegularFile, $"{path} is not a regular file (it is a {Describe(other)})."),
        };
    }

    /// <summary>
    /// Null when <paramref name="path"/> still may be written and still resolves to
    /// <paramref name="target"/>, as when a write began: checked again before a long-prepared file
    /// is put in place, since the tree may have changed meanwhile.
    /// </summary>
    public FileFailure? StillLeadsTo(string path, string target)
    {
        var now = Check(path, FileAccessKind.Write);
        return !now.IsOk ? new FileFailure(now.ErrorCode!, now.Message!)
            : now.ResolvedPath == target ? null
            : new FileFailure(FileErrorCodes.ForbiddenPath, $"{path} now resolves to {now.ResolvedPath}, not {target}; nothing was installed");
    }

    /// <summary>Permission bits as the protocol writes them ("0644").</summary>
    public static string ModeText(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0xFFF, 8).PadLeft(3, '0');

    /// <summary>Whether <paramref name="path"/> is <paramref name="root"/> or below it, by whole components. Both must be normalised.</summary>
    public static bool IsInside(string path, string root) => Platform.Linux.LinuxPathWalk.IsInside(path, root);

    private List<string> ResolvedRoots()
    {
        var roots = new List<string>();
        foreach (var root in _roots)
        {
            var r = _files.ResolvePath(root);
            if (r.Error is null && !r.Missing && r.Type == FileType.Directory)
            {
                roots.Add(r.Path);
            }
        }
        return roots;
    }

    private static string Describe(FileType type) => type switch
    {
        FileType.CharacterDevice => "character device",
        FileType.BlockDevice => "block device",
        FileType.Fifo => "FIFO",
        FileType.Socket => "socket",
        _ => "special file",
    };
}
