using System.Diagnostics;
using GuestAgent.Testing;

namespace GuestAgent.Soak;

/// <summary>
/// The soak's own Zaqar bed (tools/zaqar/start.sh with --redis-aof, so that a Redis restart loses
/// no message: a loss the soak counts must be the agent's, not the test bed's), with each part
/// stopped and started again by tools/zaqar/stop.sh and restart.sh.
/// </summary>
public sealed class SoakBed : IDisposable
{
    private SoakBed(string dir, IReadOnlyDictionary<string, string> env)
    {
        Dir = dir;
        Url = env["ZAQAR_URL"];
    }

    public string Dir { get; }
    public string Url { get; }

    public static SoakBed Start(string dir)
    {
        var output = Run(RepoPaths.Tool("zaqar", "start.sh"), "--dir", dir, "--redis-aof", "--no-install");
        var env = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        return new SoakBed(dir, env);
    }

    public void Stop(string part) => Run(RepoPaths.Tool("zaqar", "stop.sh"), Dir, part);

    public void Restart(string part) => Run(RepoPaths.Tool("zaqar", "restart.sh"), Dir, part);

    public void Dispose() => Run(RepoPaths.Tool("zaqar", "stop.sh"), Dir);

    internal static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        p.WaitForExit();
        return p.ExitCode == 0 ? stdout.Result
            : throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}{stdout.Result}");
    }
}
