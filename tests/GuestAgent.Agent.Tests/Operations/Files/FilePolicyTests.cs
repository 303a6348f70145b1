using GuestAgent.Protocol;
using System.Diagnostics;
using GuestAgent.Agent.Operations.Files;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Platform.Linux;

namespace GuestAgent.Agent.Tests.Operations.Files;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FilePolicyTests : IDisposable
{
    // <tmp>/root (allowed), <tmp>/rootX (a prefix trick), <tmp>/outside.
    private static readonly IFileSystem Files = new LinuxFileSystem();
    private readonly string _dir = Directory.CreateTempSubdirectory("file-policy-tests-").FullName;
    private readonly string _root;
    private readonly FilePolicy _policy;

    public FilePolicyTests()
    {
        _root = Path.Combine(_dir, "root");
        Directory.CreateDirectory(Path.Combine(_root, "sub"));
        Directory.CreateDirectory(Path.Combine(_dir, "rootX"));
        Directory.CreateDirectory(Path.Combine(_dir, "outside"));
        File.WriteAllText(Path.Combine(_root, "a.txt"), "a");
        File.WriteAllText(Path.Combine(_root, "sub", "b.txt"), "b");
        File.WriteAllText(Path.Combine(_dir, "rootX", "x.txt"), "x");
        File.WriteAllText(Path.Combine(_dir, "outside", "secret.txt"), "s");
        _policy = new FilePolicy([_root], Files);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string In(params string[] parts) => Path.Combine([_root, .. parts]);

    private static void AssertOk(FilePathCheck check, string expected)
    {
        Assert.True(check.IsOk, check.Message);
        Assert.Equal(expected, check.ResolvedPath);
    }

    private static void AssertRefused(FilePathCheck check, string code)
    {
        Assert.False(check.IsOk, $"expected {code}, got ok: {check.ResolvedPath}");
        Assert.Equal(code, check.ErrorCode);
        Assert.False(string.IsNullOrWhiteSpace(check.Message));
        Assert.Null(check.ResolvedPath);
    }

    [Fact]
    public void A_regular_file_inside_the_root_can_be_read_and_written()
    {
        AssertOk(_policy.Check(In("a.txt"), FileAccessKind.Read), In("a.txt"));
        AssertOk(_policy.Check(In("sub", "b.txt"), FileAccessKind.Write), In("sub", "b.txt"));
    }

    [Fact]
    public void A_new_file_in_an_existing_directory_can_be_written_but_not_read()
    {
        AssertOk(_policy.Check(In("sub", "new.txt"), FileAccessKind.Write), In("sub", "new.txt"));
        AssertRefused(_policy.Check(In("sub", "new.txt"), FileAccessKind.Read), FileErrorCodes.NotFound);
    }

    [Fact]
    public void Writing_into_a_missing_directory_is_not_found()
    {
        AssertRefused(_policy.Check(In("nodir", "new.txt"), FileAccessKind.Write), FileErrorCodes.NotFound);
        AssertRefused(_policy.Check(In("a.txt", "new.txt"), FileAccessKind.Write), FileErrorCodes.NotFound);
    }

    [Fact]
    public void Dot_and_dot_dot_are_normalised()
    {
        AssertOk(_policy.Check(_root + "/sub/./../a.txt", FileAccessKind.Read), In("a.txt"));
        AssertOk(_policy.Check(_root + "//sub///b.txt", FileAccessKind.Read), In("sub", "b.txt"));
    }

    [Fact]
    public void Dot_dot_traversal_out_of_the_root_is_forbidden()
    {
        AssertRefused(_policy.Check(_root + "/../outside/secret.txt", FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(_root + "/sub/../../outside/secret.txt", FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
        // Through a missing directory too: refused as outside, not reported as missing.
        AssertRefused(_policy.Check(_root + "/nodir/../../outside/new.txt", FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(_root + "/a.txt/../../outside/secret.txt", FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void A_root_is_a_prefix_of_whole_components_only()
    {
        AssertRefused(_policy.Check(Path.Combine(_dir, "rootX", "x.txt"), FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(Path.Combine(_dir, "rootX", "y.txt"), FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
        Assert.False(FilePolicy.IsInside("/data2", "/data"));
        Assert.False(FilePolicy.IsInside("/data2/x", "/data"));
        Assert.True(FilePolicy.IsInside("/data/x", "/data"));
        Assert.True(FilePolicy.IsInside("/data", "/data"));
        Assert.True(FilePolicy.IsInside("/anything", "/"));
    }

    [Fact]
    public void Paths_outside_every_root_are_forbidden_whether_or_not_they_exist()
    {
        AssertRefused(_policy.Check("/etc/hostname", FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check("/no/such/file", FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(Path.Combine(_dir, "outside", "new.txt"), FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void A_symlink_inside_the_root_pointing_outside_is_forbidden()
    {
        File.CreateSymbolicLink(In("escape.txt"), Path.Combine(_dir, "outside", "secret.txt"));
        Directory.CreateSymbolicLink(In("escape-dir"), Path.Combine(_dir, "outside"));
        File.CreateSymbolicLink(In("relative-escape.txt"), "../outside/secret.txt");

        AssertRefused(_policy.Check(In("escape.txt"), FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(In("escape.txt"), FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(In("escape-dir", "secret.txt"), FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(In("escape-dir", "new.txt"), FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(In("relative-escape.txt"), FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void A_dangling_symlink_pointing_outside_is_forbidden_for_writing()
    {
        File.CreateSymbolicLink(In("dangling"), Path.Combine(_dir, "outside", "not-yet.txt"));

        AssertRefused(_policy.Check(In("dangling"), FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void A_symlink_that_stays_inside_resolves_to_its_target()
    {
        File.CreateSymbolicLink(In("link.txt"), "sub/b.txt");
        Directory.CreateSymbolicLink(In("link-dir"), In("sub"));

        AssertOk(_policy.Check(In("link.txt"), FileAccessKind.Read), In("sub", "b.txt"));
        AssertOk(_policy.Check(In("link-dir", "b.txt"), FileAccessKind.Write), In("sub", "b.txt"));
        // ".." after a symlinked directory goes up from its target, as the kernel does.
        AssertOk(_policy.Check(In("link-dir", "..", "a.txt"), FileAccessKind.Read), In("a.txt"));
    }

    [Fact]
    public void A_symlinked_root_is_resolved_too()
    {
        var linkedRoot = Path.Combine(_dir, "root-link");
        Directory.CreateSymbolicLink(linkedRoot, _root);
        var policy = new FilePolicy([linkedRoot], Files);

        AssertOk(policy.Check(Path.Combine(linkedRoot, "a.txt"), FileAccessKind.Read), In("a.txt"));
        AssertOk(policy.Check(In("a.txt"), FileAccessKind.Read), In("a.txt"));
        AssertRefused(policy.Check(Path.Combine(_dir, "outside", "secret.txt"), FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void Symlink_loops_are_forbidden()
    {
        File.CreateSymbolicLink(In("loop1"), In("loop2"));
        File.CreateSymbolicLink(In("loop2"), In("loop1"));

        AssertRefused(_policy.Check(In("loop1"), FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void Directories_are_refused()
    {
        AssertRefused(_policy.Check(In("sub"), FileAccessKind.Read), FileErrorCodes.IsDirectory);
        AssertRefused(_policy.Check(In("sub"), FileAccessKind.Write), FileErrorCodes.IsDirectory);
        AssertRefused(_policy.Check(_root, FileAccessKind.Write), FileErrorCodes.IsDirectory);
    }

    [Fact]
    public void A_fifo_is_not_a_regular_file()
    {
        var fifo = In("pipe");
        using (var mkfifo = Process.Start("/usr/bin/mkfifo", fifo))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        AssertRefused(_policy.Check(fifo, FileAccessKind.Read), FileErrorCodes.NotARegularFile);
        AssertRefused(_policy.Check(fifo, FileAccessKind.Write), FileErrorCodes.NotARegularFile);
    }

    [Fact]
    public void Device_files_are_not_regular_files()
    {
        var policy = new FilePolicy(["/dev"], Files);

        AssertRefused(policy.Check("/dev/null", FileAccessKind.Read), FileErrorCodes.NotARegularFile);
        AssertRefused(policy.Check("/dev/zero", FileAccessKind.Write), FileErrorCodes.NotARegularFile);
    }

    [Fact]
    public void A_symlink_inside_the_root_to_a_device_is_refused()
    {
        File.CreateSymbolicLink(In("null"), "/dev/null");

        AssertRefused(_policy.Check(In("null"), FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(new FilePolicy([_root, "/dev"], Files).Check(In("null"), FileAccessKind.Read), FileErrorCodes.NotARegularFile);
    }

    [Theory]
    [InlineData("relative/a.txt")]
    [InlineData("a.txt")]
    [InlineData("")]
    public void Relative_paths_are_forbidden(string path)
    {
        AssertRefused(_policy.Check(path, FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void A_nul_character_is_forbidden()
    {
        AssertRefused(_policy.Check(In("a.txt") + "\0.png", FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(_policy.Check(In("a.txt\0"), FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void No_roots_refuse_everything()
    {
        var policy = new FilePolicy([], Files);

        AssertRefused(policy.Check(In("a.txt"), FileAccessKind.Read), FileErrorCodes.ForbiddenPath);
        AssertRefused(policy.Check("/tmp/x", FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void A_root_that_does_not_exist_allows_nothing()
    {
        var policy = new FilePolicy([Path.Combine(_dir, "missing-root")], Files);

        AssertRefused(policy.Check(Path.Combine(_dir, "missing-root", "a.txt"), FileAccessKind.Write), FileErrorCodes.ForbiddenPath);
    }

    [Fact]
    public void Relative_roots_are_a_programming_error()
    {
        Assert.Throws<ArgumentException>(() => new FilePolicy(["data"], Files));
    }

    [Fact]
    public void The_slash_root_allows_every_regular_file()
    {
        var policy = new FilePolicy(["/"], Files);

        AssertOk(policy.Check(Path.Combine(_dir, "outside", "secret.txt"), FileAccessKind.Read), Path.Combine(_dir, "outside", "secret.txt"));
    }
}
