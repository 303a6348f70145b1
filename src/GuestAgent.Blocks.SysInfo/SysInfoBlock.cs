using System.Text;
using GuestAgent.Protocol;

namespace GuestAgent.Blocks.SysInfo;

/// <summary>
/// A sample operation block: <c>sysinfo</c> reports the guest's memory, disks and installed
/// packages. It reads nothing from the command but which sections to report, changes nothing on
/// the guest (an interrupted run is simply run again) and needs nothing of the agent beyond the
/// block contract.
/// <para>
/// Per binding (HOCON, in the binding's <c>sysinfo</c> section): <c>packages</c> (default true)
/// whether the package list may be read at all; <c>dpkg-status</c> (default
/// /var/lib/dpkg/status) where dpkg keeps it.
/// </para>
/// </summary>
public sealed class SysInfoBlock : OperationBlock
{
    public const string OpName = "sysinfo";

    public override string Name => "sysinfo";

    public override IReadOnlyList<BlockOp> Ops { get; } = [new(OpName, SysInfoArgs.Read)];

    public override object? ReadPolicy(IBlockSettings binding)
    {
        var status = binding.GetString("sysinfo.dpkg-status", SysInfoPolicy.DefaultDpkgStatus) ?? SysInfoPolicy.DefaultDpkgStatus;
        if (!Path.IsPathFullyQualified(status))
        {
            throw new BlockConfigException("sysinfo.dpkg-status", $"'{status}' is not an absolute path");
        }
        return new SysInfoPolicy(binding.GetBoolean("sysinfo.packages", true), status);
    }

    public override string? Refusal(BlockCommand command) =>
        command.ArgsAs<SysInfoArgs>().Wanted.Contains(SysInfoArgs.Packages) && !command.PolicyAs<SysInfoPolicy>().Packages
            ? $"sysinfo may not list the packages of tenant {command.Tenant} (sysinfo.packages = false); ask for memory and disks only"
            : null;

    /// <summary>Reading /proc and a status file takes well under a second; a minute means something is stuck.</summary>
    public override TimeSpan? TimeLimit(BlockCommand command) => TimeSpan.FromMinutes(1);

    public override InterruptMeaning Interrupted(BlockCommand command) => InterruptMeaning.NoEffect;

    public override async Task<BlockOutcome> RunAsync(BlockRun run, CancellationToken cancel)
    {
        var wanted = run.ArgsAs<SysInfoArgs>().Wanted;
        var policy = run.PolicyAs<SysInfoPolicy>();
        var memory = wanted.Contains(SysInfoArgs.Memory) ? ReadMemory("/proc/meminfo") : null;
        var disks = wanted.Contains(SysInfoArgs.Disks) ? ReadDisks() : null;
        if (!wanted.Contains(SysInfoArgs.Packages))
        {
            return BlockOutcome.Succeeded(new SysInfoResult(memory, disks, null));
        }
        cancel.ThrowIfCancellationRequested();
        var (manager, packages) = File.Exists(policy.DpkgStatus)
            ? ("dpkg", ReadDpkgStatus(await File.ReadAllTextAsync(policy.DpkgStatus, cancel).ConfigureAwait(false)))
            : ("none", []);
        await using var list = await run.Output.OpenAsync(SysInfoArgs.Packages, run.InlineCapBytes).ConfigureAwait(false);
        foreach (var (name, version) in packages)
        {
            cancel.ThrowIfCancellationRequested();
            await list.WriteAsync(Encoding.UTF8.GetBytes($"{name} {version}\n")).ConfigureAwait(false);
        }
        var captured = await list.CompleteAsync().ConfigureAwait(false);
        var info = new PackagesInfo(manager, packages.Count, captured.ToStreamOutput(captured.ChunkCount(run.ChunkBytes)));
        return BlockOutcome.Succeeded(new SysInfoResult(memory, disks, info), (SysInfoArgs.Packages, captured));
    }

    /// <summary>MemTotal and MemAvailable of a /proc/meminfo text (in kB there).</summary>
    internal static MemoryInfo ReadMemory(string path)
    {
        long Field(string[] lines, string name) =>
            lines.Where(l => l.StartsWith(name + ":", StringComparison.Ordinal))
                .Select(l => long.Parse(l[(name.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024)
                .FirstOrDefault();
        var text = File.Exists(path) ? File.ReadAllLines(path) : [];
        return new MemoryInfo(Field(text, "MemTotal"), Field(text, "MemAvailable"));
    }

    /// <summary>Mounted file systems with storage behind them (not /proc, /sys and their kind).</summary>
    internal static IReadOnlyList<DiskInfo> ReadDisks() =>
        DriveInfo.GetDrives()
            .Where(d => d.DriveType is DriveType.Fixed or DriveType.Network or DriveType.Removable && d.IsReady)
            .Select(d => new DiskInfo(d.Name, d.DriveFormat, d.TotalSize, d.AvailableFreeSpace))
            .Where(d => d.TotalBytes > 0)
            .OrderBy(d => d.Mount, StringComparer.Ordinal)
            .ToList();

    /// <summary>The installed packages of a dpkg status file (want, flag, "installed": held ones too), sorted by name.</summary>
    internal static IReadOnlyList<(string Name, string Version)> ReadDpkgStatus(string status)
    {
        var installed = new List<(string, string)>();
        foreach (var stanza in status.Replace("\r\n", "\n").Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null, version = null, state = null;
            foreach (var line in stanza.Split('\n'))
            {
                if (line.StartsWith("Package: ", StringComparison.Ordinal))
                {
                    name = line[9..].Trim();
                }
                else if (line.StartsWith("Version: ", StringComparison.Ordinal))
                {
                    version = line[9..].Trim();
                }
                else if (line.StartsWith("Status: ", StringComparison.Ordinal))
                {
                    state = line[8..].Trim();
                }
            }
            if (name is not null && state?.Split(' ') is [_, _, "installed"])
            {
                installed.Add((name, version ?? ""));
            }
        }
        return installed.OrderBy(p => p.Item1, StringComparer.Ordinal).ThenBy(p => p.Item2, StringComparer.Ordinal).ToList();
    }
}

/// <summary>A binding's policy for sysinfo.</summary>
/// <param name="Packages">Whether the package list may be read.</param>
/// <param name="DpkgStatus">dpkg's status file.</param>
public sealed record SysInfoPolicy(bool Packages, string DpkgStatus)
{
    public const string DefaultDpkgStatus = "/var/lib/dpkg/status";
}
