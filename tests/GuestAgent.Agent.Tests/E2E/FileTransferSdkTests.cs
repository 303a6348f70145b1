using System.Security.Cryptography;
using GuestAgent.Client;
using GuestAgent.Client.Files;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>The SDK's PutFileAsync / GetFileAsync and guestctl cp against a real agent, through faults.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FileTransferSdkTests(FileTransferSdkTests.Agent agent) : IClassFixture<FileTransferSdkTests.Agent>
{
    private readonly E2EContext _e2e = agent.E2E;
    /// <summary>This test's scratch directory.</summary>
    private readonly string _dir = SharedAgent.NewDirectory(agent.E2E.Dir);
    /// <summary>This test's directory inside the file root.</summary>
    private readonly string _root = SharedAgent.NewDirectory(agent.E2E.FileRoot);

    /// <summary>One agent for the tests here that neither kill nor reconfigure it.</summary>
    public sealed class Agent() : SharedAgent(() => new E2EContext(maxOperations: 8, fileRoot: true));

    private GuestClient NewClient(E2EContext? e2e = null)
    {
        e2e ??= _e2e;
        return new GuestClient(e2e.Bed.Client(e2e.Tenant.Project), e2e.Tenant.CommandQueue, ZaqarBed.NewQueue("sdk"),
            new GuestClientOptions { SigningKeys = e2e.Tenant.Keys });
    }

    private string LocalFile(int size, out byte[] content)
    {
        content = RandomNumberGenerator.GetBytes(size);
        var path = Path.Combine(_dir, $"local-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>Collects progress reports as they come (Progress&lt;T&gt; would post them later, out of order).</summary>
    private sealed class Reports : IProgress<FileTransferProgress>
    {
        private readonly List<FileTransferProgress> _all = [];

        public event Action<FileTransferProgress>? Seen;

        public List<FileTransferProgress> All
        {
            get
            {
                lock (_all)
                {
                    return [.. _all];
                }
            }
        }

        public void Report(FileTransferProgress value)
        {
            lock (_all)
            {
                _all.Add(value);
            }
            Seen?.Invoke(value);
        }
    }

    [Fact]
    public async Task Multi_MiB_file_goes_to_the_guest_and_back_byte_exact_with_progress_to_the_end()
    {
        var local = LocalFile(5 * 1024 * 1024 + 123, out var content);
        var guestPath = Path.Combine(_root, "sdk.bin");
        var back = Path.Combine(_dir, "back.bin");
        var putReports = new Reports();
        var getReports = new Reports();
        await using var guest = NewClient();

        var put = await guest.PutFileAsync(local, guestPath, new FilePutOptions { Progress = putReports, Mode = "0600" });
        var get = await guest.GetFileAsync(guestPath, back, new FileGetOptions { Progress = getReports });

        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        Assert.Equal(content, await File.ReadAllBytesAsync(guestPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(guestPath));
        Assert.Equal(sha, put.Sha256);
        Assert.Equal(put.ChunkCount, put.ChunksSent);
        Assert.Equal(content, await File.ReadAllBytesAsync(back));
        Assert.Equal(sha, get.Sha256);
        foreach (var reports in new[] { putReports.All, getReports.All })
        {
            Assert.NotEmpty(reports);
            Assert.True(reports.Zip(reports.Skip(1)).All(p => p.Item2.BytesDone >= p.Item1.BytesDone), "progress never goes back");
            Assert.Equal(content.Length, reports[^1].BytesDone);
        }
    }

    [Fact]
    public async Task Put_survives_agent_kill_mid_transfer_without_sending_stored_chunks_again()
    {
        using var own = new E2EContext(maxOperations: 8, fileRoot: true);
        var local = LocalFile(4 * 1024 * 1024, out var content);
        var guestPath = Path.Combine(own.FileRoot, "killed.bin");
        var reports = new Reports();
        var killed = 0;
        reports.Seen += p =>
        {
            // Once a third is stored, kill -9 the agent and start it again while chunks are in flight.
            if (p.ChunksDone >= p.TotalChunks / 3 && Interlocked.Exchange(ref killed, 1) == 0)
            {
                own.Agent.Kill();
                own.Agent.Start();
            }
        };
        await using var guest = NewClient(own);

        var put = await guest.PutFileAsync(local, guestPath, new FilePutOptions { Progress = reports, ChunkBytes = 100_000 });

        Assert.Equal(1, killed);
        Assert.Equal(2, own.Agent.Starts);
        Assert.Equal(content, await File.ReadAllBytesAsync(guestPath));
        // Only chunks in flight at the kill (at most a window's worth) may have been posted twice.
        Assert.True(put.Commands <= put.ChunkCount + FilePutOptions.DefaultWindow,
            $"{put.Commands} chunk commands for {put.ChunkCount} chunks");
        Assert.Empty(Directory.GetFiles(own.FileRoot, "*.guestagent-part"));
    }

    [Fact]
    public async Task Controller_restart_resumes_with_the_same_transfer_id_and_skips_what_the_agent_holds()
    {
        var local = LocalFile(3 * 1024 * 1024, out var content);
        var guestPath = Path.Combine(_root, "resumed.bin");
        var transferId = Guid.NewGuid();
        using var stop = new CancellationTokenSource();
        var reports = new Reports();
        reports.Seen += p =>
        {
            if (p.ChunksDone >= p.TotalChunks / 2)
            {
                stop.Cancel();
            }
        };

        await using (var first = NewClient())
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.PutFileAsync(local, guestPath,
                new FilePutOptions { TransferId = transferId, ChunkBytes = 100_000, Progress = reports }, stop.Token));
        }
        var heldBefore = reports.All.Max(p => p.ChunksDone);
        Assert.False(File.Exists(guestPath));

        await using var second = NewClient();
        var put = await second.PutFileAsync(local, guestPath, new FilePutOptions { TransferId = transferId, ChunkBytes = 100_000 });

        Assert.True(put.Resumed);
        // The probe (the last chunk) is always sent, and the first call, given a transfer id too, began with
        // it: so one chunk the agent held is sent again. Chunks still in flight at the cancel may add to the held.
        Assert.True(put.ChunksSkipped >= heldBefore - 1, $"skipped {put.ChunksSkipped}, the agent held {heldBefore}");
        Assert.Equal(put.ChunkCount, put.ChunksSkipped + put.ChunksSent);
        Assert.Equal(content, await File.ReadAllBytesAsync(guestPath));
    }

    // 20 to 70 s, most of it the restart waited out: in the longer mode.
    [LongFact]
    public async Task Put_rides_out_a_zaqar_restart()
    {
        using var bed = ZaqarBed.StartPrivate();
        using var e2e = new E2EContext(fileRoot: true, bed: bed);
        var content = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var guestPath = Path.Combine(e2e.FileRoot, "outage.bin");
        var reports = new Reports();
        var restarted = 0;
        reports.Seen += p =>
        {
            if (p.ChunksDone >= 3 && Interlocked.Exchange(ref restarted, 1) == 0)
            {
                _ = Task.Run(() =>
                {
                    bed.Stop("zaqar");
                    Thread.Sleep(2000);
                    bed.RestartZaqar();
                });
            }
        };
        await using var guest = NewClient(e2e);

        var put = await guest.PutFileAsync(new MemoryStream(content), guestPath, new FilePutOptions { Progress = reports, ChunkBytes = 100_000 });

        Assert.Equal(1, restarted);
        Assert.Equal(content, await File.ReadAllBytesAsync(guestPath));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), put.Sha256);
    }

    [Fact]
    public async Task Guestctl_cp_copies_both_ways_with_plain_progress_lines_when_not_on_a_terminal()
    {
        var local = LocalFile(700_000, out var content);
        var guestPath = Path.Combine(_root, "cp.bin");
        var back = Path.Combine(_dir, "cp-back.bin");

        var up = await _e2e.GuestctlAsync("cp", local, $"guest:{guestPath}");
        var down = await _e2e.GuestctlAsync("cp", $"guest:{guestPath}", back);
        var same = await _e2e.GuestctlAsync("cp", local, $"guest:{guestPath}");
        var other = LocalFile(1000, out _);
        var refused = await _e2e.GuestctlAsync("cp", other, $"guest:{guestPath}");

        Assert.True(up.ExitCode == 0, up.Stderr);
        Assert.Contains("cp:", up.Stderr, StringComparison.Ordinal);
        Assert.Equal(content, await File.ReadAllBytesAsync(guestPath));
        Assert.True(down.ExitCode == 0, down.Stderr);
        Assert.Equal(content, await File.ReadAllBytesAsync(back));
        // The same copy again is the same transfer, already complete: nothing is sent, success.
        Assert.True(same.ExitCode == 0, same.Stderr);
        // Another file onto it without --overwrite is refused, the guest file kept, and guestctl says why.
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("exists", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(content, await File.ReadAllBytesAsync(guestPath));
    }
}
