using System.Text;
using GuestAgent.Blocks.Misbehaving;
using GuestAgent.Blocks.SysInfo;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// External operation blocks, loaded by a real agent from a directory of their build output
/// (the sample sysinfo block and one that misbehaves on purpose), driven over Zaqar with signed
/// commands through the SDK. A second binding of the same agent does not name them.
/// </summary>
public sealed class BlockTests(BlockTests.Agent agent) : IClassFixture<BlockTests.Agent>
{
    private readonly E2EContext _e2e = agent.E2E;
    private readonly string _blocks = agent.Blocks;
    private readonly TestTenant _plain = E2EContext.NewTenant("plain");

    /// <summary>One agent for every test here: the blocks directory and the agent that loads it.</summary>
    public sealed class Agent : IDisposable
    {
        public Agent()
        {
            Blocks = Directory.CreateTempSubdirectory("ga-blocks-").FullName;
            CopyBuild("GuestAgent.Blocks.SysInfo", "src", "sysinfo");
            CopyBuild("GuestAgent.Blocks.Misbehaving", "tests", "misbehave");
            E2E = new E2EContext(
                // A small inline cap, so that the package list also travels in chunk replies.
                extraConfig: $"blocks {{ load = [exec, http, files, sysinfo, misbehave], directories = [\"{Blocks}\"] }}\nexec.inline-output-bytes = 2048",
                tenant: t => t with { ExtraConfig = "blocks = [exec, http, files, sysinfo, misbehave]" });
        }

        public string Blocks { get; }

        public E2EContext E2E { get; }

        public void Dispose()
        {
            E2E.Dispose();
            Directory.Delete(Blocks, true);
        }

