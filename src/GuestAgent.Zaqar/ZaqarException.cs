using System.Text.Json;

namespace GuestAgent.Zaqar;

/// <summary>
/// A Zaqar call that failed: either the server answered with an error (status, title and
/// description from its JSON error body) or it could not be reached (<see cref="StatusCode"/> is null).
/// </summary>
public class ZaqarException : Exception
{
    public ZaqarException(string method, string path, int? statusCode, string title, string description, Exception? inner = null)
        : base(Format(method, path, statusCode, title, description), inner)
    {
        Method = method;
        Path = path;
        StatusCode = statusCode;
        Title = title;
        Description = description;
    }

    public string Method { get; }
    public string Path { get; }

    /// <summary>HTTP status, or null when no response arrived (connection refused, reset, timeout).</summary>
    public int? StatusCode { get; }
    public string Title { get; }
    public string Description { get; }

    /// <summary>True when trying again later may succeed: no response, 500, 502, 503 or 504.</summary>
    public bool IsTransient => StatusCode is null or 500 or 502 or 503 or 504;

    /// <summary>
    /// A pre-signed URL that is wrong, expired or used outside its scope: Zaqar answers every such case with 404.
    /// </summary>
    public bool IsNotFound => StatusCode == 404;

    private static string Format(string method, string path, int? status, string title, string description)
    {
        var what = status is null ? "no response" : $"HTTP {status}";
        var detail = string.IsNullOrEmpty(description) ? title : $"{title}: {description}";
        return $"Zaqar {method} {path} failed ({what}): {detail}";
    }

    /// <summary>
    /// Reads Zaqar's error body ({"title","description"}), keystonemiddleware's
    /// ({"error":{"title","message"}}) or, failing both, the raw text.
    /// </summary>
    internal static (string Title, string Description) ParseBody(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return ("", "");
        }
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.Object)
                {
                    return (Str(err, "title"), Str(err, "message"));
                }
                if (root.TryGetProperty("title", out _) || root.TryGetProperty("description", out _))
                {
                    return (Str(root, "title"), Str(root, "description"));
                }
            }
        }
        catch (JsonException)
        {
            // not JSON: fall through to the raw text
        }
        var text = body.Trim();
        return ("", text.Length > 500 ? text[..500] + "..." : text);
    }

    private static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";
}

/// <summary>A request refused by the client before sending because it breaks one of Zaqar's limits.</summary>
public sealed class ZaqarLimitException(string message) : ArgumentException(message);

/// <summary>Zaqar answered, but with a response this client cannot read (not its JSON, cut short).</summary>
public sealed class ZaqarProtocolException(string message) : Exception(message);
