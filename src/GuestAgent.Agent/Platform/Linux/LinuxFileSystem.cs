using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace GuestAgent.Agent.Platform.Linux;

/// <summary>Unix permission bits, owners by uid and gid, realpath(3), statx(2) and fsync(2) of directories.</summary>
[SupportedOSPlatform("linux")]
public sealed class LinuxFileSystem : IFileSystem
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public string? RealPath(string path) => Native.RealPath(path);

    public PathEntry LinkStat(string path)
    {
        var errno = Native.Lstat(path, out var type);
        return errno switch
        {
            0 => new PathEntry(PathLookup.Found, type, 0),
            Native.ENOENT => new PathEntry(PathLookup.NoEntry, type, errno),
            Native.ENOTDIR => new PathEntry(PathLookup.NotADirectory, type, errno),
            _ => new PathEntry(PathLookup.Failed, type, errno),
        };
    }

    public UnixFileMode ModeOf(string path) => File.GetUnixFileMode(path);

    public UnixFileMode ModeOf(SafeFileHandle file) => File.GetUnixFileMode(file);

    public void SetMode(string path, UnixFileMode mode) => File.SetUnixFileMode(path, mode);

    public int SetOwner(string path, uint uid, uint gid) => Native.Lchown(path, uid, gid);

    public FileStream OpenOwnerOnly(string path, FileStreamOptions options) => new(path, new FileStreamOptions
    {
        Mode = options.Mode,
        Access = options.Access,
        Share = options.Share,
        Options = options.Options,
        BufferSize = options.BufferSize,
        PreallocationSize = options.PreallocationSize,
        UnixCreateMode = OwnerOnly,
    });

    public string? AbsolutePathRefusal(string path) => LinuxPathWalk.AbsolutePathRefusal(path);

    public PathResolution ResolvePath(string path) => LinuxPathWalk.Resolve(this, path);

    public bool IsInside(string path, string root) => LinuxPathWalk.IsInside(path, root);

    public int FsyncDirectory(string path) => Native.FsyncDirectory(path);
}