        /// <summary>What an operator ships: the block's build output in a directory named after the block.</summary>
        private void CopyBuild(string project, string under, string block)
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            var output = Path.Combine(RepoPaths.Root, under, project, "bin", configuration, "net10.0");
            var target = Directory.CreateDirectory(Path.Combine(Blocks, block)).FullName;
            foreach (var file in Directory.GetFiles(output))
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
            }
        }
    }

    private GuestClient Client() => new(_e2e.Bed.Client(_e2e.Tenant.Project), _e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"),
        new GuestClientOptions { SigningKeys = _e2e.Tenant.Keys });

    [Fact]
    public async Task Sysinfo_block_from_a_directory_reports_memory_disks_and_every_installed_package()
    {
        await using var guest = Client();

        var call = await guest.CallAsync(new SysInfoArgs(), new CallOptions { Timeout = E2EContext.Wait });

        Assert.True(call.Succeeded, call.Error?.Message);
        var result = call.ResultAs<SysInfoResult>()!;
        var memTotal = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        Assert.Equal(long.Parse(memTotal) * 1024, result.Memory!.TotalBytes);
        Assert.Contains(result.Disks!, d => d.Mount == "/" && d.TotalBytes > 0);
        // The machine's own package list, asked of dpkg itself: every installed package, in order.
        var expected = (await DpkgInstalledAsync()).ToList();
        Assert.Equal("dpkg", result.Packages!.Manager);
        Assert.Equal(expected.Count, result.Packages.Count);
        var (list, truncated) = call.ReadStream(SysInfoArgs.Packages, result.Packages.List);
        Assert.False(truncated);
        Assert.Equal(expected, Encoding.UTF8.GetString(list).TrimEnd('\n').Split('\n'));
        Assert.True(result.Packages.List.Chunks > 0, "a package list longer than the inline cap arrives in chunk replies");
    }

    private static async Task<IEnumerable<string>> DpkgInstalledAsync()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dpkg-query", ["-W", "-f", "${db:Status-Status} ${Package} ${Version}\n"])
        {
            RedirectStandardOutput = true,
        };
        using var dpkg = System.Diagnostics.Process.Start(psi)!;
        var lines = (await dpkg.StandardOutput.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await dpkg.WaitForExitAsync();
        return lines.Where(l => l.StartsWith("installed ", StringComparison.Ordinal)).Select(l => l["installed ".Length..])
            .Order(StringComparer.Ordinal);
    }

    [Fact]
    public async Task Ping_lists_the_ops_of_loaded_blocks_and_a_binding_that_does_not_name_a_block_refuses_its_op()
    {
        await using var guest = Client();
        var ping = await guest.PingAsync(new CallOptions { Timeout = E2EContext.Wait });
        Assert.Equal(["cancel", "credentials", "exec", "file.get", "file.put", "http", "misbehave", "ping", "status", "sysinfo"], ping.Capabilities);

        using var agent = AgentProcess.Start(_e2e.Bed, [_plain],
            extraConfig: $"blocks {{ load = [exec, http, files, sysinfo], directories = [\"{_blocks}\"] }}");
        await using var plain = new GuestClient(_e2e.Bed.Client(_plain.Project), _plain.CommandQueue, ZaqarBed.NewQueue("sdk"),
            new GuestClientOptions { SigningKeys = _plain.Keys });
        var refused = await plain.CallAsync(new SysInfoArgs(), new CallOptions { Timeout = E2EContext.Wait });
        var unknown = await plain.CallAsync(new MisbehaveArgs { How = "ok" }, new CallOptions { Timeout = E2EContext.Wait });

        Assert.Equal(("rejected", "forbidden"), (refused.Status.ToString().ToLowerInvariant(), refused.Error?.Code));
        Assert.Contains("not allowed for tenant plain", refused.Error!.Message);
        Assert.Equal("unknown_op", unknown.Error?.Code);
        Assert.Contains("sysinfo", unknown.Error!.Message);
    }

    [Fact]
    public async Task Bad_sysinfo_args_are_rejected_with_the_field_path_and_nothing_runs()
    {
        await using var guest = Client();

        var call = await guest.CallAsync(new SysInfoArgs { Sections = ["memory", "kernel"] }, new CallOptions { Timeout = E2EContext.Wait });

        Assert.True(call.Rejected);
        Assert.Equal("invalid_value", call.Error?.Code);
        Assert.Contains("args.sections[1]", call.Error!.Message);
    }

    [Theory]
    [InlineData("throw", "failed", "internal_error", "misbehave threw on purpose")]
    [InlineData("hang", "timed_out", "timed_out", "did not finish within 2 s")]
    [InlineData("ignore-cancel", "timed_out", "timed_out", "its run was abandoned")]
    [InlineData("garbage", "failed", "internal_error", "cannot be written as JSON")]
    [InlineData("no-outcome", "failed", "internal_error", "returned no outcome")]
    [InlineData("throw-in-refusal", "rejected", "internal_error", "the misbehave policy broke")]
    [InlineData("throw-in-read", "rejected", "internal_error", "the misbehave reader broke")]
    public async Task A_block_that_goes_wrong_costs_its_command_a_clear_reply_and_the_agent_goes_on(string how, string status, string code, string message)
    {
        await using var guest = Client();

        var bad = await guest.CallAsync(new MisbehaveArgs { How = how }, new CallOptions { Timeout = E2EContext.Wait });
        var after = await guest.CallAsync(new MisbehaveArgs { How = "ok" }, new CallOptions { Timeout = E2EContext.Wait });
        var exec = await guest.CallAsync(new ExecArgs { Argv = ["true"] }, new CallOptions { Timeout = E2EContext.Wait });

        Assert.Equal(status, bad.Status.ToString().ToLowerInvariant().Replace("timedout", "timed_out"));
        Assert.Equal(code, bad.Error?.Code);
        Assert.Contains(message, bad.Error!.Message);
        Assert.True(after.Succeeded, after.Error?.Message);
        Assert.True(exec.Succeeded, exec.Error?.Message);
        Assert.True(_e2e.Agent.IsRunning);
    }
}
