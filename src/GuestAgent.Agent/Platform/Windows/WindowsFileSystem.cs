using System.Runtime.Versioning;
using System.Security.AccessControl;
using System.Security.Principal;
using Microsoft.Win32.SafeHandles;

namespace GuestAgent.Agent.Platform.Windows;

/// <summary>
/// NTFS as the file ops see it. Paths: <see cref="WindowsPathRules"/> first (one accepted spelling),
/// then every reparse point (symlink, junction) on the way followed to its target, which must be
/// an accepted path too, then the file system's own final name of what exists (what the walk cannot
/// see: a mount point, a symlink of the host under Wine). Modes: Windows has a read-only attribute
/// and ACLs, not permission bits; a mode without the owner's write bit is read-only, one without any
/// group or other bit is an owner-only ACL, and files read back as 0444 or 0644 (0700 or 0755
/// for directories). Owners: the agent's own account only. Owner-only files: a protected ACL for
/// the agent's account, Administrators and SYSTEM.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed class WindowsFileSystem : IFileSystem
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public string? RealPath(string path) => WindowsNative.FinalPath(path);

    public PathEntry LinkStat(string path)
    {
        try
        {
            // GetFileAttributes describes a reparse point itself, not its target.
            var attributes = File.GetAttributes(path);
            var type = (attributes & FileAttributes.ReparsePoint) != 0 ? FileType.Symlink
                : (attributes & FileAttributes.Directory) != 0 ? FileType.Directory
                : (attributes & FileAttributes.Device) != 0 ? FileType.CharacterDevice
                : FileType.Regular;
            return new PathEntry(PathLookup.Found, type, 0);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new PathEntry(PathLookup.NoEntry, FileType.Other, e.HResult & 0xFFFF);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return new PathEntry(PathLookup.Failed, FileType.Other, e.HResult & 0xFFFF);
        }
    }

    public UnixFileMode ModeOf(string path) => ModeOf(File.GetAttributes(path));

    public UnixFileMode ModeOf(SafeFileHandle file) => ModeOf(File.GetAttributes(file));

    private static UnixFileMode ModeOf(FileAttributes attributes)
    {
        const UnixFileMode all = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        var mode = (attributes & FileAttributes.ReadOnly) != 0 ? all : all | UnixFileMode.UserWrite;
        return (attributes & FileAttributes.Directory) != 0
            ? mode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute
            : mode;
    }

    public void SetMode(string path, UnixFileMode mode)
    {
        var attributes = File.GetAttributes(path);
        var isDirectory = (attributes & FileAttributes.Directory) != 0;
        if (!isDirectory)
        {
            File.SetAttributes(path, (mode & UnixFileMode.UserWrite) != 0 ? attributes & ~FileAttributes.ReadOnly : attributes | FileAttributes.ReadOnly);
        }
        if ((mode & GroupOrOther) == 0)
        {
            if (isDirectory)
            {
                new DirectoryInfo(path).SetAccessControl(OwnerOnlyDirectory());
            }
            else
            {
                new FileInfo(path).SetAccessControl(OwnerOnlyFile());
            }
        }
    }

    /// <summary>Files are the agent's own account's: only that owner (or leaving both as they are) can be set.</summary>
    public int SetOwner(string path, uint uid, uint gid) =>
        uid is WindowsAccounts.AgentAccountId or uint.MaxValue && gid is WindowsAccounts.AgentAccountId or uint.MaxValue ? 0 : 1; // 1: EPERM

    /// <summary>A file it creates gets its owner-only ACL in the same call (no moment with inherited access).</summary>
    public FileStream OpenOwnerOnly(string path, FileStreamOptions options)
    {
        if (File.Exists(path) || options.Mode is FileMode.Open or FileMode.Truncate)
        {
            return new FileStream(path, options);
        }
        var rights = options.Access switch
        {
            FileAccess.Read => FileSystemRights.Read,
            FileAccess.Write => FileSystemRights.Write,
            _ => FileSystemRights.Read | FileSystemRights.Write,
        };
        // bufferSize 0 (unbuffered) is not taken here; 1 is the same.
        return new FileInfo(path).Create(options.Mode, rights, options.Share, Math.Max(options.BufferSize, 1), options.Options, OwnerOnlyFile());
    }

    /// <summary>NTFS journals its directory entries: a completed rename survives a power cut without a flush of the directory.</summary>
    public int FsyncDirectory(string path) => 0;

    public string? AbsolutePathRefusal(string path) => WindowsPathRules.Normalize(path).Refusal;

    public bool IsInside(string path, string root) => WindowsPathRules.IsInside(path, root);

    public PathResolution ResolvePath(string path)
    {
        var normal = WindowsPathRules.Normalize(path);
        if (normal.Normalized is not { } start)
        {
            return Failed(path, normal.Refusal!);
        }
        var pending = new Stack<string>(Components(start).Reverse());
        var resolved = start[..3];
        var type = FileType.Directory;
        var links = 0;
        while (pending.Count > 0)
        {
            var next = Path.Join(resolved, pending.Pop());
            var entry = LinkStat(next);
            if (entry.Lookup is PathLookup.NoEntry or PathLookup.NotADirectory)
            {
                return MissingFrom(FinalOf(resolved), next[(resolved.TrimEnd('\\').Length + 1)..], pending, leaf: pending.Count == 0);
            }
            if (!entry.Exists)
            {
                return Failed(next, $"{next} cannot be examined (error {entry.Error}).");
            }
            if (entry.Type == FileType.Symlink)
            {
                if (++links > PathResolution.MaxLinks)
                {
                    return Failed(next, $"more than {PathResolution.MaxLinks} links.");
                }
                var target = LinkTargetOf(next);
                var targetPath = target is null ? null : WindowsPathRules.Normalize(Path.GetFullPath(target, resolved));
                if (targetPath?.Normalized is not { } full)
                {
                    return Failed(next, target is null
                        ? $"{next} is a reparse point that is no link the agent can follow."
                        : $"{next} links to '{target}', which is refused: {targetPath!.Refusal}");
                }
                foreach (var c in Components(full).Reverse())
                {
                    pending.Push(c);
                }
                resolved = full[..3];
                type = FileType.Directory;
                continue;
            }
            if (entry.Type != FileType.Directory && pending.Count > 0)
            {
                return MissingFrom(resolved, next[(resolved.TrimEnd('\\').Length + 1)..], pending, leaf: false);
            }
            resolved = next;
            type = entry.Type;
        }
        return FinalOf(resolved) is var final && WindowsPathRules.Normalize(final) is { Normalized: { } ok }
            ? new PathResolution(ok, type, false, false, null)
            : Failed(resolved, $"{resolved} is {final} to the file system, which is refused.");
    }

    /// <summary>The file system's own name for <paramref name="path"/> (links and mount points resolved), or the path itself when it cannot say.</summary>
    private static string FinalOf(string path) => WindowsNative.FinalPath(path) ?? path;

    private static PathResolution MissingFrom(string existing, string missing, IEnumerable<string> rest, bool leaf) =>
        new(Path.Join(existing, Path.Join([missing, .. rest])), FileType.Other, Missing: true, MissingIsLeaf: leaf, Error: null);

    private static PathResolution Failed(string path, string why) => new(path, FileType.Other, false, false, why);

    private static string[] Components(string normalized) => normalized[3..].Split('\\', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>A symlink's or junction's target, without the NT prefix a junction stores (\??\C:\...).</summary>
    private static string? LinkTargetOf(string path)
    {
        string? target;
        try
        {
            target = new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        return target switch
        {
            null => null,
            _ when target.StartsWith(@"\??\", StringComparison.Ordinal) => target[4..],
            _ => target,
        };
    }

    private static FileSecurity OwnerOnlyFile()
    {
        var security = new FileSecurity();
        security.SetAccessRuleProtection(isProtected: true, preserveInheritance: false);
        foreach (var sid in OwnerOnlySids())
        {
            security.AddAccessRule(new FileSystemAccessRule(sid, FileSystemRights.FullControl, AccessControlType.Allow));
        }
        return security;
    }

    private static DirectorySecurity OwnerOnlyDirectory()
    {
        var security = new DirectorySecurity();
        security.SetAccessRuleProtection(isProtected: true, preserveInheritance: false);
        foreach (var sid in OwnerOnlySids())
        {
            security.AddAccessRule(new FileSystemAccessRule(sid, FileSystemRights.FullControl,
                InheritanceFlags.ContainerInherit | InheritanceFlags.ObjectInherit, PropagationFlags.None, AccessControlType.Allow));
        }
        return security;
    }

    /// <summary>The agent's account, Administrators and SYSTEM: who may read keys, the journal and spooled output.</summary>
    private static IEnumerable<SecurityIdentifier> OwnerOnlySids()
    {
        using var self = WindowsIdentity.GetCurrent();
        return
        [
            self.User!,
            new SecurityIdentifier(WellKnownSidType.BuiltinAdministratorsSid, null),
            new SecurityIdentifier(WellKnownSidType.LocalSystemSid, null),
        ];
    }
}
