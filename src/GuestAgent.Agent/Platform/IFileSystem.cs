using Microsoft.Win32.SafeHandles;

namespace GuestAgent.Agent.Platform;

/// <summary>What the file ops need of the guest's file system beyond what .NET offers on every OS.</summary>
public interface IFileSystem
{
    /// <summary>The path with every symlink and ./.. resolved; null when it does not exist.</summary>
    string? RealPath(string path);

    /// <summary>What is at <paramref name="path"/> itself: a symlink there is not followed.</summary>
    PathEntry LinkStat(string path);

    /// <summary>The permission bits of a file.</summary>
    UnixFileMode ModeOf(string path);

    /// <summary>The permission bits of an open file.</summary>
    UnixFileMode ModeOf(SafeFileHandle file);

    /// <summary>Sets the permission bits of a file.</summary>
    void SetMode(string path, UnixFileMode mode);

    /// <summary>
    /// Gives <paramref name="path"/> itself (a symlink is not followed) user <paramref name="uid"/> and
    /// group <paramref name="gid"/>; <see cref="uint.MaxValue"/> leaves one as it is. Returns 0 or the OS error number.
    /// </summary>
    int SetOwner(string path, uint uid, uint gid);

    /// <summary>Opens <paramref name="path"/> with <paramref name="options"/>; a file it creates is readable and writable by the agent's user only.</summary>
    FileStream OpenOwnerOnly(string path, FileStreamOptions options);

    /// <summary>Null when <paramref name="path"/> is absolute in this OS's one accepted spelling; else why the file ops refuse it.</summary>
    string? AbsolutePathRefusal(string path);

    /// <summary>
    /// An accepted absolute path with every link resolved, as the OS would walk it; what does not
    /// exist is applied lexically (<see cref="PathResolution.Missing"/>), good still for <see cref="IsInside"/>.
    /// </summary>
    PathResolution ResolvePath(string path);

    /// <summary>Whether resolved <paramref name="path"/> is resolved <paramref name="root"/> or below it, by whole components, as this OS compares names.</summary>
    bool IsInside(string path, string root);

    /// <summary>Forces a directory's entries to disk, so a rename in it survives a power cut. Returns 0 or the OS error number.</summary>
    int FsyncDirectory(string path);
}

/// <summary>What <see cref="IFileSystem.LinkStat"/> found: an entry and its type, or why there is none.</summary>
/// <param name="Error">The OS error number when <see cref="Lookup"/> is not <see cref="PathLookup.Found"/>, for messages.</param>
public readonly record struct PathEntry(PathLookup Lookup, FileType Type, int Error)
{
    public bool Exists => Lookup == PathLookup.Found;
}

/// <summary>What resolving a path found: the path with every link resolved, what is there, or why it cannot be resolved.</summary>
/// <param name="Missing">A component does not exist; the rest was applied lexically.</param>
/// <param name="MissingIsLeaf">Only the last component is missing (a file that may be created).</param>
/// <param name="Error">Why the path cannot be resolved (too many links, an unreadable one); null when it could.</param>
public sealed record PathResolution(string Path, FileType Type, bool Missing, bool MissingIsLeaf, string? Error)
{
    /// <summary>Links followed at most while resolving one path, as Linux's own limit (ELOOP).</summary>
    public const int MaxLinks = 40;
}

/// <summary>How looking at a path went.</summary>
public enum PathLookup
{
    Found,

    /// <summary>Nothing of that name.</summary>
    NoEntry,

    /// <summary>A component on the way is not a directory.</summary>
    NotADirectory,

    /// <summary>Any other error (permissions, I/O).</summary>
    Failed,
}

/// <summary>The file types the file ops tell apart.</summary>
public enum FileType
{
    Regular,
    Directory,
    Symlink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
    Other,
}
