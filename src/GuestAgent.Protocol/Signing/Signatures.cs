using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuestAgent.Protocol.Signing;

/// <summary>A shared HMAC key and the id that names it in <c>sig.kid</c>.</summary>
public sealed record SigningKey
{
    /// <summary>Shorter secrets are refused: HMAC-SHA256 is only as strong as its key.</summary>
    public const int MinSecretBytes = 32;

    public SigningKey(string id, byte[] secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(secret);
        if (secret.Length < MinSecretBytes)
        {
            throw new ArgumentException($"The secret of key '{id}' has {secret.Length} bytes; at least {MinSecretBytes} are required.", nameof(secret));
        }
        Id = id;
        Secret = secret;
    }

    public string Id { get; }

    public byte[] Secret { get; }

    /// <summary>A key from its id and its secret as standard base64 (how configuration and docs write it).</summary>
    public static SigningKey FromBase64(string id, string secretBase64) => new(id, Convert.FromBase64String(secretBase64.Trim()));

    /// <summary>Never prints the secret.</summary>
    public override string ToString() => $"SigningKey {Id}";
}

/// <summary>What a signature check found.</summary>
public enum SignatureStatus
{
    Valid,

    /// <summary>No <c>sig</c> member (or null).</summary>
    Unsigned,

    /// <summary><c>sig</c> is not an object with string <c>kid</c> and <c>mac</c>.</summary>
    Malformed,

    /// <summary><c>sig.kid</c> names no key of the verifier.</summary>
    UnknownKey,

    /// <summary>The MAC does not match (tampered, or signed with another secret), or the body has no canonical form.</summary>
    BadMac,
}

/// <summary>The result of <see cref="Signatures.Verify"/>: a status, the key id (when the sig had one) and why.</summary>
public sealed record SignatureCheck(SignatureStatus Status, string? KeyId, string Message)
{
    public bool IsValid => Status == SignatureStatus.Valid;
}

/// <summary>
/// HMAC-SHA256 signatures of commands and replies (docs/protocol.md, "Signing"). The MAC is over a
/// domain label followed by the <see cref="CanonicalJson"/> bytes of the object without its
/// <c>sig</c>; the label keeps a signed reply from ever verifying as a command and vice versa.
/// </summary>
public static class Signatures
{
    /// <summary>The member that carries the signature.</summary>
    public const string Member = "sig";

    /// <summary>Prefix of the MAC input of a command.</summary>
    public static readonly string CommandDomain = "guestagent-v1 command\n";

    /// <summary>Prefix of the MAC input of a reply.</summary>
    public static readonly string ReplyDomain = "guestagent-v1 reply\n";

    /// <summary>The base64 HMAC-SHA256 of <paramref name="body"/> (its <c>sig</c> left out) under <paramref name="key"/>.</summary>
    /// <exception cref="FormatException">The body has no canonical form.</exception>
    public static string ComputeMac(SigningKey key, string domain, JsonElement body)
    {
        ArgumentNullException.ThrowIfNull(key);
        // Sized from the body: the canonical form is about as long, so a chunk's is not grown by doubling.
        var canonical = new ArrayBufferWriter<byte>(body.ValueKind == JsonValueKind.Undefined
            ? 256
            : System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(body).Length + 64);
        CanonicalJson.WriteTo(canonical, body, Member);
        using var mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key.Secret);
        mac.AppendData(Encoding.ASCII.GetBytes(domain));
        mac.AppendData(canonical.WrittenSpan);
        return Convert.ToBase64String(mac.GetHashAndReset());
    }

    /// <summary><paramref name="body"/> (a JSON object) with a <c>sig</c> member made with <paramref name="key"/>, replacing any there was.</summary>
    public static JsonObject Sign(JsonElement body, SigningKey key, string domain)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("Only a JSON object can be signed.", nameof(body));
        }
        var mac = ComputeMac(key, domain, body);
        // From the element's own UTF-8: a file chunk's command as a string would be two thirds of a megabyte.
        var node = JsonNode.Parse(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(body))!.AsObject();
        node.Remove(Member);
        node[Member] = new JsonObject { ["kid"] = key.Id, ["mac"] = mac };
        return node;
    }

    /// <summary>Signs a command's wire form.</summary>
    public static JsonObject SignCommand(Command command, SigningKey key) =>
        Sign(command.ToJsonElement(), key, CommandDomain);

    /// <summary>Signs a reply's wire form.</summary>
    public static JsonObject SignReply(Reply reply, SigningKey key) => Sign(reply.ToJsonElement(), key, ReplyDomain);

    /// <summary>
    /// Checks the <c>sig</c> of <paramref name="body"/> against <paramref name="keys"/> (any of them,
    /// chosen by <c>kid</c>), in constant time for the MAC comparison.
    /// </summary>
    public static SignatureCheck Verify(JsonElement body, string domain, IEnumerable<SigningKey> keys)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty(Member, out var sig) || sig.ValueKind == JsonValueKind.Null)
        {
            return new(SignatureStatus.Unsigned, null, "The message has no sig.");
        }
        if (sig.ValueKind != JsonValueKind.Object
            || !sig.TryGetProperty("kid", out var kidElement) || kidElement.ValueKind != JsonValueKind.String
            || !sig.TryGetProperty("mac", out var macElement) || macElement.ValueKind != JsonValueKind.String)
        {
            return new(SignatureStatus.Malformed, null, "sig must be an object with string members kid and mac.");
        }
        var kid = kidElement.GetString()!;
        var key = keys.FirstOrDefault(k => k.Id == kid);
        if (key is null)
        {
            return new(SignatureStatus.UnknownKey, kid, $"sig.kid '{Printable(kid)}' names no key known here.");
        }
        string expected;
        try
        {
            expected = ComputeMac(key, domain, body);
        }
        catch (FormatException e)
        {
            return new(SignatureStatus.BadMac, kid, e.Message);
        }
        var given = Encoding.ASCII.GetBytes(macElement.GetString()!);
        return CryptographicOperations.FixedTimeEquals(given, Encoding.ASCII.GetBytes(expected))
            ? new(SignatureStatus.Valid, kid, "valid")
            : new(SignatureStatus.BadMac, kid, $"sig.mac does not match the message under key '{Printable(kid)}'.");
    }

    // A key id comes from the untrusted body and goes into logs and replies: keep it short and plain.
    private static string Printable(string s)
    {
        var cut = s.Length > 64 ? s[..64] + "…" : s;
        return new string(cut.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}
