using System.Text;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>
/// Processes a crashed agent left behind. Every process of a run carries
/// GUESTAGENT_COMMAND_ID in its environment (children inherit it), so after a restart the agent
/// finds what an interrupted run still has going and kills it before the command is rerun or
/// reported interrupted: a rerun never races its own previous attempt.
/// </summary>
public static class LeftoverProcesses
{
    /// <summary>Sends SIGKILL to every process whose environment names <paramref name="commandId"/>; returns their pids.</summary>
    public static IReadOnlyList<int> Kill(Guid commandId)
    {
        var marker = Encoding.ASCII.GetBytes($"{ExecOptions.CommandIdVariable}={commandId:D}\0");
        byte[] inner = [0, .. marker];
        var killed = new List<int>();
        var self = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == self)
            {
                continue;
            }
            byte[] environ;
            try
            {
                environ = File.ReadAllBytes(Path.Combine(dir, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone, or not ours to see
            }
            // The entry may be the first one (no leading NUL) or any later one.
            if (environ.AsSpan().StartsWith(marker) || environ.AsSpan().IndexOf(inner) >= 0)
            {
                if (Native.Kill(pid, Native.SIGKILL) == 0)
                {
                    killed.Add(pid);
                }
            }
        }
        return killed;
    }
}
