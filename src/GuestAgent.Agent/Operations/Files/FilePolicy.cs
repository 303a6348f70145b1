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
    public const int MaxSymlinks = 40;

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
            if (string.IsNullOrEmpty(root) || root[0] != '/' || root.Contains('\0'))
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
        if (path.Length == 0 || path[0] != '/')
        {
            return FilePathCheck.Refused(FileErrorCodes.ForbiddenPath, $"The path must be absolute; got '{path}'.");
        }

        var roots = ResolvedRoots();
        if (roots.Count == 0)
        {
            // Named by its config key, so that the operator knows what allows it.
            return FilePathCheck.Refused(FileErrorCodes.ForbiddenPath, _roots.Count == 0
                ? $"{path}: no file access is allowed: this tenant binding has no file-roots (the agent config's file-roots lists the directories files may be read and written in)."
                : $"{path}: no file access is allowed: none of this tenant binding's file-roots ({string.Join(", ", _roots)}) exists as a directory.");
        }

        var r = Resolve(path);
        if (r.Error is not null)
        {
            return FilePathCheck.Refused(FileErrorCodes.ForbiddenPath, $"{path}: {r.Error}");
        }
        // Outside paths are refused before anything else, so nothing is learnt about them.
        if (!roots.Any(root => IsInside(r.Path, root)))
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
    public static bool IsInside(string path, string root) =>
        root == "/" || path == root || (path.StartsWith(root, StringComparison.Ordinal) && path.Length > root.Length && path[root.Length] == '/');

    private List<string> ResolvedRoots()
    {
        var roots = new List<string>();
        foreach (var root in _roots)
        {
            var r = Resolve(root);
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

    /// <summary>
    /// A path with every symlink resolved, as the kernel would walk it ("..", after a symlink, goes
    /// up from the link's target). When a component does not exist, the rest is applied lexically
    /// and <see cref="Resolution.Missing"/> is set; the path is then still good for the inside-a-root test.
    /// </summary>
    private Resolution Resolve(string path)
    {
        var pending = new Stack<string>(Split(path).Reverse());
        var resolved = "/";
        var type = FileType.Directory;
        var links = 0;
        while (pending.Count > 0)
        {
            var component = pending.Pop();
            if (component == ".")
            {
                continue;
            }
            if (component == "..")
            {
                resolved = Parent(resolved);
                type = FileType.Directory;
                continue;
            }
            var next = Join(resolved, component);
            var entry = _files.LinkStat(next);
            if (entry.Lookup is PathLookup.NoEntry or PathLookup.NotADirectory)
            {
                return MissingFrom(next, pending, leaf: pending.All(c => c == "."));
            }
            if (!entry.Exists)
            {
                return new Resolution(next, FileType.Other, false, false, $"{next} cannot be examined (errno {entry.Error}).");
            }
            var nextType = entry.Type;
            if (nextType == FileType.Symlink)
            {
                if (++links > MaxSymlinks)
                {
                    return new Resolution(next, FileType.Other, false, false, $"more than {MaxSymlinks} symbolic links.");
                }
                var target = new FileInfo(next).LinkTarget;
                if (string.IsNullOrEmpty(target))
                {
                    return new Resolution(next, FileType.Other, false, false, $"the symbolic link {next} cannot be read.");
                }
                if (target[0] == '/')
                {
                    resolved = "/";
                }
                foreach (var c in Split(target).Reverse())
                {
                    pending.Push(c);
                }
                continue;
            }
            if (nextType != FileType.Directory && pending.Any(c => c != "."))
            {
                // A file used as a directory: the kernel says ENOTDIR.
                return MissingFrom(next, pending, leaf: false);
            }
            resolved = next;
            type = nextType;
        }
        return new Resolution(resolved, type, false, false, null);
    }

    /// <summary>A path that stops existing at <paramref name="missing"/>: the rest applied lexically, for the inside-a-root test.</summary>
    private static Resolution MissingFrom(string missing, IEnumerable<string> rest, bool leaf)
    {
        foreach (var c in rest)
        {
            missing = c switch { "." => missing, ".." => Parent(missing), _ => Join(missing, c) };
        }
        return new Resolution(missing, FileType.Other, Missing: true, MissingIsLeaf: leaf, Error: null);
    }

    private static IEnumerable<string> Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    private static string Join(string dir, string name) => dir == "/" ? "/" + name : dir + "/" + name;

    private static string Parent(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    private sealed record Resolution(string Path, FileType Type, bool Missing, bool MissingIsLeaf, string? Error);
}
