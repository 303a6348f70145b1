using System.Text.RegularExpressions;

namespace GuestAgent.Agent.Platform.Windows;

/// <summary>The verdict on a Windows path: its normal form (<c>C:\dir\file</c>), or why it is refused.</summary>
public sealed record WindowsPath(string? Normalized, string? Refusal)
{
    public bool IsOk => Refusal is null;
}

/// <summary>
/// The lexical half of the file ops' path policy on Windows guests, as pure functions (so they are
/// tested on every OS). Windows resolves many spellings to one file, and several of them name
/// something else than they seem: a path is accepted only in the one spelling that means what it
/// says, a drive-absolute path (<c>C:\...</c>, '/' taken as '\'), with <c>.</c> and <c>..</c>
/// resolved; everything else is refused with the reason: UNC and device paths (<c>\\server\share</c>,
/// <c>\\?\</c>, <c>\\.\</c>), drive-relative and rootless ones, alternate data streams
/// (<c>file:stream</c>), reserved device names in any component (<c>CON</c>, <c>NUL</c>,
/// <c>COM1</c>, <c>LPT1.txt</c>), names with trailing dots or spaces (Windows drops them, so they
/// name another file), and 8.3 short names (<c>PROGRA~1</c>: another name for a file whose long
/// name the policy would judge). Whether the result is inside a file root is
/// <see cref="IsInside"/>; symlinks and junctions are the file system's to resolve, after this.
/// </summary>
public static partial class WindowsPathRules
{
    private static readonly HashSet<string> ReservedNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$",
        "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³",
        "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
    };

    /// <summary>What Windows generates as a short name: at most 8 characters with a <c>~digits</c> tail, and at most 3 after one dot.</summary>
    [GeneratedRegex(@"^[^.]{0,7}~[0-9]+(\.[^.]{0,3})?$", RegexOptions.CultureInvariant)]
    private static partial Regex ShortName();

    public static WindowsPath Normalize(string path)
    {
        static WindowsPath Refuse(string why) => new(null, why);
        if (string.IsNullOrEmpty(path))
        {
            return Refuse("the path is empty");
        }
        var p = path.Replace('/', '\\');
        if (p.StartsWith(@"\\?\", StringComparison.Ordinal) || p.StartsWith(@"\\.\", StringComparison.Ordinal)
            || p.StartsWith(@"\??\", StringComparison.Ordinal))
        {
            return Refuse($"'{path}' is a device or namespace path (\\\\?\\, \\\\.\\): refused");
        }
        if (p.StartsWith(@"\\", StringComparison.Ordinal))
        {
            return Refuse($"'{path}' is a UNC path (a network share): refused");
        }
        if (p.Length < 3 || !char.IsAsciiLetter(p[0]) || p[1] != ':' || p[2] != '\\')
        {
            return Refuse(p.Length >= 2 && char.IsAsciiLetter(p[0]) && p[1] == ':'
                ? $"'{path}' is relative to the drive's current directory: give C:\\... with a backslash after the colon"
                : $"'{path}' is not absolute: give a drive letter, C:\\...");
        }
        var parts = new List<string>();
        foreach (var component in p[3..].Split('\\'))
        {
            switch (component)
            {
                case "" or ".":
                    continue;
                case "..":
                    if (parts.Count == 0)
                    {
                        return Refuse($"'{path}' goes above the root of its drive");
                    }
                    parts.RemoveAt(parts.Count - 1);
                    continue;
            }
            if (ComponentRefusal(component) is { } why)
            {
                return Refuse($"'{path}': {why}");
            }
            parts.Add(component);
        }
        return new WindowsPath($"{char.ToUpperInvariant(p[0])}:\\{string.Join('\\', parts)}", null);
    }

    private static string? ComponentRefusal(string name)
    {
        foreach (var c in name)
        {
            if (c == ':')
            {
                return $"'{name}' names an alternate data stream (name:stream), which is refused";
            }
            if (c < ' ' || c is '<' or '>' or '"' or '|' or '?' or '*')
            {
                return $"'{name}' holds a character Windows does not allow in a name ({(c < ' ' ? $"U+{(int)c:X4}" : c.ToString())})";
            }
        }
        if (name.EndsWith('.') || name.EndsWith(' '))
        {
            return $"'{name}' ends with a dot or a space, which Windows drops: it would name another file";
        }
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        var stem = (dot < 0 ? name : name[..dot]).TrimEnd(' ');
        if (ReservedNames.Contains(stem))
        {
            return $"'{name}' is a reserved device name ({stem.ToUpperInvariant()}), not a file";
        }
        if (ShortName().IsMatch(name))
        {
            return $"'{name}' has the form of an 8.3 short name, another name for a file whose long name is not the one checked";
        }
        return null;
    }

    /// <summary>
    /// Whether normalized <paramref name="path"/> is <paramref name="root"/> or inside it, by whole
    /// components (C:\data2 is not inside C:\data) and without regard to case, as Windows compares names.
    /// </summary>
    public static bool IsInside(string path, string root)
    {
        var r = root.TrimEnd('\\');
        return path.Equals(r, StringComparison.OrdinalIgnoreCase)
            || (path.Length > r.Length && path[r.Length] == '\\' && path.StartsWith(r, StringComparison.OrdinalIgnoreCase));
    }
}
