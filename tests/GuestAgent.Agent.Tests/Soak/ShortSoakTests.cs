using GuestAgent.Testing;
using GuestAgent.Soak;
using Xunit.Abstractions;

namespace GuestAgent.Agent.Tests.Soak;

/// <summary>
/// The soak's short mode: about two minutes of mixed load through a real Zaqar and agent, with
/// faults. A chaos run, so it runs in the longer test mode (tools/test-long.sh), beside
/// tools/soak/soak.sh's longer runs.
/// </summary>
public sealed class ShortSoakTests(ITestOutputHelper output)
{
    [LongFact]
    public async Task Short_soak_through_agent_kills_and_a_zaqar_restart_loses_nothing_and_runs_nothing_twice_unexplained()
    {
        var work = Directory.CreateTempSubdirectory("ga-soak-").FullName;
        var options = SoakOptions.Short(work, seed: 11) with { Log = output.WriteLine };

        var report = await SoakRunner.RunAsync(options);
        output.WriteLine(report.ToText());

        Assert.True(report.CommandsSent >= 150, $"only {report.CommandsSent} commands were sent");
        Assert.Equal(2, report.FaultCounts.GetValueOrDefault(nameof(FaultKind.AgentKill)));
        Assert.Equal(1, report.FaultCounts.GetValueOrDefault(nameof(FaultKind.ZaqarRestart)));
        Assert.Equal(2, report.AgentRestartsSurvived);
        Assert.Equal(0, report.Lost);
        Assert.Equal(0, report.Hung);
        Assert.Equal(0, report.UnexplainedDuplicates);
        Assert.Equal(0, report.FailPolicyDuplicates);
        Assert.Equal(0, report.WrongOutputs);
        Assert.Equal(0, report.TransfersLost);
        Assert.True(report.GracefulStop, "the agent did not exit on SIGTERM");
        // Snapshots and deletions keep the journal to a fraction of what was written.
        Assert.True(report.Journal.EventRowsAtEnd * 4 < report.Journal.EventsWritten,
            $"{report.Journal.EventRowsAtEnd} event rows kept of {report.Journal.EventsWritten} written");
        Assert.True(report.Passed, report.ToText());
        Directory.Delete(work, recursive: true);
    }
}
