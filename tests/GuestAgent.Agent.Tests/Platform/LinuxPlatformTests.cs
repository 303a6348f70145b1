using System.Diagnostics;
using System.Text;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Platform.Linux;

namespace GuestAgent.Agent.Tests.Platform;

/// <summary>The Linux platform against real processes, users and files.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LinuxPlatformTests : IDisposable
{
    private const string Tag = "GUESTAGENT_COMMAND_ID";

    private readonly GuestPlatform _linux = LinuxPlatform.Create();
    private readonly string _dir = Directory.CreateTempSubdirectory("linux-platform-tests-").FullName;
    private readonly List<Process> _started = [];
    private readonly List<IStartedRun> _runs = [];

    public void Dispose()
    {
        foreach (var run in _runs)
        {
            if (!run.HasExited)
            {
                run.Kill();
            }
        }
        foreach (var p in _started)
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
            p.Dispose();
        }
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Starts <paramref name="shell"/> under sh with <see cref="Tag"/> set to <paramref name="tag"/>, as a run's processes have it.</summary>
    /// <summary>A tagged shell; <paramref name="sessionLeader"/>: leading a session of its own, as a run's supervisor does.</summary>
    private Process StartTagged(string shell, string tag, bool sessionLeader = false)
    {
        var psi = sessionLeader
            ? new ProcessStartInfo("setsid") { RedirectStandardOutput = true, ArgumentList = { "/bin/sh", "-c", shell } }
            : new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, ArgumentList = { "-c", shell } };
        psi.Environment[Tag] = tag;
        return Track(Process.Start(psi)!);
    }

    private Process Track(Process p)
    {
        _started.Add(p);
        return p;
    }

    /// <summary>True once /proc/pid is gone or a zombie (the container's init may not reap orphans).</summary>
    private static async Task<bool> GoneAsync(int pid, TimeSpan within)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            string? stat = null;
            try
            {
                stat = await File.ReadAllTextAsync($"/proc/{pid}/stat");
            }
            catch (IOException)
            {
            }
            if (stat is null || stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z'))
            {
                return true;
            }
            if (sw.Elapsed > within)
            {
                return false;
            }
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Leftovers_of_a_command_are_found_by_their_tag_and_killed_children_included_and_nothing_else()
    {
        var id = Guid.NewGuid().ToString("D");
        var leftover = StartTagged("sleep 100 & echo $!; wait", id);
        var child = int.Parse((await leftover.StandardOutput.ReadLineAsync())!);
        var other = StartTagged("sleep 100", Guid.NewGuid().ToString("D"));

        var killed = _linux.Processes.KillTagged(Tag, id);

        Assert.Equal(new[] { child, leftover.Id }.Order(), killed.Order());
        await leftover.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(await GoneAsync(child, TimeSpan.FromSeconds(5)), "the leftover's child still runs");
        Assert.False(other.HasExited, "a process of another command was killed");
        Assert.Empty(_linux.Processes.KillTagged(Tag, id));
    }

    [Fact]
    public async Task Leftovers_still_starting_children_while_they_are_killed_leave_none_alive()
    {
        // The leftover forks children as fast as it can; when the kill comes some child is between
        // fork and exec (its environ reads empty for that moment) or is forked after the scan passed.
        var id = Guid.NewGuid().ToString("D");
        var leftover = StartTagged("i=0; while [ $i -lt 400 ]; do sleep 100 & i=$((i+1)); [ $i = 20 ] && echo started; done; wait", id,
            sessionLeader: true);
        Assert.Equal("started", await leftover.StandardOutput.ReadLineAsync());

        var killed = _linux.Processes.KillTagged(Tag, id);

        Assert.Contains(leftover.Id, killed);
        Assert.True(killed.Count > 20, $"only {killed.Count} processes killed");
        // SIGKILL takes effect asynchronously (a loaded machine shows killed processes for a moment):
        // what the call missed is still alive seconds later, what it killed is gone.
        var sw = Stopwatch.StartNew();
        List<string> alive;
        while ((alive = AliveOfSession(leftover.Id, id)).Count > 0 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100);
        }
        Assert.True(alive.Count == 0, $"still alive 10 s after the kill: {string.Join(", ", alive)}");
    }

    /// <summary>Processes, zombies aside, in the session <paramref name="session"/> or carrying the tag: "pid state".</summary>
    private static List<string> AliveOfSession(int session, string tag)
    {
        var marker = Encoding.UTF8.GetBytes($"{Tag}={tag}\0");
        var alive = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText($"{dir}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] is "Z" or "X")
                {
                    continue;
                }
                var environ = File.ReadAllBytes($"{dir}/environ");
                if (fields[3] == session.ToString() || environ.AsSpan().IndexOf(marker) >= 0)
                {
                    alive.Add($"{pid} {fields[0]}");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return alive;
    }

    /// <summary>Starts <paramref name="command"/> as a run, with its files (created empty) in the test's directory.</summary>
    private (IStartedRun Run, RunFiles Files) StartRun(IReadOnlyList<string> command, string? cwd = null,
        Dictionary<string, string>? environment = null)
    {
        var files = RunFiles.For(_dir, Guid.NewGuid(), 1);
        File.WriteAllText(files.Stdout, "");
        File.WriteAllText(files.Stderr, "");
        var (run, refusal) = _linux.Processes.Start(new RunStart(command, cwd ?? _dir, environment ?? [], null, files, WithStdin: false));
        Assert.Null(refusal);
        _runs.Add(run!);
        return (run!, files);
    }

    /// <summary>The first line the run wrote to stdout, once it has written one.</summary>
    private static async Task<string> FirstLineAsync(RunFiles files)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var text = await File.ReadAllTextAsync(files.Stdout);
            if (text.IndexOf('\n') is var end and >= 0)
            {
                return text[..end];
            }
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), "the run wrote no line");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Terminating_a_tree_reaches_a_grandchild_and_names_the_signal_that_ended_it()
    {
        var (run, files) = StartRun(_linux.Processes.ShellCommand("sleep 100 & echo $!; wait"));
        var grandchild = int.Parse(await FirstLineAsync(files));

        await run.TerminateAsync(TimeSpan.FromSeconds(2), TimeProvider.System);

        Assert.True(run.HasExited);
        Assert.Equal("SIGTERM", run.SignalThatEnded((await run.Exited)!.Value));
        Assert.Equal(143, files.ReadExitCode()); // the supervisor outlived the terminate and recorded it
        Assert.True(await GoneAsync(grandchild, TimeSpan.FromSeconds(2)), "the grandchild still runs");
    }

    [Fact]
    public async Task A_tree_that_ignores_terminate_is_killed_after_the_grace_and_an_exit_code_it_chose_is_its_own()
    {
        var (stubborn, files) = StartRun(_linux.Processes.ShellCommand("trap '' TERM; echo ready; sleep 100"));
        Assert.Equal("ready", await FirstLineAsync(files)); // the trap is set

        var sw = Stopwatch.StartNew();
        await stubborn.TerminateAsync(TimeSpan.FromMilliseconds(500), TimeProvider.System);

        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(450), TimeSpan.FromSeconds(5));
        Assert.Equal("SIGKILL", stubborn.SignalThatEnded((await stubborn.Exited)!.Value));

        var (exits, exitsFiles) = StartRun(_linux.Processes.ShellCommand("exit 143"));
        Assert.Equal(143, await exits.Exited);
        Assert.Equal(143, exitsFiles.ReadExitCode());
        Assert.Null(exits.SignalThatEnded(143));
    }

    [Fact]
    public async Task A_run_leads_a_session_of_its_own_with_no_signal_ignored_or_blocked_and_the_agents_streams_untouched()
    {
        var (run, files) = StartRun(["/bin/sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"]);

        Assert.Equal(0, await run.Exited);
        // The runtime ignores SIGPIPE in the agent; a run must not inherit that (a pipeline would not end).
        Assert.Equal("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", await File.ReadAllTextAsync(files.Stdout));
        var stat = await File.ReadAllTextAsync($"/proc/{Environment.ProcessId}/stat");
        var agentSession = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[3];

        var (sleeper, _) = StartRun(["/bin/sleep", "100"]);
        var fields = (await File.ReadAllTextAsync($"/proc/{sleeper.Id}/stat")).Split(')')[1].TrimStart().Split(' ');
        Assert.Equal(sleeper.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), fields[2]); // process group
        Assert.Equal(sleeper.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), fields[3]); // session
        Assert.NotEqual(agentSession, fields[3]);
        sleeper.Kill();
        Assert.Equal(128 + 9, await sleeper.Exited.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "pipe")]
    private static extern int SysPipe(int[] fds);

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // as on a libc without posix_spawn_file_actions_addclosefrom_np
    public async Task A_run_and_its_supervisor_hold_none_of_the_agents_descriptors_and_its_command_sees_only_its_own_three(bool closeFrom)
    {
        // A descriptor the agent got without close-on-exec, as one inherited from whatever started it.
        var pipe = new int[2];
        Assert.Equal(0, SysPipe(pipe));
        PosixSpawn.UseCloseFrom = closeFrom;
        try
        {
            var (run, files) = StartRun(["/bin/sh", "-c", "ls /proc/$$/fd; echo done; exec sleep 100"]);
            var sw = Stopwatch.StartNew();
            string text;
            while (!(text = await File.ReadAllTextAsync(files.Stdout)).EndsWith("done\n", StringComparison.Ordinal))
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), "the run listed nothing");
                await Task.Delay(20);
            }
            var listed = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).SkipLast(1).ToArray();
            Assert.Equal(["0", "1", "2"], listed);

            // The supervisor (the session's leader) holds /dev/null and the run's own files only: not the
            // agent's stdout or log stream, which a run outliving the agent would otherwise keep open.
            var held = Directory.GetFileSystemEntries($"/proc/{run.Id}/fd")
                .Select(fd => new FileInfo(fd).LinkTarget ?? "")
                .ToList();
            Assert.NotEmpty(held);
            Assert.All(held, target => Assert.True(target == "/dev/null" || target.StartsWith(_dir, StringComparison.Ordinal),
                $"the supervisor holds {target}"));
            Assert.Contains(files.Stderr, held);
        }
        finally
        {
            PosixSpawn.UseCloseFrom = true;
            Native.Close(pipe[0]);
            Native.Close(pipe[1]);
        }
    }

    [Fact]
    public async Task Runs_at_once_each_get_their_own_end_from_one_waiting_thread()
    {
        // Ends out of start order: the last started ends first.
        var runs = Enumerable.Range(0, 24)
            .Select(i => StartRun(_linux.Processes.ShellCommand($"sleep 0.{24 - i:D2}; exit {i}")).Run)
            .ToList();
        var (killed, _) = StartRun(["/bin/sleep", "100"]);

        var waiters = ThreadsNamed("run-reaper");
        killed.Kill();

        Assert.Equal(Enumerable.Range(0, 24).Select(i => (int?)i), await Task.WhenAll(runs.Select(r => r.Exited)).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(128 + 9, await killed.Exited.WaitAsync(TimeSpan.FromSeconds(5)));
        // This kernel has pidfds (5.3 and later): 25 runs in flight were waited for by one thread, not one each.
        Assert.Equal(1, waiters);
    }

    private static int ThreadsNamed(string name) =>
        Directory.GetDirectories($"/proc/{Environment.ProcessId}/task")
            .Count(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == name);

    [Fact]
    public async Task A_run_gets_its_directory_and_environment_and_a_directory_gone_before_it_started_is_its_error()
    {
        var work = Directory.CreateDirectory(Path.Combine(_dir, "work dir")).FullName;
        var (run, files) = StartRun(["/bin/sh", "-c", "pwd; echo \"$GA_TEST_VALUE\""], work, new() { ["GA_TEST_VALUE"] = "a b" });

        Assert.Equal(0, await run.Exited);
        Assert.Equal($"{work}\na b\n", await File.ReadAllTextAsync(files.Stdout));

        var gone = Path.Combine(_dir, "gone");
        var (late, lateFiles) = StartRun(["/bin/true"], gone);
        Assert.Equal(2, await late.Exited);
        Assert.Equal(2, lateFiles.ReadExitCode());
        Assert.Contains($"can't cd to {gone}", await File.ReadAllTextAsync(lateFiles.Stderr));
    }

    [Fact]
    public async Task A_run_does_not_inherit_how_the_agents_runtime_compiles_unless_its_command_sets_it()
    {
        // The package's unit gives the agent these; a .NET program run by a command must not get them.
        var before = Environment.GetEnvironmentVariable("DOTNET_TC_CallCounting");
        Environment.SetEnvironmentVariable("DOTNET_TC_CallCounting", "0");
        try
        {
            var (run, files) = StartRun(["/bin/sh", "-c", "echo \"[${DOTNET_TC_CallCounting-unset}] [$DOTNET_TieredCompilation] [$HOME]\""], _dir,
                new() { ["DOTNET_TieredCompilation"] = "0" });
            Assert.Equal(0, await run.Exited);
            Assert.Equal($"[unset] [0] [{Environment.GetEnvironmentVariable("HOME")}]\n", await File.ReadAllTextAsync(files.Stdout));
        }
        finally
        {
            Environment.SetEnvironmentVariable("DOTNET_TC_CallCounting", before);
        }
    }

    [Fact]
    public void Without_a_shell_no_process_can_be_started_and_the_message_says_why()
    {
        var missing = Path.Combine(_dir, "sh");
        var processes = new LinuxProcessControl(new LinuxAccounts()) { ShellPath = missing };

        var (run, refusal) = processes.Start(new RunStart(["/bin/true"], _dir, new Dictionary<string, string>(), null,
            RunFiles.For(_dir, Guid.NewGuid(), 1), WithStdin: false));

        Assert.Null(run);
        Assert.Equal($"cannot start processes: {missing}: No such file or directory", refusal);
    }

    [Fact]
    public void Root_and_its_group_are_looked_up_and_unknown_names_are_null()
    {
        var root = _linux.Accounts.FindUser("root");

        Assert.Equal(new GuestUser("root", 0, 0, "/root"), root);
        Assert.Equal(0u, _linux.Accounts.FindGroup("root"));
        Assert.Null(_linux.Accounts.FindUser("no-such-user-xyz"));
        Assert.Null(_linux.Accounts.FindGroup("no-such-group-xyz"));
        Assert.Null(_linux.Accounts.FindUser("bad\0name"));
    }

    [Fact]
    public void Running_as_the_agents_own_user_needs_no_switch_and_an_unknown_user_is_refused()
    {
        var self = Environment.UserName;
        Assert.Equal(_linux.Accounts.FindUser(self)!.Uid, _linux.Accounts.EffectiveUserId);

        var (toSelf, selfRefusal) = _linux.Processes.SwitchTo(self);
        Assert.Null(toSelf);
        Assert.Null(selfRefusal);
        var (toNobody, unknown) = _linux.Processes.SwitchTo("no-such-user-xyz");
        Assert.Null(toNobody);
        Assert.Equal("run_as: no such user 'no-such-user-xyz'", unknown);
        if (self == "root")
        {
            var (to, refusal) = _linux.Processes.SwitchTo("nobody");
            Assert.Null(refusal);
            Assert.Equal("nobody", to!.Environment["USER"]);
            Assert.Equal(to.User.Home, to.Environment["HOME"]);
        }
    }

    [Fact]
    public void Owner_only_files_are_created_0600_and_modes_owners_and_types_are_read_and_set()
    {
        var path = Path.Combine(_dir, "secret");
        using (var s = _linux.Files.OpenOwnerOnly(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write }))
        {
            s.WriteByte(1);
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        _linux.Files.SetMode(path, (UnixFileMode)Convert.ToInt32("0750", 8));
        Assert.Equal("0750", Convert.ToString((int)_linux.Files.ModeOf(path), 8).PadLeft(4, '0'));
        using (var handle = File.OpenHandle(path))
        {
            Assert.Equal(_linux.Files.ModeOf(path), _linux.Files.ModeOf(handle));
        }
        // uint.MaxValue leaves both ids as they are: allowed to anyone, changes nothing.
        Assert.Equal(0, _linux.Files.SetOwner(path, uint.MaxValue, uint.MaxValue));

        var link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, path);
        Assert.Equal(new PathEntry(PathLookup.Found, FileType.Regular, 0), _linux.Files.LinkStat(path));
        Assert.Equal(FileType.Symlink, _linux.Files.LinkStat(link).Type);
        Assert.Equal(FileType.CharacterDevice, _linux.Files.LinkStat("/dev/null").Type);
        Assert.Equal(PathLookup.NoEntry, _linux.Files.LinkStat(Path.Combine(_dir, "missing")).Lookup);
        Assert.Equal(PathLookup.NotADirectory, _linux.Files.LinkStat(Path.Combine(path, "below")).Lookup);
        Assert.Equal(path, _linux.Files.RealPath(link));
        Assert.Null(_linux.Files.RealPath(Path.Combine(_dir, "missing")));
        Assert.Equal(0, _linux.Files.FsyncDirectory(_dir));
    }

    [Fact]
    public void Programs_are_found_in_path_and_a_file_without_execute_bits_is_not_one()
    {
        var notExecutable = Path.Combine(_dir, "script");
        File.WriteAllText(notExecutable, "#!/bin/sh\n");

        var sh = _linux.Processes.ResolveProgram("sh", _dir, "/nonexistent:/bin");

        Assert.Equal(new ResolvedProgram("/bin/sh", null), sh);
        Assert.Equal(new ResolvedProgram(null, "program './script' is not an executable file"), _linux.Processes.ResolveProgram("./script", _dir, null));
        Assert.Equal(new ResolvedProgram(null, "program 'no-such-program-xyz' not found in PATH"), _linux.Processes.ResolveProgram("no-such-program-xyz", _dir, "/bin"));
    }
}
