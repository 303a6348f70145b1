using System.Diagnostics;

namespace GuestAgent.Testing;

/// <summary>
/// The win-x64 agent under Wine: a private Wine prefix (tools/wine/prefix.sh) and the self-contained
/// build (tools/wine/build-agent.sh, incremental). The agent sees Linux's / as drive Z:. Without
/// Wine, making one fails the test with what to run: a Windows test never passes without Windows.
/// </summary>
public sealed class WineBed : IDisposable
{
    private WineBed(string prefix, string agentExe)
    {
        Prefix = prefix;
        AgentExe = agentExe;
    }

    /// <summary>The private WINEPREFIX, deleted on dispose.</summary>
    public string Prefix { get; }

    /// <summary>guest-agent.exe of the win-x64 build (a Linux path).</summary>
    public string AgentExe { get; }

    /// <summary>
    /// What every wine call of this bed needs in its environment; without the test host's .NET
    /// variables (DOTNET_*), which name Linux files the Windows runtime then fails to load.
    /// </summary>
    public IReadOnlyDictionary<string, string?> Environment
    {
        get
        {
            var environment = System.Environment.GetEnvironmentVariables().Keys.Cast<string>()
                .Where(v => v.StartsWith("DOTNET_", StringComparison.OrdinalIgnoreCase) || v.StartsWith("COMPlus_", StringComparison.OrdinalIgnoreCase)
                            || v.StartsWith("CORECLR_", StringComparison.OrdinalIgnoreCase))
                .ToDictionary(v => v, string? (_) => null);
            environment["WINEPREFIX"] = Prefix;
            environment["WINEDEBUG"] = "-all";
            // Not the prefix set-up's mscoree override: Wine hands IL-only images (System.Runtime.dll) to mscoree.
            environment["WINEDLLOVERRIDES"] = null;
            return environment;
        }
    }

    public static WineBed Create()
    {
        if (Run("sh", ["-c", "command -v wine"], null).ExitCode != 0)
        {
            throw new InvalidOperationException("Wine is missing: the Windows tests need it (tools/wine/install.sh installs it; tools/test.sh does so itself)");
        }
        var build = Run(RepoPaths.Tool("wine", "build-agent.sh"), [], null);
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"building the win-x64 agent failed (tools/wine/build-agent.sh):\n{build.Output}");
        }
        var prefix = Directory.CreateTempSubdirectory("ga-wine-").FullName;
        var setup = Run(RepoPaths.Tool("wine", "prefix.sh"), [prefix], null);
        if (setup.ExitCode != 0)
        {
            throw new InvalidOperationException($"making a Wine prefix failed (tools/wine/prefix.sh):\n{setup.Output}");
        }
        return new WineBed(prefix, Path.Combine(RepoPaths.Root, "artifacts", "win-x64", "guest-agent", "guest-agent.exe"));
    }

    /// <summary>A Linux path as the agent under Wine names it, with '/' (Windows takes it, and HOCON strings need no escapes).</summary>
    public static string WinPath(string linuxPath) => "Z:" + Path.GetFullPath(linuxPath);

    /// <summary>The same with Windows' '\' separators, as the agent reports paths back.</summary>
    public static string WinPathBackslashed(string linuxPath) => WinPath(linuxPath).Replace('/', '\\');

    /// <summary>Starts the agent of <paramref name="tenants"/> under Wine, its state in a directory of its own.</summary>
    public AgentProcess StartAgent(string endpoint, IReadOnlyList<TestTenant> tenants, int maxOperations = 16, string extraConfig = "")
    {
        var dir = Directory.CreateTempSubdirectory("ga-wine-agent-").FullName;
        var config = AgentProcess.WriteConfig(dir, endpoint, tenants, "wine-agent", maxOperations, extraConfig, stateDir: WinPath(Path.Combine(dir, "state")));
        return AgentProcess.StartExecutable(AgentExe, WinPath(config), dir, ["wine"], Environment);
    }

    /// <summary>Runs <paramref name="program"/> (a Windows program) with <paramref name="args"/> under this bed's Wine.</summary>
    public (int ExitCode, string Output) Wine(string program, params string[] args) => Run("wine", [program, .. args], Environment);

    /// <summary>
    /// Keeps this prefix's wineserver (and so services.exe with the services it runs) alive between wine calls.
    /// </summary>
    public void KeepServerAlive() => Run("wineserver", ["-p"], Environment);

    public void Dispose()
    {
        // Only this prefix's wineserver (and what it still runs).
        Run("wineserver", ["-k"], Environment);
        try
        {
            Directory.Delete(Prefix, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// Runs <paramref name="program"/>, its output into a file: Wine's services (started by the
    /// first call in a prefix) inherit the standard handles and outlive it, so pipes would never end.
    /// </summary>
    private static (int ExitCode, string Output) Run(string program, IReadOnlyList<string> args, IReadOnlyDictionary<string, string?>? environment)
    {
        var output = Path.GetTempFileName();
        try
        {
            var psi = new ProcessStartInfo("sh");
            foreach (var a in (string[])["-c", "\"$0\" \"$@\" >\"$GA_OUTPUT\" 2>&1 </dev/null", program, .. args])
            {
                psi.ArgumentList.Add(a);
            }
            foreach (var (variable, value) in environment ?? new Dictionary<string, string?>())
            {
                psi.Environment[variable] = value;
            }
            psi.Environment["GA_OUTPUT"] = output;
            using var p = Process.Start(psi)!;
            if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
            {
                p.Kill(entireProcessTree: true);
                return (-1, $"{program} did not finish within 5 minutes");
            }
            return (p.ExitCode, File.ReadAllText(output));
        }
        finally
        {
            File.Delete(output);
        }
    }
}
