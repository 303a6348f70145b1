using Akka.Actor;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>
/// One run of one exec command, a child of the ledger. The process runs in a task whose
/// outcome is piped back; the actor stays responsive (cancel) meanwhile. Stopping the actor
/// (agent shutdown, ledger restart) kills the process tree.
/// </summary>
public sealed class ExecOperation : ReceiveActor
{
    private readonly CancellationTokenSource _cancel = new();
    private bool _cancelledByCommand;

    public ExecOperation(Guid commandId, ExecArgs args, ExecOptions options, int chunkBytes, ExecRunner runner)
    {
        var ledger = Context.Parent;
        runner.RunAsync(args, options, _cancel.Token).PipeTo(Self, failure: ex => ExecOutcome.FailedToStart(options.Attempt, $"internal error: {ex.Message}"));

        Receive<CommandLedgerProtocol.CancelOperation>(_ =>
        {
            _cancelledByCommand = true;
            _cancel.Cancel();
        });
        Receive<ExecOutcome>(outcome =>
        {
            var (kind, result) = ToOutcome(outcome, chunkBytes, _cancelledByCommand);
            ledger.Tell(new CommandLedgerProtocol.OperationFinished(commandId, options.Attempt, result, kind));
            Context.Stop(Self);
        });
    }

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
    }

    public static Props Props(Guid commandId, ExecArgs args, ExecOptions options, int chunkBytes, ExecRunner runner) =>
        Akka.Actor.Props.Create(() => new ExecOperation(commandId, args, options, chunkBytes, runner));

    internal static (CommandLedgerProtocol.FinishKind, OutcomeV1) ToOutcome(ExecOutcome o, int chunkBytes, bool cancelledByCommand)
    {
        if (!o.Started)
        {
            return (CommandLedgerProtocol.FinishKind.Completed,
                new OutcomeV1("failed", null, "failed_to_start", o.Error ?? "the process did not start", []));
        }
        int Chunks(CapturedStream s) => s.TotalBytes <= s.InlineBytes ? 0 : (int)((s.TotalBytes - s.InlineBytes + chunkBytes - 1) / chunkBytes);
        var spools = new List<SpooledStreamV1>();
        foreach (var (name, s) in new[] { ("stdout", o.Stdout), ("stderr", o.Stderr) })
        {
            if (s.SpoolPath is not null && Chunks(s) > 0)
            {
                spools.Add(new SpooledStreamV1(name, s.SpoolPath, s.TotalBytes, s.InlineBytes, s.Sha256, Chunks(s)));
            }
        }
        var result = o.ToResult(Chunks(o.Stdout), Chunks(o.Stderr));
        var json = System.Text.Json.JsonSerializer.Serialize(result, ProtocolJson.Options);
        return o.Kind switch
        {
            ExecOutcomeKind.TimedOut => (CommandLedgerProtocol.FinishKind.TimedOut,
                new OutcomeV1("timed_out", json, "timed_out", $"killed after its timeout ({result.Signal ?? "exited"})", spools)),
            ExecOutcomeKind.Cancelled => (CommandLedgerProtocol.FinishKind.Cancelled,
                new OutcomeV1("cancelled", json, "cancelled", cancelledByCommand ? "stopped by a cancel command" : "stopped by the agent", spools)),
            _ when o.ExitCode == 0 => (CommandLedgerProtocol.FinishKind.Completed, new OutcomeV1("succeeded", json, null, null, spools)),
            _ => (CommandLedgerProtocol.FinishKind.Completed,
                new OutcomeV1("failed", json, "nonzero_exit", $"exited with code {o.ExitCode}", spools)),
        };
    }
}
