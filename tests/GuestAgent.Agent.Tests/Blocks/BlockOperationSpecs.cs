using System.Security.Cryptography;
using Akka.Actor;
using GuestAgent.Agent.Blocks;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using Microsoft.Extensions.Time.Testing;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Tests.Blocks;

/// <summary>
/// One block run under the core, on a fake clock, with a probe as its ledger: the deadline, a run
/// that will not stop, a cancel command, and what the ledger is told of each block's outcome.
/// </summary>
public sealed class BlockOperationSpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();

    private BlockRun Run(string how) => new(Guid.NewGuid(), "probe", new ProbeArgs(how), 1, "t1", null)
    {
        Output = new NoOutput(),
        InlineCapBytes = 4,
        ChunkBytes = 8,
        Time = _time,
    };

    /// <summary>Starts the run as a child of a probe (its ledger) and advances the fake clock until the ledger hears of it.</summary>
    private async Task<OperationFinished> FinishAsync(Akka.TestKit.TestProbe ledger, IActorRef op, TimeSpan step)
    {
        for (var i = 0; i < 200; i++)
        {
            if (ledger.HasMessages)
            {
                return ledger.ExpectMsg<OperationFinished>(Wait);
            }
            _time.Advance(step);
            await Task.Delay(10);
        }
        throw new TimeoutException("the run never finished");
    }

    [Fact]
    public async Task A_run_that_stops_when_its_deadline_cancels_it_is_timed_out()
    {
        var ledger = CreateTestProbe();
        var op = ledger.ChildActorOf(BlockOperation.Props(new ProbeBlock(), Run("wait"), TimeSpan.FromSeconds(2)));

        var finished = await FinishAsync(ledger, op, TimeSpan.FromMilliseconds(500));

        Assert.Equal(FinishKind.TimedOut, finished.Kind);
        Assert.Equal(("timed_out", "timed_out"), (finished.Outcome.Status, finished.Outcome.ErrorCode));
        Assert.Equal("did not finish within 2 s", finished.Outcome.ErrorMessage);
    }

    [Fact]
    public async Task A_run_that_ignores_its_deadline_is_abandoned_after_the_grace_and_its_command_ends()
    {
        var ledger = CreateTestProbe();
        var op = ledger.ChildActorOf(BlockOperation.Props(new ProbeBlock(), Run("ignore"), TimeSpan.FromSeconds(2)));

        var finished = await FinishAsync(ledger, op, TimeSpan.FromSeconds(1));

        Assert.Equal(FinishKind.TimedOut, finished.Kind);
        Assert.Contains("did not stop within 5 s of being cancelled; its run was abandoned", finished.Outcome.ErrorMessage);
        Assert.True(_time.GetUtcNow() - _time.Start >= TimeSpan.FromSeconds(7), "not before the deadline and the grace");
    }

    [Fact]
    public async Task A_cancel_command_ends_the_run_cancelled_and_says_who_stopped_it()
    {
        var ledger = CreateTestProbe();
        var op = ledger.ChildActorOf(BlockOperation.Props(new ProbeBlock(), Run("wait"), null));
        await Task.Delay(100);

        op.Tell(new CancelOperation(Guid.NewGuid()));
        var finished = ledger.ExpectMsg<OperationFinished>(Wait);

        Assert.Equal(FinishKind.Cancelled, finished.Kind);
        Assert.Equal(("cancelled", "stopped by a cancel command"), (finished.Outcome.Status, finished.Outcome.ErrorMessage));
    }

    [Fact]
    public void Output_beyond_the_inline_part_is_recorded_for_chunk_replies_and_output_that_fits_is_not()
    {
        var spoolPath = Path.GetTempFileName();
        try
        {
            var big = new CapturedStream(20, [1, 2, 3, 4], Convert.ToHexStringLower(SHA256.HashData(new byte[20])), spoolPath);
            var small = new CapturedStream(3, [1, 2, 3], Convert.ToHexStringLower(SHA256.HashData(new byte[] { 1, 2, 3 })), spoolPath);

            var (kind, outcome) = BlockOperation.ToOutcome(BlockOutcome.Succeeded(new { ok = true }, ("big", big), ("small", small)), 8, false);

            Assert.Equal(FinishKind.Completed, kind);
            Assert.Equal("{\"ok\":true}", outcome.ResultJson);
            var spool = Assert.Single(outcome.Spools);
            Assert.Equal(("big", 20L, 4, 2), (spool.Stream, spool.Bytes, spool.InlineBytes, spool.Chunks));
        }
        finally
        {
            File.Delete(spoolPath);
        }
    }

    [Fact]
    public async Task A_block_that_throws_ends_its_command_failed_with_internal_error_naming_the_block()
    {
        var ledger = CreateTestProbe();
        ledger.ChildActorOf(BlockOperation.Props(new ProbeBlock(), Run("throw"), null));

        var finished = ledger.ExpectMsg<OperationFinished>(Wait);

        Assert.Equal(("failed", "internal_error"), (finished.Outcome.Status, finished.Outcome.ErrorCode));
        Assert.Equal("block 'probe' failed: InvalidOperationException: broken on purpose", finished.Outcome.ErrorMessage);
        await Task.CompletedTask;
    }

    private sealed record ProbeArgs(string How) : OpArgs
    {
        public override string Op => "probe";
    }

    private sealed class ProbeBlock : OperationBlock
    {
        public override string Name => "probe";

        public override IReadOnlyList<BlockOp> Ops { get; } = [new("probe", (_, _) => new ProbeArgs("wait"))];

        public override async Task<BlockOutcome> RunAsync(BlockRun run, CancellationToken cancel)
        {
            switch (((ProbeArgs)run.Args).How)
            {
                case "throw":
                    throw new InvalidOperationException("broken on purpose");
                case "ignore":
                    await Task.Delay(Timeout.InfiniteTimeSpan, CancellationToken.None);
                    break;
                default:
                    await Task.Delay(Timeout.InfiniteTimeSpan, cancel);
                    break;
            }
            return BlockOutcome.Succeeded(null);
        }
    }

    private sealed class NoOutput : IBlockOutput
    {
        public Task<IOutputWriter> OpenAsync(string stream, int inlineCapBytes) => throw new NotSupportedException();
    }
}
