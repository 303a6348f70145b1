using System.Security.Cryptography;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>file.put through the queue, chunk by chunk, against a real agent: written to the wire protocol, not the SDK.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FilePutTests(FilePutTests.Agent agent) : IClassFixture<FilePutTests.Agent>
{
    private readonly E2EContext _e2e = agent.E2E;
    /// <summary>This test's directory inside the file root.</summary>
    private readonly string _root = SharedAgent.NewDirectory(agent.E2E.FileRoot);

    /// <summary>One agent for the tests here that neither kill nor reconfigure it.</summary>
    public sealed class Agent() : SharedAgent(() => new E2EContext(maxOperations: 8, fileRoot: true));

    /// <summary>Every chunk command of <paramref name="content"/>, cut as the protocol says.</summary>
    private static List<FilePutArgs> Chunks(byte[] content, string path, int chunkBytes, Guid? transferId = null,
        string? mode = null, bool overwrite = false, string? owner = null, string? group = null)
    {
        var id = transferId ?? Guid.NewGuid();
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var count = (int)FilePutArgs.ExpectedCount(content.Length, chunkBytes);
        return Enumerable.Range(0, count).Select(i => new FilePutArgs
        {
            TransferId = id,
            Path = path,
            Size = content.Length,
            Sha256 = sha,
            ChunkBytes = chunkBytes,
            Index = i,
            Count = count,
            DataB64 = Convert.ToBase64String(content.AsSpan(i * chunkBytes, (int)FilePutArgs.ExpectedChunkLength(content.Length, chunkBytes, i))),
            Mode = mode,
            Overwrite = overwrite,
            Owner = owner,
            Group = group,
        }).ToList();
    }

    /// <summary>
    /// Sends the chunks all at once (the agent runs them concurrently) and returns their final
    /// replies in chunk order; to the shared agent unless <paramref name="to"/> names another.
    /// </summary>
    private async Task<List<Reply>> SendAllAsync(IEnumerable<FilePutArgs> chunks, E2EContext? to = null)
    {
        var controller = (to ?? _e2e).Controller;
        var commands = new List<Command>();
        foreach (var chunk in chunks)
        {
            commands.Add(await controller.SendAsync(controller.Call(chunk)));
        }
        var finals = new List<Reply>();
        foreach (var c in commands)
        {
            finals.Add(await controller.FinalAsync(c.Id, TimeSpan.FromSeconds(60)));
        }
        return finals;
    }

    private async Task<Reply> SendOneAsync(FilePutArgs chunk, E2EContext? to = null) => (await SendAllAsync([chunk], to))[0];

    private string Target(string name) => Path.Combine(_root, name);

    private static string[] LeftoverParts(string root) => Directory.GetFiles(root, "*.guestagent-part", SearchOption.AllDirectories);

    private string[] LeftoverParts() => LeftoverParts(_root);

    [Theory]
    [InlineData(0, 1000)]
    [InlineData(11, 1000)]
    [InlineData(4096, 4096)] // exactly one chunk
    [InlineData(8192, 4096)] // exactly two chunks, no remainder
    [InlineData(3 * 1024 * 1024 + 17, 193_536)] // multi-MiB in the largest chunks
    public async Task File_arrives_byte_exact_after_every_chunk_and_is_reported_complete(int size, int chunkBytes)
    {
        var content = RandomNumberGenerator.GetBytes(size);
        var path = Target($"file-{size}.bin");
        var chunks = Chunks(content, path, chunkBytes);

        var finals = await SendAllAsync(chunks.OrderBy(_ => Random.Shared.Next()));

        Assert.All(finals, f => Assert.Equal(ReplyStatus.Succeeded, f.Status));
        var results = finals.Select(f => f.ResultAs<FilePutResult>()!).ToList();
        var complete = Assert.Single(results, r => r.Complete);
        Assert.Equal(size, complete.Bytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), complete.Sha256);
        Assert.Equal(chunks.Count, complete.Received);
        Assert.Empty(complete.Missing);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
        Assert.Equal(FileInstallerDefaults.NewFileMode, File.GetUnixFileMode(path));
        Assert.Empty(LeftoverParts());
    }

    [Fact]
    public async Task Target_appears_only_when_the_last_chunk_is_in_and_progress_lists_what_is_missing()
    {
        var content = RandomNumberGenerator.GetBytes(10_000);
        var path = Target("late.bin");
        var chunks = Chunks(content, path, 3000); // 4 chunks

        var first = await SendAllAsync([chunks[0], chunks[2]]);
        var progress = first.Select(f => f.ResultAs<FilePutResult>()!).MaxBy(r => r.Received)!;

        Assert.Equal(2, progress.Received);
        Assert.Equal([1, 3], progress.Missing);
        Assert.False(progress.Complete);
        Assert.False(File.Exists(path));
        Assert.Single(LeftoverParts());

        var rest = await SendAllAsync([chunks[3], chunks[1]]);
        Assert.Contains(rest, r => r.ResultAs<FilePutResult>()!.Complete);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_chunk_sent_again_is_answered_with_progress_and_after_completion_with_complete()
    {
        var content = RandomNumberGenerator.GetBytes(5000);
        var path = Target("again.bin");
        var chunks = Chunks(content, path, 2000); // 3 chunks

        await SendOneAsync(chunks[0]);
        var again = (await SendOneAsync(chunks[0])).ResultAs<FilePutResult>()!;
        Assert.Equal(1, again.Received);
        Assert.Equal([1, 2], again.Missing);

        await SendAllAsync(chunks.Skip(1));
        // After completion, even with overwrite false, a re-sent chunk reports the file in place instead of failing "exists".
        var late = await SendOneAsync(chunks[1]);
        Assert.Equal(ReplyStatus.Succeeded, late.Status);
        Assert.True(late.ResultAs<FilePutResult>()!.Complete);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Corrupted_chunk_is_caught_by_the_checksum_nothing_appears_and_the_transfer_can_start_again()
    {
        var content = RandomNumberGenerator.GetBytes(9000);
        var path = Target("corrupt.bin");
        var chunks = Chunks(content, path, 4000);
        var bad = (byte[])content.Clone();
        bad[4100] ^= 0xFF; // inside chunk 1, same length
        var corrupted = chunks[1] with { DataB64 = Convert.ToBase64String(bad.AsSpan(4000, 4000)) };

        var finals = await SendAllAsync([chunks[0], corrupted, chunks[2]]);

        var failed = Assert.Single(finals, f => f.Status == ReplyStatus.Failed);
        Assert.Equal("checksum_mismatch", failed.Error!.Code);
        Assert.False(File.Exists(path));
        Assert.Empty(LeftoverParts());

        // The transfer was dropped: the same id starts from nothing and succeeds with good chunks.
        var retry = await SendAllAsync(chunks);
        Assert.Contains(retry, r => r.ResultAs<FilePutResult>()?.Complete == true);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Existing_file_is_kept_unless_overwrite_and_mode_and_owner_are_applied()
    {
        var path = Target("cfg.json");
        await File.WriteAllTextAsync(path, "old");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var content = "{\"new\":true}"u8.ToArray();

        var refused = await SendOneAsync(Chunks(content, path, 100)[0]);
        Assert.Equal(ReplyStatus.Failed, refused.Status);
        Assert.Equal("exists", refused.Error!.Code);
        Assert.Equal("old", await File.ReadAllTextAsync(path));
        Assert.Empty(LeftoverParts());

        // Overwrite without a mode keeps the replaced file's mode.
        Assert.Equal(ReplyStatus.Succeeded, (await SendOneAsync(Chunks(content, path, 100, overwrite: true)[0])).Status);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        var owned = Target("owned.sh");
        var reply = await SendOneAsync(Chunks("#!/bin/sh\n"u8.ToArray(), owned, 100, mode: "0750", owner: "nobody", group: "nogroup")[0]);
        Assert.Equal(ReplyStatus.Succeeded, reply.Status);
        Assert.Equal((UnixFileMode)Convert.ToInt32("750", 8), File.GetUnixFileMode(owned));
        var (uid, gid) = Ids(owned);
        Assert.Equal(UserId("nobody"), uid);
        Assert.Equal(GroupId("nogroup"), gid);

        var unknown = await SendOneAsync(Chunks("x"u8.ToArray(), Target("u"), 100, owner: "no-such-user-xyz")[0]);
        Assert.Equal("unknown_owner", unknown.Error!.Code);
        Assert.False(File.Exists(Target("u")));
    }

    [Fact]
    public async Task Paths_outside_the_roots_symlink_escapes_directories_and_special_files_are_refused()
    {
        var outside = SharedAgent.NewDirectory(_e2e.Dir);
        File.CreateSymbolicLink(Target("escape"), outside);
        Directory.CreateDirectory(Target("adir"));
        Run("mkfifo", Target("fifo"));
        var data = "pwned"u8.ToArray();

        var cases = new (string Path, string Code)[]
        {
            (Target($"../../{Path.GetFileName(outside)}/traversal"), "forbidden_path"),
            (Target("escape/through-link"), "forbidden_path"),
            ("/etc/guestagent-test-file", "forbidden_path"),
            (Target("adir"), "is_directory"),
            (Target("fifo"), "not_a_regular_file"),
            (Target("no-such-dir/file"), "not_found"),
        };
        var finals = await SendAllAsync(cases.Select(c => Chunks(data, c.Path, 100, overwrite: true)[0]));

        for (var i = 0; i < cases.Length; i++)
        {
            Assert.Equal(ReplyStatus.Failed, finals[i].Status);
            Assert.Equal(cases[i].Code, finals[i].Error!.Code);
        }
        Assert.Empty(Directory.GetFiles(outside));
        Assert.False(File.Exists("/etc/guestagent-test-file"));
        Assert.Empty(LeftoverParts());
    }

    [Fact]
    public async Task A_chunk_that_disagrees_with_its_transfer_fails_and_the_transfer_goes_on()
    {
        var content = RandomNumberGenerator.GetBytes(3000);
        var path = Target("mix.bin");
        var chunks = Chunks(content, path, 1000);
        var other = Chunks(RandomNumberGenerator.GetBytes(3000), path, 1000, transferId: chunks[0].TransferId);

        await SendOneAsync(chunks[0]);
        var mismatch = await SendOneAsync(other[1]);

        Assert.Equal(ReplyStatus.Failed, mismatch.Status);
        Assert.Equal("transfer_mismatch", mismatch.Error!.Code);
        Assert.Contains("sha256", mismatch.Error.Message, StringComparison.Ordinal);
        var done = await SendAllAsync(chunks.Skip(1));
        Assert.Contains(done, r => r.ResultAs<FilePutResult>()!.Complete);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Transfer_survives_agent_kill_and_continues_from_the_chunks_already_stored()
    {
        using var own = new E2EContext(maxOperations: 8, fileRoot: true);
        var content = RandomNumberGenerator.GetBytes(1_000_000);
        var path = Path.Combine(own.FileRoot, "resume.bin");
        var chunks = Chunks(content, path, 100_000); // 10 chunks

        await SendAllAsync(chunks.Take(6), own);
        own.Agent.Kill();
        own.Agent.Start();

        // Only the four missing chunks are sent after the restart; the first answer shows the six kept.
        var first = (await SendOneAsync(chunks[6], own)).ResultAs<FilePutResult>()!;
        Assert.Equal(7, first.Received);
        Assert.Equal([7, 8, 9], first.Missing);
        var rest = await SendAllAsync(chunks.Skip(7), own);

        Assert.Contains(rest, r => r.ResultAs<FilePutResult>()!.Complete);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
        Assert.Empty(LeftoverParts(own.FileRoot));
    }

    [Fact]
    public async Task Chunks_of_an_idle_transfer_are_dropped_after_the_configured_time()
    {
        using var e2e = new E2EContext(fileRoot: true, extraConfig: "file-transfer-idle-timeout = 2s");
        var path = Path.Combine(e2e.FileRoot, "idle.bin");
        var chunks = Chunks(RandomNumberGenerator.GetBytes(2000), path, 1000);
        await e2e.Controller.FinalAsync((await e2e.Controller.SendAsync(e2e.Controller.Call(chunks[0]))).Id, E2EContext.Wait);
        Assert.Single(Directory.GetFiles(e2e.FileRoot, "*.guestagent-part"));

        await E2EContext.WaitForAsync(() => Directory.GetFiles(e2e.FileRoot, "*.guestagent-part").Length == 0, "the idle transfer's temp file deleted");
        var after = await e2e.Controller.FinalAsync((await e2e.Controller.SendAsync(e2e.Controller.Call(chunks[1]))).Id, E2EContext.Wait);

        var progress = after.ResultAs<FilePutResult>()!;
        Assert.Equal(1, progress.Received);
        Assert.Equal([0], progress.Missing);
        Assert.Contains("dropped after", e2e.Agent.Log);
    }

    private static (uint Uid, uint Gid) Ids(string path)
    {
        var output = Run("stat", "-c", "%u %g", path).Split(' ');
        return (uint.Parse(output[0]), uint.Parse(output[1]));
    }

    private static uint UserId(string user) => uint.Parse(Run("id", "-u", user));

    private static uint GroupId(string group) => uint.Parse(Run("getent", "group", group).Split(':')[2]);

    private static string Run(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file, args) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return output;
    }
}

/// <summary>What the agent documents as the mode of a new file when the command names none.</summary>
internal static class FileInstallerDefaults
{
    public const UnixFileMode NewFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
}
