using Akka.Actor;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>One run of one exec command; stopping it kills the process tree.</summary>
public sealed class ExecOperation(Guid commandId, ExecArgs args, ExecOptions options, int chunkBytes, ExecRunner runner)
    : OperationActor<ExecOutcome>(commandId, options.Attempt,
        ct => RunAsync(args, options, runner, ct),
        ex => ExecOutcome.Crashed(options.Attempt, ex),
        (outcome, byCommand) => ToOutcome(outcome, chunkBytes, byCommand))
{
    public static Props Props(Guid commandId, ExecArgs args, ExecOptions options, int chunkBytes, ExecRunner runner) =>
        Akka.Actor.Props.Create(() => new ExecOperation(commandId, args, options, chunkBytes, runner));

    /// <summary>
    /// The binding's exec policy once more, as the run starts: it was judged when the command was
    /// accepted, but the guest's files may have changed since (a rerun after a restart, a
    /// re-pointed symlink), and what runs must be what was checked.
    /// </summary>
    private static Task<ExecOutcome> RunAsync(ExecArgs args, ExecOptions options, ExecRunner runner, CancellationToken ct)
    {
        var (admitted, refusal) = ExecGate.Judge(args, options.Policy, options.Tenant, runner.Platform);
        return admitted is null
            ? Task.FromResult(ExecOutcome.FailedToStart(options.Attempt, $"not allowed: {refusal}"))
            : runner.RunAsync(admitted, options, ct);
    }

    internal static (CommandLedgerProtocol.FinishKind, OutcomeV1) ToOutcome(ExecOutcome o, int chunkBytes, bool cancelledByCommand)
    {
        if (o.MayHaveRun)
        {
            // A controller that read "failed_to_start" could send it again and run it twice.
            return (CommandLedgerProtocol.FinishKind.Completed,
                new OutcomeV1("failed", null, "internal_error", $"{o.Error}; the process may have run, its result is lost", []));
        }
        if (!o.Started)
        {
            return (CommandLedgerProtocol.FinishKind.Completed,
                new OutcomeV1("failed", null, "failed_to_start", o.Error ?? "the process did not start", []));
        }
        var spools = new List<SpooledStreamV1>();
        o.Stdout.AddSpool(spools, ChunkStreams.Stdout, chunkBytes);
        o.Stderr.AddSpool(spools, ChunkStreams.Stderr, chunkBytes);
        var result = o.ToResult(o.Stdout.ChunkCount(chunkBytes), o.Stderr.ChunkCount(chunkBytes));
        var json = System.Text.Json.JsonSerializer.Serialize(result, ProtocolJson.Options);
        return o.Kind switch
        {
            ExecOutcomeKind.TimedOut => (CommandLedgerProtocol.FinishKind.TimedOut,
                new OutcomeV1("timed_out", json, "timed_out", $"killed after its timeout ({result.Signal ?? "exited"})", spools)),
            ExecOutcomeKind.Cancelled => (CommandLedgerProtocol.FinishKind.Cancelled,
                new OutcomeV1("cancelled", json, "cancelled", CancelReason(cancelledByCommand), spools)),
            _ when o.ExitCode == 0 => (CommandLedgerProtocol.FinishKind.Completed, new OutcomeV1("succeeded", json, null, null, spools)),
            _ => (CommandLedgerProtocol.FinishKind.Completed,
                new OutcomeV1("failed", json, "nonzero_exit", $"exited with code {o.ExitCode}", spools)),
        };
    }
}
