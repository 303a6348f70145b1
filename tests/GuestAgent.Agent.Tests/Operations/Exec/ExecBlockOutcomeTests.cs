using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Blocks;

namespace GuestAgent.Agent.Tests.Operations.Exec;

public sealed class ExecBlockOutcomeTests
{
    [Fact]
    public void Run_that_throws_after_its_process_may_have_started_is_an_internal_error_not_failed_to_start()
    {
        // What a full state disk does to a run: the spool write throws while the process runs.
        var crashed = ExecOutcome.Crashed(1, new IOException("No space left on device"));

        var outcome = ExecBlock.ToOutcome(crashed, 1024);

        Assert.Equal(BlockEnd.Failed, outcome.End);
        Assert.Equal("internal_error", outcome.ErrorCode);
        Assert.Contains("No space left on device", outcome.ErrorMessage);
        Assert.Contains("may have run", outcome.ErrorMessage);
    }

    [Fact]
    public void Process_that_could_not_start_is_still_failed_to_start()
    {
        var outcome = ExecBlock.ToOutcome(ExecOutcome.FailedToStart(1, "no such program"), 1024);

        Assert.Equal("failed_to_start", outcome.ErrorCode);
    }
}
