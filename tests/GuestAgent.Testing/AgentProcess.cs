using System.Diagnostics;
using System.Text;
using GuestAgent.Protocol.Signing;

namespace GuestAgent.Testing;

/// <summary>Fixed signing keys of test agents and controllers (never use them anywhere else).</summary>
public static class TestKeys
{
    /// <summary>The key every test binding has unless it says otherwise.</summary>
    public static readonly SigningKey K1 = SigningKey.FromBase64("test-k1", Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray()));

    /// <summary>A second key, for rotation.</summary>
    public static readonly SigningKey K2 = SigningKey.FromBase64("test-k2", Convert.ToBase64String(Enumerable.Range(101, 32).Select(i => (byte)i).ToArray()));

    /// <summary>A key no agent has, with an id one of them uses (a guest that guessed the id but not the secret).</summary>
    public static readonly SigningKey WrongSecret = new("test-k1", Enumerable.Range(200, 32).Select(i => (byte)i).ToArray());
}

/// <summary>
/// One tenant binding of an agent under test. Its agent takes commands signed with <see cref="SigningKeys"/>
/// (default: <see cref="TestKeys.K1"/>), and unsigned ones only with <see cref="AllowUnsigned"/>.
/// <see cref="ExtraConfig"/> is HOCON added inside the binding (e.g. an <c>auth { mode = presigned ... }</c> block).
/// </summary>
public sealed record TestTenant(string Name, string Project, string CommandQueue, string ReplyQueue, int MaxOperations = 4,
    IReadOnlyList<string>? AllowedOps = null, IReadOnlyList<string>? HttpDestinations = null, IReadOnlyList<string>? FileRoots = null,
    IReadOnlyList<SigningKey>? SigningKeys = null, bool AllowUnsigned = false, string? ExtraConfig = null)
{
    public IReadOnlyList<SigningKey> Keys => SigningKeys ?? [TestKeys.K1];
}

/// <summary>
/// A real guest-agent process (the built guest-agent.dll) against a <see cref="ZaqarBed"/>, with
/// its own state directory. Kill() is kill -9; Start() again recovers from the same journal.
/// </summary>
public sealed class AgentProcess : IDisposable
{
    private readonly StringBuilder _log = new();
    private readonly object _gate = new();
    private Process? _process;

    private readonly IReadOnlyList<string> _launcher;
    private readonly IReadOnlyDictionary<string, string?> _environment;

    private AgentProcess(string stateDir, string configPath, string? executable = null, IReadOnlyList<string>? launcher = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        StateDir = stateDir;
        ConfigPath = configPath;
        Executable = executable ?? (launcher is null ? AgentExecutable : null);
        _launcher = launcher ?? [];
        _environment = environment ?? new Dictionary<string, string?>();
    }

    /// <summary>A self-contained agent binary run directly (an installed package's); null: the built guest-agent.dll under dotnet.</summary>
    public string? Executable { get; }

    /// <summary>
    /// Starts <paramref name="executable"/> (e.g. a package's /opt/guest-agent/guest-agent unpacked into a
    /// throw-away root) with <paramref name="configPath"/>; Start() again runs whatever that path holds
    /// then (a new build after an upgrade). Dispose deletes <paramref name="dir"/>.
    /// </summary>
    /// <param name="launcher">What runs the executable, with its arguments (<c>wine</c> for a win-x64 agent); none: it runs itself.</param>
    /// <param name="environment">Variables for the launcher or the agent (WINEPREFIX); a null value removes the variable.</param>
    public static AgentProcess StartExecutable(string executable, string configPath, string dir, IReadOnlyList<string>? launcher = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var agent = new AgentProcess(dir, configPath, executable, launcher, environment);
        agent.Start();
        return agent;
    }

    public string StateDir { get; }
    public string ConfigPath { get; }
    public int Starts { get; private set; }
    public int? Pid => _process?.Id;
    public bool IsRunning => _process is { HasExited: false };

    public string Log => LogSince(0);

    /// <summary>Writes a config for <paramref name="tenants"/> (fast polling, small caps) and starts the agent.</summary>
    public static AgentProcess Start(ZaqarBed bed, IReadOnlyList<TestTenant> tenants, string name = "test-agent",
        int maxOperations = 16, string extraConfig = "") =>
        Start(bed.Url, tenants, name, maxOperations, extraConfig);

