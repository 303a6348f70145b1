using Akka.Actor;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Operations.Http;

/// <summary>
/// One run of one http command, a child of the ledger. The request runs in a task whose outcome
/// is piped back; the actor stays responsive (cancel) meanwhile. Stopping the actor (agent
/// shutdown, ledger restart) aborts the request.
/// </summary>
public sealed class HttpOperation : ReceiveActor
{
    /// <summary>Error code of a hop whose host:port is not in the tenant's http-destinations.</summary>
    public const string ForbiddenDestination = "forbidden_destination";

    /// <summary>Error code of a request that could not be carried out (connection, TLS, protocol, redirects).</summary>
    public const string HttpError = "http_error";

    private readonly CancellationTokenSource _cancel = new();
    private bool _cancelledByCommand;

    public HttpOperation(Guid commandId, HttpArgs args, HttpOptions options, int chunkBytes)
    {
        var ledger = Context.Parent;
        HttpRunner.RunAsync(args, options, _cancel.Token).PipeTo(Self,
            failure: ex => new HttpOutcome(HttpOutcomeKind.Failed, options.Attempt, TimeSpan.Zero, $"internal error: {ex.Message}"));

        Receive<CommandLedgerProtocol.CancelOperation>(_ =>
        {
            _cancelledByCommand = true;
            _cancel.Cancel();
        });
        Receive<HttpOutcome>(outcome =>
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

    public static Props Props(Guid commandId, HttpArgs args, HttpOptions options, int chunkBytes) =>
        Akka.Actor.Props.Create(() => new HttpOperation(commandId, args, options, chunkBytes));

    internal static (CommandLedgerProtocol.FinishKind, OutcomeV1) ToOutcome(HttpOutcome o, int chunkBytes, bool cancelledByCommand)
    {
        switch (o.Kind)
        {
            case HttpOutcomeKind.Forbidden:
                return (CommandLedgerProtocol.FinishKind.Completed, new OutcomeV1("failed", null, ForbiddenDestination, o.Error, []));
            case HttpOutcomeKind.Failed:
                return (CommandLedgerProtocol.FinishKind.Completed, new OutcomeV1("failed", null, HttpError, o.Error, []));
            case HttpOutcomeKind.TimedOut:
                return (CommandLedgerProtocol.FinishKind.TimedOut, new OutcomeV1("timed_out", null, "timed_out", o.Error, []));
            case HttpOutcomeKind.Cancelled:
                return (CommandLedgerProtocol.FinishKind.Cancelled,
                    new OutcomeV1("cancelled", null, "cancelled", cancelledByCommand ? "stopped by a cancel command" : "stopped by the agent", []));
        }
        var body = o.Body!;
        var chunks = body.TotalBytes <= body.InlineBytes ? 0 : (int)((body.TotalBytes - body.InlineBytes + chunkBytes - 1) / chunkBytes);
        var spools = new List<SpooledStreamV1>();
        if (body.SpoolPath is not null && chunks > 0)
        {
            spools.Add(new SpooledStreamV1(ChunkStreams.Body, body.SpoolPath, body.TotalBytes, body.InlineBytes, body.Sha256, chunks));
        }
        var json = System.Text.Json.JsonSerializer.Serialize(o.ToResult(chunks), ProtocolJson.Options);
        return (CommandLedgerProtocol.FinishKind.Completed, new OutcomeV1("succeeded", json, null, null, spools));
    }
}
