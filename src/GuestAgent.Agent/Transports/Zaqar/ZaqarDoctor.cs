using System.Text.Json.Nodes;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Diagnosis;
using GuestAgent.Agent.Transports.Zaqar.Credentials;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Transports.Zaqar;

/// <summary>
/// <c>guest-agent doctor</c> on a Zaqar binding. Every request is one Zaqar refuses after checking
/// the credentials, so it proves them without touching a command: a claim of zero messages on the
/// command queue (Zaqar answers 400, limit out of range) and a post of no messages to the reply queue
/// (400, no messages). A refusal of the credentials comes first: 401 (keystone), 403 (policy or
/// access rules) or 404 (every pre-signed URL failure).
/// </summary>
public static class ZaqarDoctor
{
    public static async Task<IReadOnlyList<DoctorCheck>> DiagnoseAsync(TenantBinding binding, AgentSettings settings, TimeProvider time,
        CancellationToken ct)
    {
        var name = binding.Name;
        var uri = new Uri(binding.Endpoint);
        if (await NetworkReach.ProblemAsync(name, "endpoint", uri.Host, uri.Port, ct).ConfigureAwait(false) is { } unreachable)
        {
            return [unreachable, NotChecked(name, "credentials"), NotChecked(name, "reply queue"), NotChecked(name, "clock")];
        }
        var auth = ZaqarTransport.AuthOf(binding);
        var credentials = auth.Mode == "presigned" ? new GuestCredentials(auth.CommandQueueUrl!, auth.ReplyQueueUrl!) : null;
        // The agent's own client id when it has one; the doctor creates nothing in the state directory.
        var clientId = ClientIdentity.Load(Path.Combine(settings.StateDir, ZaqarTransportFactory.ClientIdFile)) ?? Guid.NewGuid();
        var client = ZaqarTransport.ClientFor(binding, credentials, clientId, time, maxConnections: 1);

        var claim = await client.ProbeAsync(HttpMethod.Post, binding.CommandQueue, "claims", [("limit", 0)],
            new JsonObject { ["ttl"] = 60, ["grace"] = 60 }, ct).ConfigureAwait(false);
        if (claim.Status is null)
        {
            return [DoctorCheck.Fail(name, "endpoint", $"{binding.Endpoint} took the connection but gave no HTTP answer ({claim.Detail})",
                "check that the endpoint is Zaqar's API (scheme http or https, port)"),
                NotChecked(name, "credentials"), NotChecked(name, "reply queue"), NotChecked(name, "clock")];
        }
        var checks = new List<DoctorCheck>
        {
            DoctorCheck.Ok(name, "endpoint", $"Zaqar answers at {binding.Endpoint} ({(claim.ReceivedAt - claim.SentAt).TotalMilliseconds:0} ms)"),
            Credentials(binding, auth, credentials, claim, time),
        };
        var post = await client.ProbeAsync(HttpMethod.Post, binding.ReplyQueue, "messages", body: new JsonObject { ["messages"] = new JsonArray() },
            ct: ct).ConfigureAwait(false);
        checks.Add(ReplyQueue(binding, auth, post));
        checks.Add(claim.ServerDate is { } date
            ? ClockSkew.Judge(name, "Zaqar", ClockSkew.Estimate(date, claim.SentAt, claim.ReceivedAt),
                ClockSkew.Uncertainty(claim.SentAt, claim.ReceivedAt), ProtocolLimits.Default.ClockSkew)
            : new DoctorCheck(name, "clock", CheckVerdict.NotChecked, "Zaqar's answer had no Date header to compare the guest's clock with"));
        if (auth.Push is { } push)
        {
            checks.Add(await PushAsync(name, push.Url, ct).ConfigureAwait(false));
        }
        return checks;
    }

    /// <summary>
    /// Whether Zaqar's WebSocket server is reachable: a warning when not, since the binding then polls
    /// as without push. The subscription itself is not made (it would change what Zaqar holds).
    /// </summary>
    private static async Task<DoctorCheck> PushAsync(string binding, Uri url, CancellationToken ct) =>
        await NetworkReach.ProblemAsync(binding, "push", url.Host, url.Port, ct).ConfigureAwait(false) is { } problem
            ? problem with
            {
                Verdict = CheckVerdict.Warn,
                Detail = problem.Detail + "; the binding polls instead of being told of each command",
                Fix = "check push.websocket (Zaqar's [drivers:transport:websocket] host and port) and that its WebSocket server runs",
            }
            : DoctorCheck.Ok(binding, "push", $"Zaqar's WebSocket server at {url} takes connections (the subscription is not tried)");

    private static DoctorCheck NotChecked(string binding, string what) => DoctorCheck.Skipped(binding, what, "the endpoint is not reachable");

