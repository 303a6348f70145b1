namespace GuestAgent.Agent.Platform.Linux;

/// <summary>How the file ops' path policy reads POSIX paths: absolute from '/', resolved as the kernel walks them.</summary>
internal static class LinuxPathWalk
{
    /// <summary>Null for an absolute path; else why it is refused.</summary>
    public static string? AbsolutePathRefusal(string path) =>
        path.Length == 0 || path[0] != '/' ? $"The path must be absolute; got '{path}'." : null;

    /// <summary>Whether <paramref name="path"/> is <paramref name="root"/> or below it, by whole components. Both must be normalised.</summary>
    public static bool IsInside(string path, string root) =>
        root == "/" || path == root || (path.StartsWith(root, StringComparison.Ordinal) && path.Length > root.Length && path[root.Length] == '/');

    /// <summary>
    /// A path with every symlink resolved, as the kernel would walk it ("..", after a symlink, goes
    /// up from the link's target). When a component does not exist, the rest is applied lexically
    /// and <see cref="PathResolution.Missing"/> is set; the path is then still good for the inside-a-root test.
    /// </summary>
    public static PathResolution Resolve(IFileSystem files, string path)
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
            var entry = files.LinkStat(next);
            if (entry.Lookup is PathLookup.NoEntry or PathLookup.NotADirectory)
            {
                return MissingFrom(next, pending, leaf: pending.All(c => c == "."));
            }
            if (!entry.Exists)
            {
                return new PathResolution(next, FileType.Other, false, false, $"{next} cannot be examined (errno {entry.Error}).");
            }
            var nextType = entry.Type;
            if (nextType == FileType.Symlink)
            {
                if (++links > PathResolution.MaxLinks)
                {
                    return new PathResolution(next, FileType.Other, false, false, $"more than {PathResolution.MaxLinks} symbolic links.");
                }
                var target = new FileInfo(next).LinkTarget;
                if (string.IsNullOrEmpty(target))
                {
                    return new PathResolution(next, FileType.Other, false, false, $"the symbolic link {next} cannot be read.");
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
        return new PathResolution(resolved, type, false, false, null);
    }

    /// <summary>A path that stops existing at <paramref name="missing"/>: the rest applied lexically, for the inside-a-root test.</summary>
    private static PathResolution MissingFrom(string missing, IEnumerable<string> rest, bool leaf)
    {
        foreach (var c in rest)
        {
            missing = c switch { "." => missing, ".." => Parent(missing), _ => Join(missing, c) };
        }
        return new PathResolution(missing, FileType.Other, Missing: true, MissingIsLeaf: leaf, Error: null);
    }

    private static IEnumerable<string> Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    private static string Join(string dir, string name) => dir == "/" ? "/" + name : dir + "/" + name;

    private static string Parent(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }
}
