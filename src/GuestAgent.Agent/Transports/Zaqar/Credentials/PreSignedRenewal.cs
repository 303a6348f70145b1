using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Credentials;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Transport;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Transports.Zaqar.Credentials;

/// <summary>
/// A <c>credentials</c> command on a pre-signed binding: checks the new URLs against the binding,
/// proves them against Zaqar, keeps them in the state directory, then switches the binding's client
/// to them. Until all of that has succeeded the binding goes on with the URLs it had, so a bad or
/// refused renewal never cuts the guest off.
/// </summary>
public sealed class PreSignedRenewal(TenantBinding binding, GuestCredentials current, ZaqarClient zaqar, IFileSystem files, string stateDir,
    TimeProvider time) : ICredentialsRenewal
{
    public DateTimeOffset ExpiresAt => current.ExpiresAt;

    public async Task<CredentialsOutcome> RenewAsync(CredentialsArgs args, CancellationToken ct)
    {
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
                return new CredentialsOutcome(null, CredentialsOperation.InvalidCredentials, $"{problem.At($"args.{name}")}; the current URLs stay in use");
            }
            if (url.ExpiresAt <= now)
            {
                return new CredentialsOutcome(null, CredentialsOperation.InvalidCredentials,
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
                return new CredentialsOutcome(null, CredentialsOperation.CredentialsRefused,
                    $"Zaqar refused args.{name} for queue {queue} ({e.StatusCode}): it is not signed by this Zaqar's key for " +
                    "this project, queue and methods; the current URLs stay in use");
            }
            catch (ZaqarException e)
            {
                return new CredentialsOutcome(null, CredentialsOperation.ZaqarUnavailable,
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
}