    private static DoctorCheck Credentials(TenantBinding binding, TenantAuth auth, GuestCredentials? credentials, ZaqarProbe claim, TimeProvider time)
    {
        var name = binding.Name;
        var queue = binding.CommandQueue;
        if (claim.Status is 400 or 201 or 204)
        {
            var detail = auth.Mode switch
            {
                "keystone" => $"Zaqar accepts the keystone token for claiming commands from {queue}",
                "presigned" => $"Zaqar accepts the command queue's pre-signed URL for claiming from {queue} (no command was claimed)",
                _ => $"Zaqar lets project {binding.Project} claim commands from {queue} without credentials",
            };
            if (auth.Mode != "presigned")
            {
                return DoctorCheck.Ok(name, "credentials", detail + " (no command was claimed)");
            }
            var expires = credentials!.ExpiresAt;
            var left = expires - time.GetUtcNow();
            detail += $"; the URLs (from {auth.Source}) expire at {ProtocolJson.FormatTimestamp(expires)}, in {Span(left)}";
            return left < auth.ExpiryWarning
                ? new DoctorCheck(name, "credentials", CheckVerdict.Warn, detail,
                    "renew them before they expire: guestctl credentials renew --queue ... --reply-queue ... --expires-in 7d")
                : DoctorCheck.Ok(name, "credentials", detail);
        }
        return DoctorCheck.Fail(name, "credentials", Refusal(binding, auth, claim, $"claiming commands from {queue}"), FixOf(binding, auth, claim.Status, "command-queue-signature"));
    }

    private static DoctorCheck ReplyQueue(TenantBinding binding, TenantAuth auth, ZaqarProbe post)
    {
        var name = binding.Name;
        if (post.Status is null)
        {
            return DoctorCheck.Fail(name, "reply queue", $"posting to {binding.ReplyQueue} got no answer ({post.Detail})", "run doctor again; check Zaqar's log");
        }
        if (post.Status is 400 or 201)
        {
            return DoctorCheck.Ok(name, "reply queue",
                $"Zaqar takes posts to {binding.ReplyQueue} with the binding's credentials (checked with a post of no messages: nothing was sent; " +
                "Zaqar creates the queue if it does not exist yet, as the first reply would)");
        }
        return DoctorCheck.Fail(name, "reply queue", Refusal(binding, auth, post, $"posting replies to {binding.ReplyQueue}"),
            FixOf(binding, auth, post.Status, "reply-queue-signature"));
    }

    private static string Refusal(TenantBinding binding, TenantAuth auth, ZaqarProbe probe, string doing)
    {
        var said = string.IsNullOrEmpty(probe.Detail) ? "" : $": {probe.Detail}";
        return (probe.Status, auth.Mode) switch
        {
            (401, "keystone") => $"Zaqar refused the keystone token for {doing} (HTTP 401{said}): it expired, was revoked, or is not a token",
            (401, _) => $"Zaqar wants credentials for {doing} (HTTP 401{said}): the binding has auth.mode = {auth.Mode}",
            (403, _) => $"Zaqar forbids {doing} with these credentials (HTTP 403{said}): the token's project, roles or access rules do not allow it",
            (404, "presigned") => $"Zaqar refused the pre-signed URL for {doing} (HTTP 404): expired by Zaqar's clock, minted with another " +
                                  $"secret_key, or for another project ({binding.Project}), queue or method",
            (404, _) => $"Zaqar answered 404 to {doing}{said}: the endpoint is not Zaqar's v2 API",
            _ => $"Zaqar refused {doing} (HTTP {probe.Status}{said})",
        };
    }

    private static string FixOf(TenantBinding binding, TenantAuth auth, int? status, string signature)
    {
        var key = $"guest-agent.tenants.{binding.Name}";
        return (status, auth.Mode) switch
        {
            (401, "keystone") => $"put a valid token in {key}.auth.token (openstack token issue) and restart the agent",
            (401, _) => $"this Zaqar authenticates with keystone: set {key}.auth to mode = keystone with a token, or to pre-signed URLs",
            (403, _) => $"give the credentials the right on this queue, or correct {key}.project and the queue names",
            (404, "presigned") => $"mint new URLs for project {binding.Project} and write {key}.auth.{signature}: " +
                                  "guestctl credentials mint --queue ... --reply-queue ... --expires-in 7d",
            (404, _) => $"correct {key}.endpoint: Zaqar's base URL, such as http://zaqar:8888",
            (>= 500, _) => "Zaqar or its storage has a fault: see Zaqar's log, then run doctor again",
            _ => "see Zaqar's answer above",
        };
    }

    private static string Span(TimeSpan t) =>
        t.TotalDays >= 1 ? $"{(int)t.TotalDays} d {t.Hours} h" : t.TotalHours >= 1 ? $"{(int)t.TotalHours} h {t.Minutes} min" : $"{Math.Max(0, (int)t.TotalMinutes)} min";
}
