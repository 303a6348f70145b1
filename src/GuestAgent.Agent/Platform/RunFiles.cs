using System.Globalization;

namespace GuestAgent.Agent.Platform;

/// <summary>
/// The files of one supervised exec run, side by side in the spool directory: what the agent gives
/// the run (stdin), what the run's supervisor writes while the agent may be gone (stdout, stderr,
/// its own pid before the child starts, the exit status when the child ends). They outlive the
/// agent, so that a restarted agent can tell a run that is still going from one that ended, and how.
/// </summary>
public sealed record RunFiles(string Stem)
{
    public static RunFiles For(string spoolDirectory, Guid commandId, int attempt) =>
        new(Path.Combine(spoolDirectory, $"{commandId:N}-{attempt}"));

    public string Stdin => Stem + ".stdin";
    public string Stdout => Stem + ".stdout";
    public string Stderr => Stem + ".stderr";

    /// <summary>"exit N\n", written by the supervisor when the child has ended (N as a shell reports it: 128+n for signal n; on Windows the 32-bit code, negative for an NTSTATUS).</summary>
    public string Exit => Stem + ".exit";

    /// <summary>The supervisor's pid (also its process group), written before the child starts; its time is the run's start.</summary>
    public string Pid => Stem + ".pid";

    /// <summary>The exit code the supervisor recorded, or null: none yet, or cut short (the supervisor or the machine died writing it).</summary>
    public int? ReadExitCode()
    {
        string text;
        try
        {
            text = File.ReadAllText(Exit);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // Only a whole line counts: an empty or partial file is no record.
        return text.StartsWith("exit ", StringComparison.Ordinal) && text.EndsWith('\n')
            && int.TryParse(text.AsSpan(5, text.Length - 6), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code)
            ? code
            : null;
    }

    /// <summary>The supervisor's pid as it recorded it, or null.</summary>
    public int? ReadPid()
    {
        try
        {
            var text = File.ReadAllText(Pid);
            return text.EndsWith('\n') && int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 1
                ? pid
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>When the supervisor started (its pid file's time), or null when it never did.</summary>
    public DateTimeOffset? StartedAt => File.Exists(Pid) ? new DateTimeOffset(File.GetLastWriteTimeUtc(Pid)) : null;

    /// <summary>When the child ended (the exit file's time), or null.</summary>
    public DateTimeOffset? EndedAt => File.Exists(Exit) ? new DateTimeOffset(File.GetLastWriteTimeUtc(Exit)) : null;
}
