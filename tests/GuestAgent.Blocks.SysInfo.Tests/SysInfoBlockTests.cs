using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;

namespace GuestAgent.Blocks.SysInfo.Tests;

/// <summary>The sample block on its own, as its team tests it: the contract's pieces called directly, no agent.</summary>
public sealed class SysInfoBlockTests : IDisposable
{
    private const string Status = """
        Package: zlib1g
        Status: install ok installed
        Version: 1:1.2.13.dfsg-1

        Package: adduser
        Status: install ok installed
        Version: 3.134

        Package: pinned
        Status: hold ok installed
        Version: 1.0

        Package: oldtool
        Status: deinstall ok config-files
        Version: 0.9

        Package: halfway
        Status: install ok half-configured
        Version: 2.0
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("sysinfo-").FullName;
    private readonly SysInfoBlock _block = new();

    public void Dispose() => Directory.Delete(_dir, true);

    private static SysInfoArgs Read(string json) => SysInfoArgs.Read(JsonDocument.Parse(json).RootElement, ProtocolLimits.Default);

    [Fact]
    public void Args_default_to_every_section_and_name_the_bad_field()
    {
        Assert.Equal(["memory", "disks", "packages"], Read("{}").Wanted);
        Assert.Equal(["disks"], Read("""{"sections":["disks"]}""").Wanted);

        var unknown = Assert.Throws<ArgsRejectedException>(() => Read("""{"sections":["memory","kernel"]}"""));
        var twice = Assert.Throws<ArgsRejectedException>(() => Read("""{"sections":["disks","disks"]}"""));
        var wrongType = Assert.Throws<ArgsRejectedException>(() => Read("""{"sections":"disks"}"""));

        Assert.Equal(("invalid_value", "args.sections[1]"), (unknown.Code, unknown.Field));
        Assert.Equal(("invalid_value", "args.sections[1]"), (twice.Code, twice.Field));
        Assert.Equal(("wrong_type", "args.sections"), (wrongType.Code, wrongType.Field));
    }

    [Fact]
    public void Only_installed_packages_are_listed_sorted_by_name()
    {
        Assert.Equal([("adduser", "3.134"), ("pinned", "1.0"), ("zlib1g", "1:1.2.13.dfsg-1")], SysInfoBlock.ReadDpkgStatus(Status));
    }

    [Fact]
    public void A_binding_that_forbids_packages_refuses_a_command_that_asks_for_them()
    {
        var policy = (SysInfoPolicy)_block.ReadPolicy(new Settings(new() { ["sysinfo.packages"] = "false" }))!;

        Assert.Null(_block.Refusal(Command(Read("""{"sections":["memory"]}"""), policy)));
        Assert.Contains("sysinfo.packages = false", _block.Refusal(Command(Read("{}"), policy)));
        Assert.Throws<BlockConfigException>(() => _block.ReadPolicy(new Settings(new() { ["sysinfo.dpkg-status"] = "relative/status" })));
    }

    [Fact]
    public async Task A_run_streams_the_package_list_and_reports_its_count_and_hash()
    {
        var status = Path.Combine(_dir, "status");
        File.WriteAllText(status, Status);
        var output = new MemoryOutput();
        var run = new BlockRun(Guid.NewGuid(), "sysinfo", Read("""{"sections":["packages","memory"]}"""), 1, "t1", new SysInfoPolicy(true, status))
        {
            Output = output,
            InlineCapBytes = 10,
            ChunkBytes = 8,
            Time = TimeProvider.System,
        };

        var outcome = await _block.RunAsync(run, CancellationToken.None);

        Assert.Equal(BlockEnd.Succeeded, outcome.End);
        var result = Assert.IsType<SysInfoResult>(outcome.Result);
        var text = "adduser 3.134\npinned 1.0\nzlib1g 1:1.2.13.dfsg-1\n";
        Assert.Equal(text, Encoding.UTF8.GetString(output.Written["packages"].ToArray()));
        Assert.Equal(3, result.Packages!.Count);
        Assert.Equal(text.Length, result.Packages.List.Bytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text))), result.Packages.List.Sha256);
        Assert.Equal((text.Length - 10 + 7) / 8, result.Packages.List.Chunks);
        Assert.Equal("packages", Assert.Single(outcome.Outputs).Stream);
        Assert.True(result.Memory!.TotalBytes > 0);
        Assert.Null(result.Disks);
    }

    [Fact]
    public void An_interrupted_sysinfo_changed_nothing_and_may_run_again()
    {
        Assert.Equal(InterruptMeaning.NoEffect, _block.Interrupted(Command(Read("{}"), new SysInfoPolicy(true, "/x"))));
    }

    private static BlockCommand Command(SysInfoArgs args, SysInfoPolicy policy) => new(Guid.NewGuid(), "sysinfo", args, 0, "t1", policy);

    private sealed class Settings(Dictionary<string, string> values) : IBlockSettings
    {
        public string Tenant => "t1";
        public bool HasPath(string path) => values.ContainsKey(path);
        public string? GetString(string path, string? absent = null) => values.GetValueOrDefault(path, absent!);
        public IReadOnlyList<string> GetStringList(string path) => values.TryGetValue(path, out var v) ? v.Split(',') : [];
        public int GetInt(string path, int absent) => values.TryGetValue(path, out var v) ? int.Parse(v) : absent;
        public bool GetBoolean(string path, bool absent) => values.TryGetValue(path, out var v) ? bool.Parse(v) : absent;
        public long? GetBytes(string path) => values.TryGetValue(path, out var v) ? long.Parse(v) : null;
        public TimeSpan GetTimeSpan(string path, TimeSpan absent) => absent;
    }

    /// <summary>The core's output spool, in memory: what the block wrote, per stream.</summary>
    private sealed class MemoryOutput : IBlockOutput
    {
        public Dictionary<string, MemoryStream> Written { get; } = [];

        public Task<IOutputWriter> OpenAsync(string stream, int inlineCapBytes)
        {
            var buffer = Written[stream] = new MemoryStream();
            return Task.FromResult<IOutputWriter>(new Writer(buffer, inlineCapBytes));
        }

        private sealed class Writer(MemoryStream buffer, int cap) : IOutputWriter
        {
            public ValueTask WriteAsync(ReadOnlyMemory<byte> bytes)
            {
                buffer.Write(bytes.Span);
                return ValueTask.CompletedTask;
            }

            public Task<CapturedStream> CompleteAsync()
            {
                var all = buffer.ToArray();
                return Task.FromResult(new CapturedStream(all.Length, all[..Math.Min(cap, all.Length)], Convert.ToHexStringLower(SHA256.HashData(all)), "/spool/x"));
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
