using System.Text.Json;
using Akka.Actor;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Operations;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using static GuestAgent.Agent.Ledger.CommandLedgerProtocol;

namespace GuestAgent.Agent.Blocks;

/// <summary>
/// One attempt of one command of any block, a child of the ledger: runs the block's
/// <see cref="OperationBlock.RunAsync"/> off the actor thread and turns its outcome into the
/// ledger's. A block that throws or returns garbage ends the command <c>failed</c>
/// (<c>internal_error</c>); it cannot stop the ledger or the poller.
/// </summary>
public sealed class BlockOperation(OperationBlock block, BlockRun run, TimeSpan? timeout, bool reattach = false)
    : OperationActor<BlockOutcome>(run.CommandId, run.Attempt,
        (ct, detaching) => RunAsync(block, run with { Detaching = detaching }, timeout, reattach, ct),
        e => Crashed(block, e),
        (outcome, byCommand) => ToOutcome(outcome, run.ChunkBytes, byCommand))
{
    /// <summary>How long a cancelled run has to stop before it is abandoned and reported anyway.</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    /// <param name="reattach">Follow the attempt that outlived an earlier agent (<see cref="OperationBlock.ReattachAsync"/>) rather than start one.</param>
    public static Props Props(OperationBlock block, BlockRun run, TimeSpan? timeout, bool reattach = false) =>
        Akka.Actor.Props.Create(() => new BlockOperation(block, run, timeout, reattach));

    /// <summary>
    /// The block's run under the core's deadline: cancelled when it passes (or on a cancel command
    /// or agent stop), and abandoned if it then does not stop within <see cref="StopGrace"/>, so a
    /// hung block costs its command, not a slot forever.
    /// </summary>
    private static async Task<BlockOutcome> RunAsync(OperationBlock block, BlockRun run, TimeSpan? timeout, bool reattach, CancellationToken cancel)
    {
        using var deadline = timeout is { } t ? new CancellationTokenSource(t, run.Time) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, deadline.Token);
        var work = Task.Run(() => reattach ? block.ReattachAsync(run, linked.Token) : block.RunAsync(run, linked.Token), CancellationToken.None);
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (linked.Token.Register(() => stopped.TrySetResult()))
        {
            await Task.WhenAny(work, stopped.Task).ConfigureAwait(false);
        }
        if (!work.IsCompleted)
        {
            await Task.WhenAny(work, Task.Delay(StopGrace, run.Time)).ConfigureAwait(false);
        }
        var timedOut = deadline.IsCancellationRequested && !cancel.IsCancellationRequested;
        var limit = $"{timeout?.TotalSeconds:0.###} s";
        if (!work.IsCompleted)
        {
            _ = work.ContinueWith(w => _ = w.Exception, TaskContinuationOptions.OnlyOnFaulted);
            var abandoned = $"block '{block.Name}' did not stop within {StopGrace.TotalSeconds:0} s of being cancelled; its run was abandoned";
            Serilog.Log.ForContext("Tenant", run.Tenant).ForContext("CommandId", run.CommandId).Warning("{Abandoned}", abandoned);
            return timedOut ? BlockOutcome.TimedOut($"did not finish within {limit}; {abandoned}") : BlockOutcome.Cancelled();
        }
        try
        {
            var outcome = await work.ConfigureAwait(false)
                ?? BlockOutcome.Failed(RejectCodes.InternalError, $"block '{block.Name}' returned no outcome");
            return timedOut && outcome is { End: BlockEnd.Cancelled }
                ? outcome with { End = BlockEnd.TimedOut, ErrorCode = "timed_out", ErrorMessage = $"did not finish within {limit}" }
                : outcome;
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            return timedOut ? BlockOutcome.TimedOut($"did not finish within {limit}") : BlockOutcome.Cancelled();
        }
    }

    private static BlockOutcome Crashed(OperationBlock block, Exception e) => e is OperationCanceledException
        ? BlockOutcome.Cancelled()
        : BlockOutcome.Failed(RejectCodes.InternalError, $"block '{block.Name}' failed: {e.GetType().Name}: {e.GetBaseException().Message}");

    /// <summary>The ledger's record of how the attempt ended; anything a block got wrong is reported, not thrown.</summary>
    internal static (FinishKind, OutcomeV1) ToOutcome(BlockOutcome? o, int chunkBytes, bool cancelledByCommand)
    {
        if (o is null)
        {
            return (FinishKind.Completed, new OutcomeV1("failed", null, RejectCodes.InternalError, "the block returned no outcome", []));
        }
        string? json;
        try
        {
            json = o.Result is null ? null : JsonSerializer.Serialize(o.Result, o.Result.GetType(), ProtocolJson.Options);
        }
        catch (Exception e) when (e is NotSupportedException or JsonException or InvalidOperationException or ArgumentException)
        {
            return (FinishKind.Completed, new OutcomeV1("failed", null, RejectCodes.InternalError,
                $"the block's result ({o.Result!.GetType().Name}) cannot be written as JSON: {e.Message}", []));
        }
        var spools = new List<SpooledStreamV1>();
        foreach (var (stream, captured) in o.Outputs ?? [])
        {
            if (captured is { SpoolPath: not null } && captured.ChunkCount(chunkBytes) > 0)
            {
                spools.Add(new SpooledStreamV1(stream, captured.SpoolPath, captured.TotalBytes, captured.InlineBytes, captured.Sha256,
                    captured.ChunkCount(chunkBytes)));
            }
        }
        return o.End switch
        {
            BlockEnd.Succeeded => (FinishKind.Completed, new OutcomeV1("succeeded", json, null, null, spools)),
            BlockEnd.Failed => (FinishKind.Completed,
                new OutcomeV1("failed", json, o.ErrorCode ?? RejectCodes.InternalError, o.ErrorMessage ?? "failed without saying why", spools)),
            BlockEnd.TimedOut => (FinishKind.TimedOut, new OutcomeV1("timed_out", json, o.ErrorCode ?? "timed_out", o.ErrorMessage ?? "timed out", spools)),
            BlockEnd.Cancelled => (FinishKind.Cancelled, new OutcomeV1("cancelled", json, "cancelled", o.ErrorMessage ?? CancelReason(cancelledByCommand), spools)),
            BlockEnd.Lost => (FinishKind.Lost, new OutcomeV1("interrupted", null, "interrupted", o.ErrorMessage ?? "the run was lost", [])),
            _ => (FinishKind.Completed, new OutcomeV1("failed", null, RejectCodes.InternalError, $"the block ended with an unknown state {(int)o.End}", [])),
        };
    }
}

/// <summary>The services the core offers a run, by type.</summary>
public sealed class RunServices(params object[] services) : IServiceProvider
{
    public object? GetService(Type serviceType) => services.FirstOrDefault(serviceType.IsInstanceOfType);
}
