using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Platform;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>
/// Applies a binding's <see cref="ExecPolicy"/> to one <c>exec</c> before anything runs: the user
/// it runs as (the binding's run-as unless the command names one it may), and, with an allow-list,
/// the program (argv[0] looked up as the runner will, then compared by real path, so neither a
/// symlink nor a PATH trick gets past it), the shell (only when the platform's shell, /bin/sh on
/// Linux, is listed) and the environment variables it sets.
/// </summary>
public static class ExecGate
{
    /// <summary>
    /// The arguments to run (run_as filled in; with an allow-list, argv[0] replaced by the full path
    /// that was checked), or why the command may not run.
    /// </summary>
    public static (ExecArgs? Admitted, string? Refusal) Judge(ExecArgs args, ExecPolicy policy, string tenant, GuestPlatform platform)
    {
        if (args.RunAs is { } asked && asked != policy.RunAs && !policy.AllowedRunAs.Contains(asked))
        {
            var allowed = policy.AllowedRunAs.Order(StringComparer.Ordinal).Prepend(policy.RunAs ?? "(the agent's own user)").Distinct();
            return (null, $"run_as '{asked}' is not allowed for tenant {tenant} (exec.allowed-run-as); allowed: {string.Join(", ", allowed)}");
        }
        var admitted = args with { RunAs = args.RunAs ?? policy.RunAs };
        if (!policy.RestrictsPrograms)
        {
            return (admitted, null);
        }
        if (args.Env?.Keys.Where(k => !policy.AllowedEnv.Contains(k)).Order(StringComparer.Ordinal).ToList() is { Count: > 0 } refused)
        {
            return (null, $"tenant {tenant} runs only listed programs; env may set only exec.allowed-env " +
                          $"({(policy.AllowedEnv.Count == 0 ? "none" : string.Join(", ", policy.AllowedEnv.Order(StringComparer.Ordinal)))}), not {string.Join(", ", refused)}");
        }
        var files = platform.Files;
        var allowedReal = policy.AllowedPrograms.Select(p => files.RealPath(p) ?? p).ToHashSet(StringComparer.Ordinal);
        if (args.Shell is not null)
        {
            var shellPath = platform.Processes.ShellPath;
            return allowedReal.Contains(files.RealPath(shellPath) ?? shellPath)
                ? (admitted, null)
                : (null, $"tenant {tenant} runs only the programs in exec.allowed-programs; shell commands need {shellPath} listed");
        }
        var cwd = args.Cwd is null ? Environment.CurrentDirectory : Path.GetFullPath(args.Cwd, Environment.CurrentDirectory);
        var path = args.Env is not null && args.Env.TryGetValue("PATH", out var p2) ? p2 : Environment.GetEnvironmentVariable("PATH");
        var resolved = platform.Processes.ResolveProgram(args.Argv![0], cwd, path);
        if (resolved.Path is null || files.RealPath(resolved.Path) is not { } real || !allowedReal.Contains(real))
        {
            var what = resolved.Path is null ? $"'{args.Argv[0]}' ({resolved.Error})" : $"'{args.Argv[0]}' ({resolved.Path})";
            return (null, $"program {what} is not in exec.allowed-programs of tenant {tenant}");
        }
        // The runner starts exactly the file that was checked, not whatever PATH finds later.
        return (admitted with { Argv = [resolved.Path, .. args.Argv.Skip(1)] }, null);
    }
}
