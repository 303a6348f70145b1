using System.Diagnostics;
using GuestAgent.Testing;

namespace GuestAgent.Soak;

/// <summary>The agent process of a soak, with the faults that concern it and the figures the accounting needs.</summary>
public sealed class AgentUnderSoak(AgentProcess process, string stateDir) : IDisposable
{
    private const string Recovered = "ledger recovered";
    private readonly List<double> _recoveryMs = [];

    public AgentProcess Process { get; } = process;
    public string StateDir { get; } = stateDir;
    public string JournalPath => Path.Combine(StateDir, "journal.db");

    /// <summary>The ledger's snapshots, in a file of their own beside the journal's.</summary>
    public string SnapshotsPath => Path.Combine(StateDir, "journal.snapshots.db");

    /// <summary>Milliseconds from each process start to its ledger's "recovered" (journal read, commands re-dispatched).</summary>
    public IReadOnlyList<double> RecoveryMs => _recoveryMs;

    public int Kills { get; private set; }
    public int Pauses { get; private set; }

    /// <summary>Starts the process (again) and waits until its ledger has recovered.</summary>
    public async Task StartAsync(bool alreadyStarted = false)
    {
        var before = Count(Recovered);
        var watch = Stopwatch.StartNew();
        if (!alreadyStarted)
        {
            Process.Start();
        }
        await Process.WaitForLogAsync(Recovered, TimeSpan.FromMinutes(2), before + 1);
        _recoveryMs.Add(watch.Elapsed.TotalMilliseconds);
    }

    public void Kill()
    {
        Process.Kill();
        Kills++;
    }

    public void Signal(string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", Process.Pid!.Value.ToString()])!;
        kill.WaitForExit();
        if (signal == "STOP")
        {
            Pauses++;
        }
    }

    /// <summary>How often <paramref name="text"/> is in the agent's log so far.</summary>
    public int Count(string text)
    {
        var log = Process.Log;
        var n = 0;
        for (var i = log.IndexOf(text, StringComparison.Ordinal); i >= 0; i = log.IndexOf(text, i + text.Length, StringComparison.Ordinal))
        {
            n++;
        }
        return n;
    }

    public void Dispose() => Process.Dispose();
}
