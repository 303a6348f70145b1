using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Agent.Operations;
using GuestAgent.Agent.Platform;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Credentials;

/// <summary>What a <c>credentials</c> command came to: the URLs now in use, or why the old ones stay.</summary>
public sealed record CredentialsOutcome(CredentialsResult? Result, string? Code, string? Error);

/// <summary>
/// One <c>credentials</c> command: checks the new pre-signed URLs against the binding, proves
/// them against Zaqar, keeps them in the state directory, then switches the binding's client to
/// them. Until all of that has succeeded the binding goes on with the URLs it had, so a bad or
/// refused renewal never cuts the guest off.
/// </summary>
public sealed class CredentialsOperation(Guid commandId, int attempt, CredentialsArgs args, TenantBinding binding,
    GuestCredentials? current, ZaqarClient zaqar, IFileSystem files, string stateDir, TimeProvider time)
    : OperationActor<CredentialsOutcome>(commandId, attempt,
        ct => RenewAsync(args, binding, current, zaqar, files, stateDir, time, ct),
        ex => new CredentialsOutcome(null, "internal_error", $"internal error: {ex.Message}"),
        (o, _) => ToOutcome(o))
{
    /// <summary>The binding does not use pre-signed URLs.</summary>
    public const string NotPreSigned = "not_presigned";

    /// <summary>A URL does not fit the binding (project, queue, methods) or has already expired.</summary>
    public const string InvalidCredentials = "invalid_credentials";

    /// <summary>Zaqar refused a new URL: it was not signed by this Zaqar's key, or not for this queue.</summary>
    public const string CredentialsRefused = "credentials_refused";

    /// <summary>Zaqar could not be asked (down, timing out): nothing changed, send the command again.</summary>
    public const string ZaqarUnavailable = "zaqar_unavailable";

    public static Props Props(Guid commandId, int attempt, CredentialsArgs args, TenantBinding binding, GuestCredentials? current,
        ZaqarClient zaqar, IFileSystem files, string stateDir, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new CredentialsOperation(commandId, attempt, args, binding, current, zaqar, files, stateDir, time));

    internal static async Task<CredentialsOutcome> RenewAsync(CredentialsArgs args, TenantBinding binding, GuestCredentials? current,
        ZaqarClient zaqar, IFileSystem files, string stateDir, TimeProvider time, CancellationToken ct)
    {
        if (current is null)
        {
            return new CredentialsOutcome(null, NotPreSigned,
                $"tenant {binding.Name} authenticates with auth.mode = {binding.Auth.Mode}, not pre-signed URLs: there is nothing to renew");
        }
        var now = time.GetUtcNow();
        var command = current.CommandQueue;
        var reply = current.ReplyQueue;
        var checks = new List<(PreSignedUrl Url, string Queue, string Name, IReadOnlyList<(string, string)> Needs, Func<ZaqarClient, Task> Probe)>();
        if (args.CommandQueueSignature is { } c)
        {
            command = ToUrl(c, binding.Project);
            checks.Add((command, binding.CommandQueue, "command_queue_signature", TenantAuth.CommandQueueNeeds,
                z => z.ProbeDeleteAsync(binding.CommandQueue, ct)));
        }
        if (args.ReplyQueueSignature is { } r)
        {
            reply = ToUrl(r, binding.Project);
            checks.Add((reply, binding.ReplyQueue, "reply_queue_signature", TenantAuth.ReplyQueueNeeds,
                z => z.ProbePostAsync(binding.ReplyQueue, ct)));
        }
        foreach (var (url, queue, name, needs, _) in checks)
        {
            if (PreSignedFit.Problem(url, binding.Project, queue, needs) is { } problem)
            {
                return new CredentialsOutcome(null, InvalidCredentials, $"{problem.At($"args.{name}")}; the current URLs stay in use");
            }
            if (url.ExpiresAt <= now)
            {
                return new CredentialsOutcome(null, InvalidCredentials,
                    $"args.{name} expired at {url.Expires} UTC; the current URLs stay in use");
            }
        }
        foreach (var (url, queue, name, _, probe) in checks)
        {
            try
            {
                await probe(zaqar.WithAuth(new ZaqarAuth.PreSigned(url))).ConfigureAwait(false);
            }
            catch (ZaqarException e) when (e.StatusCode is >= 400 and < 500)
            {
                return new CredentialsOutcome(null, CredentialsRefused,
                    $"Zaqar refused args.{name} for queue {queue} ({e.StatusCode}): it is not signed by this Zaqar's key for " +
                    "this project, queue and methods; the current URLs stay in use");
            }
            catch (ZaqarException e)
            {
                return new CredentialsOutcome(null, ZaqarUnavailable,
                    $"could not try args.{name} on Zaqar ({e.Message}); nothing changed, send the command again");
            }
        }
        // Kept before use: a restart after the switch must not fall back to URLs that may be expiring.
        CredentialsStore.Save(files, stateDir, binding.Name, command, reply, now);
        current.Replace(command, reply);
        return new CredentialsOutcome(new CredentialsResult(command.ExpiresAt, reply.ExpiresAt), null, null);
    }

    private static PreSignedUrl ToUrl(PreSignedBlock b, string project) =>
        new(b.Paths, b.Methods.Select(m => m.ToUpperInvariant()).ToList(), b.Project ?? project, b.Expires, b.Signature);

    private static (CommandLedgerProtocol.FinishKind, OutcomeV1) ToOutcome(CredentialsOutcome o) =>
        (CommandLedgerProtocol.FinishKind.Completed, o.Result is { } result
            ? new OutcomeV1("succeeded", System.Text.Json.JsonSerializer.Serialize(result, ProtocolJson.Options), null, null, [])
            : new OutcomeV1("failed", null, o.Code, o.Error, []));
}
