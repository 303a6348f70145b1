using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace GuestAgent.Zaqar;

/// <summary>
/// A Zaqar pre-signed URL: the right to use the given methods on the given paths of one queue of
/// one project until <see cref="Expires"/>, proven by an HMAC-SHA256 the server can check.
/// The holder sends it as the URL-Signature, URL-Expires, URL-Methods, URL-Paths and
/// X-Project-Id headers; it needs no keystone credentials.
/// </summary>
public sealed record PreSignedUrl(
    IReadOnlyList<string> Paths,
    IReadOnlyList<string> Methods,
    string Project,
    string Expires,
    string Signature)
{
    private const string DateFormat = "yyyy-MM-dd'T'HH:mm:ss";

    /// <summary>The expiry as an instant (Zaqar writes it as UTC without an offset).</summary>
    public DateTimeOffset ExpiresAt =>
        DateTimeOffset.ParseExact(Expires, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    /// <summary>The queue the signature covers (every signed path is /v2/queues/{queue}/...).</summary>
    public string Queue => Paths.Count == 0 ? "" : Paths[0].Split('/', StringSplitOptions.RemoveEmptyEntries) is [_, _, var q, ..] ? q : "";

    /// <summary>
    /// Whether this signature lets <paramref name="method"/> on <paramref name="path"/> through.
    /// Zaqar matches each signed path as a regular-expression search, so a signed
    /// /v2/queues/q/messages also covers /v2/queues/q/messages/{id}; this mirrors that for the
    /// plain paths Zaqar itself produces.
    /// </summary>
    public bool Covers(string method, string path) =>
        Methods.Contains(method, StringComparer.OrdinalIgnoreCase) &&
        Paths.Any(p => path.Contains(p, StringComparison.Ordinal));

    /// <summary>
    /// Computes a signature exactly as Zaqar 15 does (zaqar/common/urls.py), so whoever holds
    /// the server's [signed_url] secret_key can mint URLs offline.
    /// </summary>
    public static PreSignedUrl Mint(
        string secretKey, string queue, string project, DateTimeOffset expires,
        IEnumerable<string> paths, IEnumerable<string> methods)
    {
        ZaqarLimits.CheckQueueName(queue);
        ArgumentException.ThrowIfNullOrEmpty(secretKey);
        ArgumentException.ThrowIfNullOrEmpty(project);
        var fullPaths = paths.Select(p => $"/v2/queues/{queue}/{p}").Order(StringComparer.Ordinal).ToList();
        var sortedMethods = methods.Select(m => m.ToUpperInvariant()).Distinct().Order(StringComparer.Ordinal).ToList();
        if (fullPaths.Count == 0 || sortedMethods.Count == 0)
        {
            throw new ArgumentException("A pre-signed URL needs at least one path and one method.");
        }
        var expiresText = expires.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture);
        // Zaqar's format string is a raw Python string: the separators are a backslash and an 'n'.
        var body = $"{string.Join(',', fullPaths)}\\n{string.Join(',', sortedMethods)}\\n{project}\\n{expiresText}";
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secretKey), Encoding.UTF8.GetBytes(body));
        return new PreSignedUrl(fullPaths, sortedMethods, project, expiresText, Convert.ToHexStringLower(mac));
    }

    internal static PreSignedUrl FromJson(JsonElement e) => new(
        e.GetProperty("paths").EnumerateArray().Select(x => x.GetString()!).ToList(),
        e.GetProperty("methods").EnumerateArray().Select(x => x.GetString()!).ToList(),
        e.GetProperty("project").GetString()!,
        e.GetProperty("expires").GetString()!,
        e.GetProperty("signature").GetString()!);

    /// <summary>JSON as Zaqar's share call returns it; what a guest's config carries.</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        paths = Paths,
        methods = Methods,
        project = Project,
        expires = Expires,
        signature = Signature,
    });

    public static PreSignedUrl Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return FromJson(doc.RootElement);
    }
}
