using System.Diagnostics;
using System.Runtime.InteropServices;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// The Debian package as an operator meets it (tools/package.sh): installed into a throw-away root
/// with dpkg (its maintainer scripts run there, honouring DPKG_ROOT; nothing touches this machine's
/// system), the installed self-contained binary run against the Zaqar bed, then upgraded to a newer
/// package while casts are in flight. The default suite packages one build twice under two versions
/// (light compression): the self-contained agent tools/test.sh published for every test when there
/// is one (`package.sh --no-publish`), otherwise its own `package.sh --quick` build (no ReadyToRun
/// code); the longer mode builds both releases as they ship. Also the cloud-init user-data
/// guestctl prints for a guest, through Debian's cloud-init schema check.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PackageTests
{
    private const string OldVersion = "0.9.1";
    private const string NewVersion = "0.9.2";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private static bool LongMode => Environment.GetEnvironmentVariable(LongFactAttribute.Variable) == "1";

    [Fact]
    public async Task Deb_installs_runs_on_Zaqar_and_upgrades_with_casts_in_flight_losing_none()
    {
        var work = Directory.CreateTempSubdirectory("ga-package-").FullName;
        AgentProcess? agent = null;
        try
        {
            var (rid, debArch) = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? ("arm64", "arm64") : ("x64", "amd64");
            var packages = Path.Combine(work, "packages");
            // The default suite's packages hold one build, which says the version it was published with.
            var suiteBuild = LongMode ? null : StageSuiteAgent(rid, packages);
            var oldDeb = Package(OldVersion, rid, packages, debArch, release: LongMode, publish: suiteBuild is null);
            var newDeb = Package(NewVersion, rid, packages, debArch, release: LongMode, publish: LongMode);
            var oldBinaryVersion = suiteBuild ?? OldVersion;
            var newBinaryVersion = LongMode ? NewVersion : oldBinaryVersion;

            // A fresh install into an empty root.
            var root = Path.Combine(work, "root");
            Directory.CreateDirectory(Path.Combine(root, "var", "lib", "dpkg", "info"));
            Directory.CreateDirectory(Path.Combine(root, "var", "lib", "dpkg", "updates"));
            File.WriteAllText(Path.Combine(root, "var", "lib", "dpkg", "status"), "");
            Dpkg(root, "-i", oldDeb);

            var binary = Path.Combine(root, "opt", "guest-agent", "guest-agent");
            var conf = Path.Combine(root, "etc", "guest-agent", "guest-agent.conf");
            var state = Path.Combine(root, "var", "lib", "guest-agent");
            Assert.Contains($"Version: {OldVersion}", Dpkg(root, "-s", "guest-agent"));
            Assert.Equal($"guest-agent {oldBinaryVersion}", Run(binary, "--version").Stdout.Trim());
            Assert.Equal("../../opt/guest-agent/guest-agent", new FileInfo(Path.Combine(root, "usr", "sbin", "guest-agent")).LinkTarget);
            Assert.Equal(File.ReadAllText(RepoPaths.Root + "/hocon/guest-agent.conf"), File.ReadAllText(conf));
            Assert.Equal("/etc/guest-agent/guest-agent.conf", File.ReadAllText(Path.Combine(root, "var", "lib", "dpkg", "info", "guest-agent.conffiles")).Trim());
            Assert.True(Directory.Exists(state), "postinst did not make the state directory");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(state));
            Assert.True(File.Exists(Path.Combine(root, "etc", "systemd", "system", "multi-user.target.wants", "guest-agent.service")),
                "postinst did not enable the unit");

            // The unit as systemd reads it (its ExecStart pointed into the root, where the binary is).
            VerifyUnit(root, work);

            // As shipped, the configuration has no binding: the agent says so and would not start.
            var check = Run(binary, "--check-config", "--config", conf);
            Assert.Equal(78, check.ExitCode);
            Assert.Contains("no tenant binding configured", check.Stderr);

            // The operator writes the binding (key in a file beside it), as cloud-init would.
            var tenant = E2EContext.NewTenant("t1", maxOperations: 3);
            var keyFile = Path.Combine(root, "etc", "guest-agent", "t1.key");
            File.WriteAllText(keyFile, Convert.ToBase64String(TestKeys.K1.Secret) + "\n");
            var marks = Path.Combine(work, "marks");
            Directory.CreateDirectory(marks);
            var operatorConf = $$"""
                guest-agent {
                  name = "packaged"
                  state-dir = "{{state}}"
                  shutdown-grace = 2s
                  poll { min-interval = 100ms, max-interval = 400ms, max-fault-backoff = 2s }
                  tenants {
                    t1 {
                      endpoint = "{{ZaqarBed.Shared.Url}}"
                      project = "{{tenant.Project}}"
                      command-queue = "{{tenant.CommandQueue}}"
                      reply-queue = "{{tenant.ReplyQueue}}"
                      max-operations = 3
                      signing.keys = [{ id = "{{TestKeys.K1.Id}}", secret-file = "{{keyFile}}" }]
                    }
                  }
                }
                """;
            File.WriteAllText(conf, operatorConf);
            Assert.Equal(0, Run(binary, "--check-config", "--config", conf).ExitCode);

            agent = AgentProcess.StartExecutable(binary, conf, work);
            var controller = RawController.For(ZaqarBed.Shared, tenant);
            var call = await controller.SendAsync(controller.Exec(new ExecArgs { Shell = "echo installed" }));
            var callFinal = await controller.FinalAsync(call.Id, Wait);
            Assert.Equal(ReplyStatus.Succeeded, callFinal.Status);
            Assert.Equal("installed\n", callFinal.ResultAs<ExecResult>()!.Stdout.Data);
            Assert.Contains($"guest-agent {oldBinaryVersion} starting", agent.Log);
            var clientId = File.ReadAllText(Path.Combine(state, "client-id"));
            var stateFiles = Directory.GetFiles(state, "*", SearchOption.TopDirectoryOnly).Select(Path.GetFileName).ToHashSet();

            // Casts in flight: three running (the binding's cap), three still in the queue.
            var casts = new List<Guid>();
            for (var i = 0; i < 6; i++)
            {
                var cast = await controller.SendAsync(controller.Exec(new ExecArgs
                {
                    Shell = $"echo attempt=$GUESTAGENT_ATTEMPT >> {marks}/cast{i}; sleep 8; echo cast{i}",
                }, CommandMode.Cast, InterruptPolicy.Rerun));
                casts.Add(cast.Id);
            }
            await E2EContext.WaitForAsync(() => Directory.GetFiles(marks).Length >= 3, "three casts running");

            // The upgrade as dpkg does it: new files in place under the running agent, then the
            // restart postinst asks systemd for (SIGTERM, then the new binary).
            Dpkg(root, "-i", newDeb);
            Assert.Contains($"Version: {NewVersion}", Dpkg(root, "-s", "guest-agent"));
            Assert.True(agent.Stop(TimeSpan.FromSeconds(30)), "the old agent did not exit after SIGTERM");
            Assert.Contains("operation(s) still running; exec runs go on without the agent", agent.Log);
            Assert.Equal(operatorConf, File.ReadAllText(conf));
            Assert.True(File.Exists(keyFile), "the upgrade lost the operator's key file");
            Assert.False(File.Exists(conf + ".dpkg-new") || File.Exists(conf + ".dpkg-old"), "dpkg left a conffile copy: the operator's edit was not simply kept");
            Assert.Equal($"guest-agent {newBinaryVersion}", Run(binary, "--version").Stdout.Trim());
            agent.Start();

            var takenOver = 0;
            foreach (var (id, i) in casts.Select((id, i) => (id, i)))
            {
                var final = await controller.FinalAsync(id, Wait);
                Assert.True(final.Status == ReplyStatus.Succeeded, $"cast{i} ended {final.Status}: {final.Result}\n{agent.Log}");
                var result = final.ResultAs<ExecResult>()!;
                Assert.Equal($"cast{i}\n", result.Stdout.Data);
                // Each ran once: a run the upgrade caught was reattached by the new agent, not run again.
                Assert.Equal(["attempt=1"], File.ReadAllLines(Path.Combine(marks, $"cast{i}")));
                takenOver += result.Reattached == true ? 1 : 0;
            }
            // The ones the old agent was running outlived it and were reported by the new one.
            Assert.InRange(takenOver, 1, 3);
            Assert.Contains($"guest-agent {newBinaryVersion} starting", agent.Log);
            var after = await controller.SendAsync(controller.Exec(new ExecArgs { Shell = "echo upgraded" }));
            Assert.Equal("upgraded\n", (await controller.FinalAsync(after.Id, Wait)).ResultAs<ExecResult>()!.Stdout.Data);

            // The state survived: same Zaqar client id, every file still there.
            Assert.Equal(clientId, File.ReadAllText(Path.Combine(state, "client-id")));
            Assert.Subset(Directory.GetFiles(state, "*", SearchOption.TopDirectoryOnly).Select(Path.GetFileName).ToHashSet(), stateFiles);

            // remove keeps state and configuration; purge deletes them.
            Assert.True(agent.Stop(TimeSpan.FromSeconds(30)), "the new agent did not exit after SIGTERM");
            Dpkg(root, "-r", "guest-agent");
            Assert.False(File.Exists(binary), "remove left the binary");
            Assert.True(File.Exists(Path.Combine(state, "client-id")), "remove deleted the state");
            Assert.Equal(operatorConf, File.ReadAllText(conf));
            Dpkg(root, "-P", "guest-agent");
            Assert.False(Directory.Exists(state), "purge left the state directory");
            Assert.False(Directory.Exists(Path.Combine(root, "etc", "guest-agent")), "purge left /etc/guest-agent");
        }
        finally
        {
            agent?.Kill();
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Fact]
    public async Task Guestctl_mint_cloud_init_prints_user_data_that_cloud_init_accepts_and_whose_binding_the_agent_accepts()
    {
        var work = Directory.CreateTempSubdirectory("ga-cloud-init-").FullName;
        try
        {
            var aptKey = Path.Combine(work, "repo.asc");
            File.WriteAllText(aptKey, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGexample\n-----END PGP PUBLIC KEY BLOCK-----\n");
            var env = new Dictionary<string, string>
            {
                ["HOME"] = work,
                ["ZAQAR_SIGNED_URL_SECRET"] = "test-signed-url-secret",
                ["GUESTAGENT_SIGNING_KEYS"] = $"{TestKeys.K1.Id}={Convert.ToBase64String(TestKeys.K1.Secret)}",
            };
            string[] mint = ["credentials", "mint", "--endpoint", "http://192.0.2.10:8888", "--project", "p-cloud-init",
                "--queue", "guest-vm1", "--reply-queue", "replies-vm1", "--expires-in", "2d", "--cloud-init", "--agent-name", "vm1",
                "--binding", "shop", "--apt-source", "deb [signed-by=$KEY_FILE] https://repo.example/guest-agent bookworm main", "--apt-key-file", aptKey];
            var (code, userData, stderr) = await Guestctl.RunAsync(mint, env);
            Assert.True(code == 0, $"guestctl credentials mint --cloud-init failed ({code}): {stderr}");
            Assert.StartsWith("#cloud-config\n", userData);
            var file = Path.Combine(work, "user-data.yaml");
            File.WriteAllText(file, userData);

            // Debian's cloud-init says it is valid user-data (and so is the example shipped beside it).
            var validate = Run(RepoPaths.Tool("cloud-init", "validate.sh"), TimeSpan.FromMinutes(5), file, RepoPaths.Tool("cloud-init", "user-data.example.yaml"));
            Assert.True(validate.ExitCode == 0, $"cloud-init schema: {validate.Stdout}{validate.Stderr}\n{userData}");
            Assert.Contains($"Valid cloud-config: {file}", validate.Stdout);

            // The files it writes, as cloud-init would (parsed by the YAML library cloud-init uses).
            var files = Path.Combine(work, "files");
            Directory.CreateDirectory(files);
            var extract = Run("/usr/bin/python3", TimeSpan.FromMinutes(1), "-c",
                "import sys, yaml\n" +
                "d = yaml.safe_load(open(sys.argv[1]))\n" +
                "assert d['packages'] == ['guest-agent'], d['packages']\n" +
                "for f in d['write_files']:\n" +
                "    assert f['defer'] is True and f['permissions'] == '0600', f\n" +
                "    open(sys.argv[2] + '/' + f['path'].rsplit('/', 1)[1], 'w').write(f['content'])\n" +
                "print(' '.join(f['path'] for f in d['write_files']))\n",
                file, files);
            Assert.True(extract.ExitCode == 0, extract.Stderr);
            Assert.Equal($"/etc/guest-agent/guest-agent.conf /etc/guest-agent/{TestKeys.K1.Id}.key", extract.Stdout.Trim());
            Assert.Equal(Convert.ToBase64String(TestKeys.K1.Secret), File.ReadAllText(Path.Combine(files, $"{TestKeys.K1.Id}.key")).Trim());

            // The agent accepts the binding as written: pre-signed URLs for its project and queues, the key file.
            var conf = Path.Combine(files, "guest-agent.conf");
            File.WriteAllText(conf, File.ReadAllText(conf).Replace("/etc/guest-agent/", files + "/") +
                                    $"\nguest-agent.state-dir = \"{Path.Combine(work, "state")}\"\n");
            var check = Run("dotnet", TimeSpan.FromMinutes(1), AgentProcess.AgentDll, "--check-config", "--config", conf);
            Assert.True(check.ExitCode == 0, $"guest-agent --check-config ({check.ExitCode}): {check.Stderr}\n{File.ReadAllText(conf)}");
            Assert.Contains("1 tenant binding(s)", check.Stdout);

            // Without the key the guest needs, guestctl says so instead of printing user-data.
            env.Remove("GUESTAGENT_SIGNING_KEYS");
            var noKey = await Guestctl.RunAsync(mint, env);
            Assert.Equal(2, noKey.ExitCode);
            Assert.Contains("GUESTAGENT_SIGNING_KEYS", noKey.Stderr);
            Assert.Equal("", noKey.Stdout);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// tools/package.sh for this machine's architecture, the agent only; the .deb's path.
    /// <paramref name="release"/>: with ReadyToRun code, as releases are; <paramref name="publish"/>
    /// false: the build an earlier call published, under <paramref name="version"/>.
    /// </summary>
    private static string Package(string version, string rid, string outDir, string debArch, bool release, bool publish = true)
    {
        string[] args = ["--arch", rid, "--only", "agent", "--no-tarball", "--version", version, "--out", outDir,
            .. release ? Array.Empty<string>() : ["--quick"], .. publish ? Array.Empty<string>() : ["--no-publish"]];
        var (code, stdout, stderr) = Run(RepoPaths.Tool("package.sh"), TimeSpan.FromMinutes(10), args);
        Assert.True(code == 0, $"package.sh --version {version} failed ({code}): {stderr}{stdout}");
        var deb = Path.Combine(outDir, $"guest-agent_{version}_{debArch}.deb");
        Assert.True(File.Exists(deb), $"package.sh did not write {deb}: {stdout}");
        return deb;
    }

    /// <summary>
    /// The self-contained agent tools/test.sh published for the suite (GUESTAGENT_AGENT_EXECUTABLE),
    /// linked where `package.sh --no-publish` takes a build from; the version it says. Null when
    /// there is none, or it needs a .NET runtime beside it (a package carries its own): the test
    /// then publishes one.
    /// </summary>
    private static string? StageSuiteAgent(string rid, string outDir)
    {
        if (AgentProcess.AgentExecutable is not { } executable || Path.GetFileName(executable) != "guest-agent")
        {
            return null;
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(executable))!;
        if (!File.Exists(Path.Combine(dir, "libcoreclr.so")))
        {
            return null;
        }
        var version = Run(executable, "--version").Stdout.Trim();
        Assert.StartsWith("guest-agent ", version);
        var publish = Directory.CreateDirectory(Path.Combine(outDir, "publish", $"linux-{rid}")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(publish, "guest-agent"), dir);
        return version["guest-agent ".Length..];
    }

    /// <summary>dpkg on the throw-away root; maintainer scripts run outside a chroot with DPKG_ROOT set.</summary>
    private static string Dpkg(string root, params string[] args)
    {
        string[] all = [$"--root={root}", "--force-script-chrootless", "--force-not-root", "--force-depends",
            "--force-confdef", "--force-confold", .. args];
        var (code, stdout, stderr) = Run("dpkg", TimeSpan.FromMinutes(3), all);
        Assert.True(code == 0, $"dpkg {string.Join(' ', args)} failed ({code}): {stderr}{stdout}");
        return stdout;
    }

    /// <summary>systemd-analyze verify on the installed unit, its ExecStart pointed at the binary in the root.</summary>
    private static void VerifyUnit(string root, string work)
    {
        Assert.True(File.Exists("/usr/bin/systemd-analyze"), "systemd-analyze is missing: apt-get install systemd");
        var unit = File.ReadAllText(Path.Combine(root, "lib", "systemd", "system", "guest-agent.service"));
        Assert.Contains("ExecStart=/opt/guest-agent/guest-agent --config /etc/guest-agent/guest-agent.conf", unit);
        var dir = Directory.CreateDirectory(Path.Combine(work, "unit")).FullName;
        var copy = Path.Combine(dir, "guest-agent.service");
        File.WriteAllText(copy, unit.Replace("/opt/guest-agent/", root + "/opt/guest-agent/"));
        var (code, stdout, stderr) = Run("systemd-analyze", TimeSpan.FromMinutes(1), "verify", copy);
        Assert.True(code == 0 && stderr.Trim() == "" && stdout.Trim() == "", $"systemd-analyze verify ({code}): {stderr}{stdout}");
    }

    private static (int ExitCode, string Stdout, string Stderr) Run(string file, params string[] args) => Run(file, TimeSpan.FromMinutes(1), args);

    private static (int ExitCode, string Stdout, string Stderr) Run(string file, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout}");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
