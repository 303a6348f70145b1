using Akka.Actor;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Operations.Http;

/// <summary>One run of one http command; stopping it aborts the request.</summary>
public sealed class HttpOperation(Guid commandId, HttpArgs args, HttpOptions options, int chunkBytes)
    : OperationActor<HttpOutcome>(commandId, options.Attempt,
        ct => HttpRunner.RunAsync(args, options, ct),
        ex => new HttpOutcome(HttpOutcomeKind.Failed, options.Attempt, TimeSpan.Zero, $"internal error: {ex.Message}"),
        (outcome, byCommand) => ToOutcome(outcome, chunkBytes, byCommand))
{
    /// <summary>Error code of a hop whose host:port is not in the tenant's http-destinations.</summary>
    public const string ForbiddenDestination = "forbidden_destination";

    /// <summary>Error code of a request that could not be carried out (connection, TLS, protocol, redirects).</summary>
    public const string HttpError = "http_error";

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
                    new OutcomeV1("cancelled", null, "cancelled", CancelReason(cancelledByCommand), []));
        }
        var body = o.Body!;
        var spools = new List<SpooledStreamV1>();
        body.AddSpool(spools, ChunkStreams.Body, chunkBytes);
        var json = System.Text.Json.JsonSerializer.Serialize(o.ToResult(body.ChunkCount(chunkBytes)), ProtocolJson.Options);
        return (CommandLedgerProtocol.FinishKind.Completed, new OutcomeV1("succeeded", json, null, null, spools));
    }
}
