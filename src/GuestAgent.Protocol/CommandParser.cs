using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using GuestAgent.Protocol.Args;
using GuestAgent.Protocol.Signing;
using static GuestAgent.Protocol.Args.ArgsReader;

namespace GuestAgent.Protocol;

/// <summary>
/// Reads and validates command bodies. Every way a body can be wrong ends in a
/// <see cref="CommandRejection"/>, never an exception, because bodies come from a queue anyone with
/// access can post to. Unknown fields (top level and inside <c>args</c>) are ignored, so that
/// newer issuers can add optional fields without a version bump; they survive in
/// <see cref="Command.RawArgs"/>. A JSON null counts as absent.
/// </summary>
public static partial class CommandParser
{
    public static CommandParseResult Parse(string json, DateTimeOffset now, ProtocolLimits? limits = null) =>
        Parse(Encoding.UTF8.GetBytes(json), now, limits);

    /// <summary>Parses a Zaqar message body as the Zaqar client hands it over.</summary>
    public static CommandParseResult Parse(JsonElement body, DateTimeOffset now, ProtocolLimits? limits = null) =>
        Parse(JsonMarshal.GetRawUtf8Value(body), now, limits);

    public static CommandParseResult Parse(ReadOnlySpan<byte> utf8Json, DateTimeOffset now, ProtocolLimits? limits = null) =>
        Parse(utf8Json, now, limits, signing: null);

