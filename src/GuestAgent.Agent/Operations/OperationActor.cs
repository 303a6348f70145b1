using Akka.Actor;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;

namespace GuestAgent.Agent.Operations;

/// <summary>
/// One run of one command, a child of the ledger. The work runs in a task whose outcome is piped
/// back, so the actor stays responsive (a cancel) meanwhile; the outcome goes to the ledger as
/// <see cref="CommandLedgerProtocol.OperationFinished"/> and the actor stops. Stopping the actor
/// (agent shutdown, ledger restart) first signals the work that it is being detached from (work
/// that outlives the agent, such as an exec run under its supervisor, is left running and found
/// again by the next ledger), then cancels it.
/// </summary>
public abstract class OperationActor<TOutcome> : ReceiveActor where TOutcome : class
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly CancellationTokenSource _detach = new();

    /// <param name="run">The work, with its cancellation and its detaching.</param>
    /// <param name="crashed">The outcome when the work throws instead of returning one.</param>
    /// <param name="finish">Turns the outcome into the ledger's; the flag says whether a cancel command stopped it.</param>
    protected OperationActor(Guid commandId, int attempt, Func<CancellationToken, CancellationToken, Task<TOutcome>> run, Func<Exception, TOutcome> crashed,
        Func<TOutcome, bool, (CommandLedgerProtocol.FinishKind Kind, OutcomeV1 Outcome)> finish)
    {
        var ledger = Context.Parent;
        var cancelledByCommand = false;
        run(_cancel.Token, _detach.Token).PipeTo(Self, failure: crashed);

        Receive<CommandLedgerProtocol.CancelOperation>(_ =>
        {
            cancelledByCommand = true;
            _cancel.Cancel();
        });
        Receive<TOutcome>(o =>
        {
            var (kind, outcome) = finish(o, cancelledByCommand);
            ledger.Tell(new CommandLedgerProtocol.OperationFinished(commandId, attempt, outcome, kind));
            Context.Stop(Self);
        });
    }

    protected override void PostStop()
    {
        // Detaching first: work that can outlive the agent sees it before the cancel and stops only waiting.
        _detach.Cancel();
        _cancel.Cancel();
        _detach.Dispose();
        _cancel.Dispose();
    }

    /// <summary>Why a run was cancelled, for the final reply.</summary>
    protected static string CancelReason(bool byCommand) => byCommand ? "stopped by a cancel command" : "stopped by the agent";
}
