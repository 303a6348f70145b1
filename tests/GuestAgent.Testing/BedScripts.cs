using System.Diagnostics;

namespace GuestAgent.Testing;

/// <summary>Runs a bed's tools/*/start.sh and reads the env file it prints (KEY=value lines, # comments).</summary>
public static class BedScripts
{
    public static Dictionary<string, string> ReadEnv(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith('#'))
            .Select(l => l.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1]);

    /// <summary>Runs <paramref name="file"/> to its end (at most <paramref name="timeout"/>, default 10 minutes); its stdout, or an exception with its output.</summary>
    public static string Run(string file, string[] args, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(10)))
        {
            p.Kill(true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        // Only the untimed wait also waits for the redirected output to be read to its end.
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}{stdout.Result}");
        }
        return stdout.Result;
    }
}