    /// <summary>The same against any Zaqar endpoint (e.g. a <see cref="KeystoneBed"/>'s).</summary>
    public static AgentProcess Start(string endpoint, IReadOnlyList<TestTenant> tenants, string name = "test-agent",
        int maxOperations = 16, string extraConfig = "")
    {
        var dir = Path.Combine(Path.GetTempPath(), "guestagent-agent-" + Guid.NewGuid().ToString("N")[..12]);
        var agent = new AgentProcess(dir, WriteConfig(dir, endpoint, tenants, name, maxOperations, extraConfig));
        agent.Start();
        return agent;
    }

    /// <summary>
    /// Writes DIR/agent.conf as <see cref="Start(string, IReadOnlyList{TestTenant}, string, int, string)"/> does
    /// (state in DIR/state, not created, or in <paramref name="stateDir"/> as the agent's OS spells it), for a start
    /// or a one-off run such as <c>doctor</c>; returns its path.
    /// </summary>
    public static string WriteConfig(string dir, string endpoint, IReadOnlyList<TestTenant> tenants, string name = "test-agent",
        int maxOperations = 16, string extraConfig = "", string? stateDir = null)
    {
        Directory.CreateDirectory(dir);
        var config = new StringBuilder();
        config.AppendLine("guest-agent {");
        config.AppendLine($"  name = \"{name}\"");
        config.AppendLine($"  state-dir = \"{stateDir ?? Path.Combine(dir, "state")}\"");
        config.AppendLine($"  max-operations = {maxOperations}");
        config.AppendLine("  log.file = false");
        config.AppendLine("  log.level = Debug");
        config.AppendLine("  poll { min-interval = 100ms, max-interval = 400ms, max-fault-backoff = 2s }");
        config.AppendLine("  tenants {");
        foreach (var t in tenants)
        {
            config.AppendLine($"    {t.Name} {{");
            config.AppendLine($"      endpoint = \"{endpoint}\"");
            config.AppendLine($"      project = \"{t.Project}\"");
            config.AppendLine($"      command-queue = \"{t.CommandQueue}\"");
            config.AppendLine($"      reply-queue = \"{t.ReplyQueue}\"");
            config.AppendLine($"      max-operations = {t.MaxOperations}");
            if (t.AllowedOps is not null)
            {
                config.AppendLine($"      allowed-ops = [{string.Join(", ", t.AllowedOps)}]");
            }
            if (t.FileRoots is not null)
            {
                config.AppendLine($"      file-roots = [{string.Join(", ", t.FileRoots.Select(d => $"\"{d}\""))}]");
            }
            if (t.HttpDestinations is not null)
            {
                config.AppendLine($"      http-destinations = [{string.Join(", ", t.HttpDestinations.Select(d => $"\"{d}\""))}]");
            }
            var keys = t.Keys.Select(k => $"{{ id = \"{k.Id}\", secret = \"{Convert.ToBase64String(k.Secret)}\" }}");
            config.AppendLine($"      signing {{ keys = [{string.Join(", ", keys)}], allow-unsigned = {(t.AllowUnsigned ? "true" : "false")} }}");
            if (t.ExtraConfig is not null)
            {
                config.AppendLine(t.ExtraConfig);
            }
            config.AppendLine("    }");
        }
        config.AppendLine("  }");
        config.AppendLine(extraConfig);
        config.AppendLine("}");
        var path = Path.Combine(dir, "agent.conf");
        File.WriteAllText(path, config.ToString());
        return path;
    }

    /// <summary>Runs the built agent once with <paramref name="args"/> (--check-config, doctor ...) and returns what it said.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunOnce(params string[] args)
    {
        var psi = new ProcessStartInfo(AgentExecutable ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (AgentExecutable is null)
        {
            psi.ArgumentList.Add(AgentDll);
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        ApplySuiteEnvironment(psi);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            p.Kill();
            throw new TimeoutException($"guest-agent {string.Join(' ', args)} did not finish within a minute");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// A published agent every test runs instead of the built dll (GUESTAGENT_AGENT_EXECUTABLE, set by
    /// tools/test.sh: the ReadyToRun build it publishes; by tools/test-trimmed.sh: the trimmed
    /// self-contained build), or null (`dotnet test` alone: the built dll).
    /// </summary>
    public static string? AgentExecutable =>
        Environment.GetEnvironmentVariable("GUESTAGENT_AGENT_EXECUTABLE") is { Length: > 0 } path ? path : null;

    /// <summary>
    /// Variables every agent process the tests start gets (GUESTAGENT_AGENT_ENV, `NAME=value` pairs
    /// apart by spaces; a test's own variables come after them). tools/test.sh sets the runtime's
    /// compilation mode there (docs/performance.md, "The test suite under 10 minutes").
    /// </summary>
    public static IReadOnlyList<(string Name, string Value)> SuiteEnvironment =>
        (Environment.GetEnvironmentVariable("GUESTAGENT_AGENT_ENV") ?? "")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2) is [var name, var value] && name.Length > 0
                ? (name, value)
                : throw new InvalidOperationException($"GUESTAGENT_AGENT_ENV: '{pair}' is not NAME=value"))
            .ToList();

    private static void ApplySuiteEnvironment(ProcessStartInfo psi)
    {
        foreach (var (name, value) in SuiteEnvironment)
        {
            psi.Environment[name] = value;
        }
    }

    /// <summary>The built agent: src/GuestAgent.Agent/bin/&lt;same configuration as the tests&gt;/net10.0/guest-agent.dll.</summary>
    public static string AgentDll
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            var dll = Path.Combine(RepoPaths.Root, "src", "GuestAgent.Agent", "bin", configuration, "net10.0", "guest-agent.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"build the agent first: {dll} is missing");
        }
    }

    public void Start()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("the agent is already running");
        }
        var psi = new ProcessStartInfo(_launcher.Count > 0 ? _launcher[0] : Executable ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in _launcher.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }
        if (_launcher.Count > 0 || Executable is null)
        {
            psi.ArgumentList.Add(Executable ?? AgentDll);
        }
        ApplySuiteEnvironment(psi);
        foreach (var (variable, value) in _environment)
        {
            if (value is null)
            {
                psi.Environment.Remove(variable);
            }
            else
            {
                psi.Environment[variable] = value;
            }
        }
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(ConfigPath);
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process = p;
        Starts++;
        Append($"--- agent start #{Starts} pid {p.Id}");
    }

    /// <summary>kill -9: no shutdown, no flush; commands it runs are left to themselves.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: false);
            p.WaitForExit(10_000);
            Append($"--- agent killed (-9) pid {p.Id}");
        }
    }

    /// <summary>SIGTERM, as systemd stops it; waits for the exit.</summary>
    public bool Stop(TimeSpan timeout)
    {
        if (_process is not { HasExited: false } p)
        {
            return true;
        }
        Process.Start("kill", ["-TERM", p.Id.ToString()])!.WaitForExit();
        if (!p.WaitForExit(timeout))
        {
            return false;
        }
        // Only the untimed wait also waits for the redirected output to be read to its end.
        p.WaitForExit();
        return true;
    }

    /// <summary>Where the log ends now: what a test on a shared agent logs comes after it (<see cref="LogSince"/>).</summary>
    public int LogMark
    {
        get
        {
            lock (_gate)
            {
                return _log.Length;
            }
        }
    }

    /// <summary>The log from <paramref name="mark"/> (a <see cref="LogMark"/>) on.</summary>
    public string LogSince(int mark)
    {
        lock (_gate)
        {
            return _log.ToString(mark, _log.Length - mark);
        }
    }

    /// <summary>
    /// Waits until the log contains <paramref name="text"/> <paramref name="times"/> times, counting
    /// only from <paramref name="since"/> (a <see cref="LogMark"/>) on.
    /// </summary>
    public async Task WaitForLogAsync(string text, TimeSpan timeout, int times = 1, int since = 0)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var log = LogSince(since);
            var count = 0;
            for (var i = log.IndexOf(text, StringComparison.Ordinal); i >= 0; i = log.IndexOf(text, i + 1, StringComparison.Ordinal))
            {
                count++;
            }
            if (count >= times)
            {
                return;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"'{text}' did not appear {times} time(s) in the agent log within {timeout}:\n{Log}");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            _log.AppendLine(line);
        }
    }

    public void Dispose()
    {
        Kill();
        _process?.Dispose();
        try
        {
            Directory.Delete(StateDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
