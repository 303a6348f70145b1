using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Operations;
using GuestAgent.Agent.Transport;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Credentials;

/// <summary>
/// One <c>credentials</c> command: the binding's transport renews the guest's credentials on it
/// (<see cref="ICredentialsRenewal"/>; on Zaqar, its pre-signed URLs). A transport without
/// renewable credentials answers <see cref="NotPreSigned"/>.
/// </summary>
public sealed class CredentialsOperation(Guid commandId, int attempt, CredentialsArgs args, TenantBinding binding, ICredentialsRenewal? renewal)
    : OperationActor<CredentialsOutcome>(commandId, attempt,
        (ct, _) => renewal is null
            ? Task.FromResult(new CredentialsOutcome(null, NotPreSigned,
                $"tenant {binding.Name} holds no renewable credentials on its {binding.Transport} transport (not pre-signed URLs): there is nothing to renew"))
            : renewal.RenewAsync(args, ct),
        ex => new CredentialsOutcome(null, "internal_error", $"internal error: {ex.Message}"),
        (o, _) => ToOutcome(o))
{
    /// <summary>The binding does not use pre-signed URLs.</summary>
    public const string NotPreSigned = "not_presigned";

    /// <summary>A URL does not fit the binding (project, queue, methods) or has already expired.</summary>
    public const string InvalidCredentials = "invalid_credentials";

    /// <summary>The transport refused the new credentials: not signed by its key, or not for this queue.</summary>
    public const string CredentialsRefused = "credentials_refused";

    /// <summary>The transport could not be asked (down, timing out): nothing changed, send the command again.</summary>
    public const string ZaqarUnavailable = "zaqar_unavailable";

    public static Props Props(Guid commandId, int attempt, CredentialsArgs args, TenantBinding binding, ICredentialsRenewal? renewal) =>
        Akka.Actor.Props.Create(() => new CredentialsOperation(commandId, attempt, args, binding, renewal));

    private static (CommandLedgerProtocol.FinishKind, OutcomeV1) ToOutcome(CredentialsOutcome o) =>
        (CommandLedgerProtocol.FinishKind.Completed, o.Result is { } result
            ? new OutcomeV1("succeeded", System.Text.Json.JsonSerializer.Serialize(result, ProtocolJson.Options), null, null, [])
            : new OutcomeV1("failed", null, o.Code, o.Error, []));
}
