using System.Text.Json;
using System.Text.Json.Serialization;
using GuestAgent.Protocol;
using static GuestAgent.Protocol.Args.ArgsReader;

namespace GuestAgent.Blocks.SysInfo;

/// <summary>Arguments of <c>sysinfo</c>: which sections to report (all when not given).</summary>
public sealed record SysInfoArgs : OpArgs
{
    public const string Memory = "memory";
    public const string Disks = "disks";
    public const string Packages = "packages";

    public static readonly IReadOnlyList<string> AllSections = [Memory, Disks, Packages];

    [JsonIgnore]
    public override string Op => SysInfoBlock.OpName;

    /// <summary>Any of <c>memory</c>, <c>disks</c>, <c>packages</c>; null: all of them.</summary>
    public IReadOnlyList<string>? Sections { get; init; }

    [JsonIgnore]
    public IReadOnlyList<string> Wanted => Sections ?? AllSections;

    /// <summary>Reads <c>args</c>: <c>sections</c>, an array of known section names, each at most once.</summary>
    public static SysInfoArgs Read(JsonElement args, ProtocolLimits limits)
    {
        if (Optional(args, "sections") is not { } sections)
        {
            return new SysInfoArgs();
        }
        if (sections.ValueKind != JsonValueKind.Array)
        {
            throw WrongType("args.sections", "an array of strings", sections);
        }
        var list = new List<string>();
        var i = 0;
        foreach (var item in sections.EnumerateArray())
        {
            var path = $"args.sections[{i++}]";
            var name = ReadString(item, path);
            if (!AllSections.Contains(name))
            {
                throw Invalid(path, $"{path} must be one of {string.Join(", ", AllSections)}; got \"{name}\".");
            }
            if (list.Contains(name))
            {
                throw Invalid(path, $"{path}: \"{name}\" is listed twice.");
            }
            list.Add(name);
        }
        return list.Count == 0 ? throw Invalid("args.sections", "args.sections must name at least one section.") : new SysInfoArgs { Sections = list };
    }
}

/// <summary>What <c>sysinfo</c> reports; a section not asked for is null.</summary>
public sealed record SysInfoResult(MemoryInfo? Memory, IReadOnlyList<DiskInfo>? Disks, PackagesInfo? Packages);

/// <summary>From /proc/meminfo.</summary>
public sealed record MemoryInfo(long TotalBytes, long AvailableBytes);

/// <summary>One mounted file system with storage behind it.</summary>
public sealed record DiskInfo(string Mount, string FileSystem, long TotalBytes, long FreeBytes);

/// <summary>
/// The installed packages: how many, and the whole list (one "name version" line each, sorted by
/// name) as the <c>packages</c> output stream, inline up to the cap and in chunk replies beyond.
/// </summary>
public sealed record PackagesInfo(string Manager, int Count, StreamOutput List);
