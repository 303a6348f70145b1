using Akka.Actor;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;

namespace GuestAgent.Agent.Operations;

/// <summary>
/// One run of one command, a child of the ledger. The work runs in a task whose outcome is piped
/// back, so the actor stays responsive (a cancel) meanwhile; the outcome goes to the ledger as
/// <see cref="CommandLedgerProtocol.OperationFinished"/> and the actor stops. Stopping the actor
/// (agent shutdown, ledger restart) cancels the work.
/// </summary>
public abstract class OperationActor<TOutcome> : ReceiveActor where TOutcome : class
{
    private readonly CancellationTokenSource _cancel = new();

    /// <param name="run">The work.</param>
    /// <param name="crashed">The outcome when the work throws instead of returning one.</param>
    /// <param name="finish">Turns the outcome into the ledger's; the flag says whether a cancel command stopped it.</param>
    protected OperationActor(Guid commandId, int attempt, Func<CancellationToken, Task<TOutcome>> run, Func<Exception, TOutcome> crashed,
        Func<TOutcome, bool, (CommandLedgerProtocol.FinishKind Kind, OutcomeV1 Outcome)> finish)
    {
        var ledger = Context.Parent;
        var cancelledByCommand = false;
        run(_cancel.Token).PipeTo(Self, failure: crashed);

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
        _cancel.Cancel();
        _cancel.Dispose();
    }

    /// <summary>Why a run was cancelled, for the final reply.</summary>
    protected static string CancelReason(bool byCommand) => byCommand ? "stopped by a cancel command" : "stopped by the agent";
}
