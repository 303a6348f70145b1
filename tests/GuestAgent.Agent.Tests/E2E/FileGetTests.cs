using System.Diagnostics;
using System.Security.Cryptography;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Tests.E2E;

public sealed class FileGetTests(FileGetTests.Agent agent) : IClassFixture<FileGetTests.Agent>
{
    private readonly E2EContext _e2e = agent.E2E;
    /// <summary>This test's scratch directory.</summary>
    private readonly string _dir = SharedAgent.NewDirectory(agent.E2E.Dir);
    /// <summary>This test's directory inside the file root.</summary>
    private readonly string _root = SharedAgent.NewDirectory(agent.E2E.FileRoot);

    /// <summary>One agent for the tests here that neither kill nor reconfigure it.</summary>
    public sealed class Agent() : SharedAgent(() => new E2EContext(fileRoot: true));

    private async Task<(Reply Final, byte[] Data)> GetAsync(string path, long offset = 0)
    {
        var cmd = await _e2e.Controller.SendAsync(_e2e.Controller.Call(new FileGetArgs { Path = path, Offset = offset }));
        var replies = await _e2e.Controller.RepliesAsync(cmd.Id, E2EContext.Wait);
        var final = replies[^1];
        if (final.Status != ReplyStatus.Succeeded)
        {
            return (final, []);
        }
        var result = final.ResultAs<FileGetResult>()!;
        var assembler = ChunkAssembler.For(result.Data);
        foreach (var r in replies.Where(r => r.Chunk is not null))
        {
            Assert.Equal(ChunkStreams.File, r.Chunk!.Stream);
            assembler.Add(r.Chunk);
        }
        var whole = assembler.Assemble();
        Assert.Null(whole.Error);
        return (final, whole.Data!);
    }

    [Fact]
    public async Task Binary_file_of_several_chunks_comes_back_exactly_with_size_mode_and_checksum()
    {
        var path = Path.Combine(_root, "blob.bin");
        var content = RandomNumberGenerator.GetBytes(700_000);
        await File.WriteAllBytesAsync(path, content);
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        }

        var (final, data) = await GetAsync(path);

        var result = final.ResultAs<FileGetResult>()!;
        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(content, data);
        Assert.Equal(700_000, result.Size);
        Assert.Equal("0640", result.Mode);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), result.Sha256);
        Assert.True(result.Data.Chunks >= 3);
    }

    [Fact]
    public async Task Get_resumes_from_an_offset_and_reports_the_whole_file_checksum()
    {
        var path = Path.Combine(_root, "resume.bin");
        var content = RandomNumberGenerator.GetBytes(300_000);
        await File.WriteAllBytesAsync(path, content);

        var (final, data) = await GetAsync(path, offset: 123_456);

        var result = final.ResultAs<FileGetResult>()!;
        Assert.Equal(content[123_456..], data);
        Assert.Equal(300_000 - 123_456, result.Bytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), result.Sha256);
    }

    [Fact]
    public async Task Empty_file_comes_back_empty()
    {
        var path = Path.Combine(_root, "empty");
        await File.WriteAllBytesAsync(path, []);

        var (final, data) = await GetAsync(path);

        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Empty(data);
        Assert.Equal(0, final.ResultAs<FileGetResult>()!.Size);
    }

    [Fact]
    public async Task Paths_outside_the_roots_traversal_symlink_escapes_devices_and_directories_are_refused()
    {
        var secret = Path.Combine(_dir, "secret.txt");
        await File.WriteAllTextAsync(secret, "not yours");
        File.CreateSymbolicLink(Path.Combine(_root, "escape"), secret);
        Directory.CreateDirectory(Path.Combine(_root, "sub"));
        Process.Start("mkfifo", Path.Combine(_root, "fifo"))!.WaitForExit();

        var cases = new (string Path, string Code)[]
        {
            (secret, "forbidden_path"),
            (Path.Combine(_root, "..", "..", Path.GetFileName(_dir), "secret.txt"), "forbidden_path"),
            (Path.Combine(_root, "escape"), "forbidden_path"),
            ("/dev/zero", "forbidden_path"),
            (Path.Combine(_root, "fifo"), "not_a_regular_file"),
            (Path.Combine(_root, "sub"), "is_directory"),
            (Path.Combine(_root, "missing"), "not_found"),
        };
        foreach (var (path, code) in cases)
        {
            var (final, _) = await GetAsync(path);
            Assert.True(final.Status == ReplyStatus.Failed, $"{path}: {final.Status}");
            Assert.True(code == final.Error?.Code, $"{path}: expected {code}, got {final.Error?.Code}: {final.Error?.Message}");
        }
    }
}
