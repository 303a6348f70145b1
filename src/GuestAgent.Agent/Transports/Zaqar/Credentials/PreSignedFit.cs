using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Transports.Zaqar.Credentials;

/// <summary>
/// Whether a pre-signed URL can serve one queue of a binding: for its project, only that queue's
/// paths, and every method the agent uses there. The same rules for URLs from the configuration,
/// from the state directory and from a <c>credentials</c> command.
/// </summary>
public static class PreSignedFit
{
    /// <summary>One problem: the field of the block it is about (null: the block as a whole) and what is wrong.</summary>
    public sealed record Misfit(string? Field, string Message)
    {
        /// <summary>"KEY.field: message" or "KEY message", where KEY names the block.</summary>
        public string At(string key) => Field is null ? $"{key} {Message}" : $"{key}.{Field}: {Message}";
    }

    /// <summary>What is wrong with <paramref name="url"/> for <paramref name="queue"/> (expiry aside); null when it fits.</summary>
    public static Misfit? Problem(PreSignedUrl url, string project, string queue, IReadOnlyList<(string Method, string Path)> needs)
    {
        if (url.Project != project)
        {
            return new("project", $"is '{url.Project}', but the binding's project is '{project}'");
        }
        if (string.IsNullOrEmpty(url.Signature) || !url.Signature.All(Uri.IsHexDigit))
        {
            return new("signature", "must be the hex HMAC Zaqar's share call (or guestctl credentials mint) returned");
        }
        try
        {
            _ = url.ExpiresAt;
        }
        catch (FormatException)
        {
            return new("expires", $"'{url.Expires}' is not a UTC time as Zaqar writes it (yyyy-MM-ddTHH:mm:ss)");
        }
        if (url.Paths.FirstOrDefault(p => !p.StartsWith($"/v2/queues/{queue}/", StringComparison.Ordinal)) is { } foreign)
        {
            return new("paths", $"'{foreign}' is not a path of queue '{queue}' (expected /v2/queues/{queue}/...)");
        }
        foreach (var (method, sub) in needs)
        {
            if (!url.Covers(method, $"/v2/queues/{queue}/{sub}"))
            {
                return new(null, $"does not allow {method} /v2/queues/{queue}/{sub}, which the agent needs " +
                                 $"(it needs {string.Join(", ", needs.Select(n => $"{n.Method} {n.Path}"))})");
            }
        }
        return null;
    }
}