    /// <summary>
    /// Parses and, with <paramref name="signing"/>, authenticates a command: right after <c>v</c>,
    /// before any other field is judged, the <c>sig</c> is checked (docs/protocol.md, "Signing").
    /// Without a policy the signature is read but not checked (re-reading commands already
    /// authenticated, e.g. from the agent's journal).
    /// <paramref name="catalog"/> names the ops that exist and reads their arguments: the agent passes
    /// its block registry; without one, the standard ops (<see cref="OpCatalog.Standard"/>) are read.
    /// </summary>
    public static CommandParseResult Parse(ReadOnlySpan<byte> utf8Json, DateTimeOffset now, ProtocolLimits? limits, SigningPolicy? signing,
        IOpCatalog? catalog = null)
    {
        // Declared out here so that even an unforeseen exception is answered under the command's id.
        Guid? salvagedId = null;
        string? salvagedReplyTo = null;
        string? keyId = null;
        JsonDocument? document = null;
        byte[]? documentBytes = null;
        try
        {
            limits ??= ProtocolLimits.Default;
            // JsonDocument checks UTF-8 only when a string is read; checking up front keeps
            // invalid bytes a malformed_json rejection instead of an exception deep inside.
            var validUtf8 = Utf8.IsValid(utf8Json);
            var malformed = validUtf8 ? TryParseDocument(utf8Json, out document, out documentBytes) : "The body is not valid UTF-8.";
            if (document is not null)
            {
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    (salvagedId, salvagedReplyTo) = Salvage(document.RootElement);
                }
            }
            else if (validUtf8)
            {
                (salvagedId, salvagedReplyTo) = SalvageTolerant(utf8Json);
            }
            if (utf8Json.Length > limits.MaxCommandBytes)
            {
                // Parsed anyway (the bytes are already in memory, parsing is linear) so the issuer gets a reply.
                return Reject(RejectCodes.Oversize, null,
                    $"The body is {utf8Json.Length} bytes; at most {limits.MaxCommandBytes} are accepted.", salvagedId, salvagedReplyTo);
            }
            if (malformed is not null || document is null)
            {
                return Reject(RejectCodes.MalformedJson, null, malformed ?? "The body is not valid JSON.", salvagedId, salvagedReplyTo);
            }
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Reject(RejectCodes.NotAnObject, null, $"The body must be a JSON object, not {Describe(root)}.", null, null);
            }
            if (signing is not null)
            {
                CheckVersion(root);
                keyId = Authenticate(root, signing);
            }
            var command = ReadCommand(root, now, limits, catalog ?? OpCatalog.Standard);
            if (signing is not null && keyId is null && command.Args is CredentialsArgs)
            {
                // New credentials let whoever sent them take over the guest's queues: never from
                // an unsigned command, whatever allow-unsigned says.
                throw new ArgsRejectedException(RejectCodes.Unsigned, "sig",
                    "A credentials command must be signed, even where the tenant accepts unsigned commands.");
            }
            if (keyId is not null)
            {
                CheckLifetime(command, signing!.MaxLifetime);
            }
            return CommandParseResult.Accepted(command);
        }
        catch (ArgsRejectedException e)
        {
            return Reject(e.Code, e.Field, e.Message, salvagedId, salvagedReplyTo, keyId);
        }
        catch (Exception e)
        {
            // A bug here must cost one command, not the poller that called us: an exception escaping
            // would be retried on the same message forever and stop the whole tenant.
            return Reject(RejectCodes.InternalError, null,
                $"The agent could not judge this command ({e.GetType().Name}: {e.Message}); nothing ran.", salvagedId, salvagedReplyTo, keyId);
        }
        finally
        {
            document?.Dispose();
            if (documentBytes is not null)
            {
                ArrayPool<byte>.Shared.Return(documentBytes);
            }
        }
    }

    /// <param name="bytes">The pooled copy the document reads, to be returned once it is disposed.</param>
    private static string? TryParseDocument(ReadOnlySpan<byte> utf8Json, out JsonDocument? document, out byte[]? bytes)
    {
        document = null;
        bytes = null;
        // First: JsonDocument's duplicate check throws (not JsonException) on such a property name.
        if (FindUnpairedSurrogate(utf8Json) is { } unpaired)
        {
            return unpaired;
        }
        try
        {
            // A pooled copy: a file chunk's command is a third of a megabyte, and a new array for
            // each would be a large-object allocation, in fresh pages every time.
            bytes = ArrayPool<byte>.Shared.Rent(utf8Json.Length);
            utf8Json.CopyTo(bytes);
            document = JsonDocument.Parse(bytes.AsMemory(0, utf8Json.Length), ProtocolJson.DocumentOptions);
            return null;
        }
        catch (JsonException e)
        {
            return $"The body is not valid JSON: {e.Message}";
        }
    }

    /// <summary>
    /// JSON lets a string escape half a surrogate pair (<c>"\ud800"</c>), which is no Unicode text:
    /// .NET throws when such a string or name is read, and it has no canonical form to sign. Such a
    /// body is refused whole, as invalid UTF-8 is, rather than failing wherever the string is read
    /// (or, in an unknown field, only when the accepted command is written back out).
    /// </summary>
    private static string? FindUnpairedSurrogate(ReadOnlySpan<byte> utf8Json)
    {
        if (utf8Json.IndexOf("\\u"u8) < 0)
        {
            // Most bodies escape nothing with \u: one quick scan spares them the reader pass.
            return null;
        }
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = ProtocolJson.DocumentOptions.MaxDepth });
        try
        {
            while (reader.Read())
            {
                if ((reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName) && reader.ValueIsEscaped
                    && TryGetString(ref reader) is null)
                {
                    return $"The body holds a string (at byte {reader.TokenStartIndex}) that escapes an unpaired UTF-16 surrogate, which is no Unicode text.";
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: parsing the document says where and why.
        }
        return null;
    }

    private static CommandParseResult Reject(string code, string? field, string message, Guid? id, string? replyTo, string? keyId = null) =>
        CommandParseResult.Rejected(new CommandRejection(code, message, field, id, replyTo, keyId));

    /// <summary>The key id of a valid signature; a rejection when the policy refuses the body.</summary>
    private static string? Authenticate(JsonElement root, SigningPolicy signing)
    {
        var check = Signatures.Verify(root, Signatures.CommandDomain, signing.Keys);
        return check.Status switch
        {
            SignatureStatus.Valid => check.KeyId,
            SignatureStatus.Unsigned when signing.AllowUnsigned => null,
            SignatureStatus.Unsigned => throw new ArgsRejectedException(RejectCodes.Unsigned, "sig",
                "The command is not signed and this agent accepts only signed commands for this tenant."),
            SignatureStatus.Malformed => throw new ArgsRejectedException(RejectCodes.BadSignature, "sig", check.Message),
            SignatureStatus.UnknownKey => throw new ArgsRejectedException(RejectCodes.UnknownKey, "sig.kid", check.Message),
            _ => throw new ArgsRejectedException(RejectCodes.BadSignature, "sig.mac", check.Message),
        };
    }

    /// <summary>
    /// A signed command must say when it expires, and soon enough that the agent still remembers its
    /// id (the dedup window is longer than the maximum lifetime): otherwise it could be replayed.
    /// </summary>
    private static void CheckLifetime(Command command, TimeSpan max)
    {
        if (command.ExpiresAt is not { } expires)
        {
            throw new ArgsRejectedException(RejectCodes.MissingField, "expires_at", "A signed command must carry expires_at.");
        }
        // No overflow: any two timestamps are less than TimeSpan.MaxValue apart.
        if (expires - command.IssuedAt > max)
        {
            throw Invalid("expires_at",
                $"expires_at is {(expires - command.IssuedAt).TotalSeconds:0} s after issued_at; signed commands may live at most {max.TotalSeconds:0} s.");
        }
    }

    private static void CheckVersion(JsonElement root)
    {
        var version = ReadInteger(Required(root, "v", "v"), "v");
        if (version != ProtocolVersion.Current)
        {
            throw new ArgsRejectedException(RejectCodes.UnsupportedVersion, "v",
                $"Protocol version {version} is not supported; this agent speaks v={ProtocolVersion.Current}.");
        }
    }

    /// <summary>
    /// The id and reply queue of a body that parsed as an object, each if it is individually
    /// well-formed, whatever else is wrong. The same rule as <see cref="SalvageTolerant"/>, which
    /// gives the same answer for such a body.
    /// </summary>
    private static (Guid? Id, string? ReplyTo) Salvage(JsonElement root)
    {
        Guid? id = root.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String
            && Guid.TryParseExact(i.GetString(), "D", out var g) ? g : null;
        var replyTo = root.TryGetProperty("reply_to", out var r) && r.ValueKind == JsonValueKind.String
            && QueueNames.IsValid(r.GetString()) ? r.GetString() : null;
        return (id, replyTo);
    }

    /// <summary>Nesting the tolerant salvage reads through; far beyond what a command may have, still bounded.</summary>
    internal const int SalvageMaxDepth = 4096;

    /// <summary>
    /// The id and reply queue of a body that is not a well-formed JSON document (malformed or
    /// oversize), so that its rejection still reaches the issuer whenever they can be read. The rule:
    /// <list type="number">
    /// <item>The body must be valid UTF-8 (the caller checks) and its first token must open an object; otherwise nothing is salvaged.</item>
    /// <item>The members of that top-level object are read in order by a strict forward-only reader
    /// (no comments, no trailing commas, no NaN or Infinity, nesting up to <see cref="SalvageMaxDepth"/>)
    /// until the reader fails or the object ends; nested values are skipped, and nothing after the object is read.</item>
    /// <item><c>id</c> is taken when its value is a string holding a UUID in "D" form (any case),
    /// <c>reply_to</c> when its value is a string that <see cref="QueueNames.IsValid"/> accepts.</item>
    /// <item>Either is taken only if its name (compared after unescaping) appeared exactly once among
    /// the top-level member names read: with two <c>id</c> members no id is salvaged, whatever their values.</item>
    /// </list>
    /// </summary>
    private static (Guid? Id, string? ReplyTo) SalvageTolerant(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions
        {
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
            MaxDepth = SalvageMaxDepth,
        });
        Guid? id = null;
        string? replyTo = null;
        int ids = 0, replyTos = 0;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return (null, null);
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isId = NameIs(ref reader, "id"u8);
                var isReplyTo = !isId && NameIs(ref reader, "reply_to"u8);
                ids += isId ? 1 : 0;
                replyTos += isReplyTo ? 1 : 0;
                if (!reader.Read())
                {
                    break;
                }
                if (reader.TokenType == JsonTokenType.String && (isId || isReplyTo) && TryGetString(ref reader) is { } value)
                {
                    if (isId)
                    {
                        id = Guid.TryParseExact(value, "D", out var g) ? g : null;
                    }
                    else
                    {
                        replyTo = QueueNames.IsValid(value) ? value : null;
                    }
                }
                else if (isId)
                {
                    id = null;
                }
                else if (isReplyTo)
                {
                    replyTo = null;
                }
                // Skips a nested object or array whole; a no-op for anything else.
                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // The reader failed here: what was read before stands.
        }
        return (ids == 1 ? id : null, replyTos == 1 ? replyTo : null);
    }

    private static bool NameIs(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        try
        {
            return reader.ValueTextEquals(name);
        }
        catch (InvalidOperationException)
        {
            // An escaped unpaired surrogate: no name the salvage looks for.
            return false;
        }
    }

    private static string? TryGetString(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            // An escaped unpaired surrogate.
            return null;
        }
    }

    private static Command ReadCommand(JsonElement root, DateTimeOffset now, ProtocolLimits limits, IOpCatalog catalog)
    {
        // Version first: a different version may have a different shape, and that is the useful complaint.
        CheckVersion(root);
        var id = ReadGuid(Required(root, "id", "id"), "id");
        var op = ReadString(Required(root, "op", "op"), "op");
        var readArgs = catalog.ReaderFor(op) ?? throw new ArgsRejectedException(RejectCodes.UnknownOp, "op",
            $"Unknown op '{op}'; known ops are {string.Join(", ", catalog.OpNames.Order(StringComparer.Ordinal))}.");

        var mode = Optional(root, "mode") is { } modeElement
            ? ReadString(modeElement, "mode") switch
            {
                "call" => CommandMode.Call,
                "cast" => CommandMode.Cast,
                var other => throw Invalid("mode", $"mode must be \"call\" or \"cast\", not \"{other}\"."),
            }
            : CommandMode.Call;

        string? replyTo = null;
        if (Optional(root, "reply_to") is { } replyToElement)
        {
            replyTo = ReadString(replyToElement, "reply_to");
            if (!QueueNames.IsValid(replyTo))
            {
                throw Invalid("reply_to", $"reply_to must be a queue name of 1-{QueueNames.MaxLength} ASCII letters, digits, '_' or '-'.");
            }
        }
        else if (mode == CommandMode.Call)
        {
            throw new ArgsRejectedException(RejectCodes.MissingField, "reply_to", "reply_to is required when mode is \"call\".");
        }

        var issuedAt = ReadTimestamp(Required(root, "issued_at", "issued_at"), "issued_at");
        var expiresAt = Optional(root, "expires_at") is { } e ? ReadTimestamp(e, "expires_at") : (DateTimeOffset?)null;

        var onInterrupt = Optional(root, "on_interrupt") is { } interruptElement
            ? ReadString(interruptElement, "on_interrupt") switch
            {
                "rerun" => InterruptPolicy.Rerun,
                "fail" => InterruptPolicy.Fail,
                var other => throw Invalid("on_interrupt", $"on_interrupt must be \"rerun\" or \"fail\", not \"{other}\"."),
            }
            : Command.DefaultInterruptPolicy(mode);

        CommandSignature? signature = null;
        if (Optional(root, "sig") is { } sig)
        {
            RequireObject(sig, "sig");
            signature = new CommandSignature(
                ReadString(Required(sig, "kid", "sig.kid"), "sig.kid"),
                ReadString(Required(sig, "mac", "sig.mac"), "sig.mac"));
        }

        JsonElement args;
        if (Optional(root, "args") is { } argsElement)
        {
            RequireObject(argsElement, "args");
            args = argsElement.Clone();
        }
        else
        {
            // Ops without arguments (ping) need not send an empty object.
            args = EmptyObject;
        }

        CheckTimes(issuedAt, expiresAt, now, limits.ClockSkew);

        var typedArgs = readArgs(args, limits);

        return new Command(ProtocolVersion.Current, id, op, mode, replyTo, issuedAt, expiresAt, onInterrupt, typedArgs, signature, args);
    }

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    private static void CheckTimes(DateTimeOffset issuedAt, DateTimeOffset? expiresAt, DateTimeOffset now, TimeSpan skew)
    {
        if (expiresAt <= issuedAt)
        {
            throw new ArgsRejectedException(RejectCodes.Expired, "expires_at",
                $"expires_at ({ProtocolJson.FormatTimestamp(expiresAt.Value)}) is not after issued_at ({ProtocolJson.FormatTimestamp(issuedAt)}).");
        }
        // Timestamps may be anything from year 1 to 9999; saturating keeps the comparisons exact
        // where plain addition would throw. A difference of two timestamps always fits a TimeSpan.
        if (issuedAt > AddSaturating(now, skew))
        {
            throw new ArgsRejectedException(RejectCodes.Expired, "issued_at",
                $"issued_at ({ProtocolJson.FormatTimestamp(issuedAt)}) is {(issuedAt - now).TotalSeconds:0} s in the future " +
                $"(agent clock {ProtocolJson.FormatTimestamp(now)}, allowed skew {skew.TotalSeconds:0} s).");
        }
        if (expiresAt is { } expiry && now > AddSaturating(expiry, skew))
        {
            throw new ArgsRejectedException(RejectCodes.Expired, "expires_at",
                $"The command expired at {ProtocolJson.FormatTimestamp(expiry)} " +
                $"(agent clock {ProtocolJson.FormatTimestamp(now)}, allowed skew {skew.TotalSeconds:0} s).");
        }
    }

    /// <summary><paramref name="t"/> + <paramref name="span"/> in UTC, clamped to the range of <see cref="DateTimeOffset"/> instead of throwing.</summary>
    private static DateTimeOffset AddSaturating(DateTimeOffset t, TimeSpan span)
    {
        var ticks = t.UtcTicks;
        var max = DateTimeOffset.MaxValue.UtcTicks;
        var sum = span.Ticks >= 0
            ? (span.Ticks > max - ticks ? max : ticks + span.Ticks)
            : (span.Ticks < -ticks ? 0 : ticks + span.Ticks);
        return new DateTimeOffset(sum, TimeSpan.Zero);
    }

}
