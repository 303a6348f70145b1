using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using GuestAgent.Protocol.Signing;

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
    /// </summary>
    public static CommandParseResult Parse(ReadOnlySpan<byte> utf8Json, DateTimeOffset now, ProtocolLimits? limits, SigningPolicy? signing)
    {
        // Declared out here so that even an unforeseen exception is answered under the command's id.
        Guid? salvagedId = null;
        string? salvagedReplyTo = null;
        string? keyId = null;
        JsonDocument? document = null;
        try
        {
            limits ??= ProtocolLimits.Default;
            // JsonDocument checks UTF-8 only when a string is read; checking up front keeps
            // invalid bytes a malformed_json rejection instead of an exception deep inside.
            var validUtf8 = Utf8.IsValid(utf8Json);
            var malformed = validUtf8 ? TryParseDocument(utf8Json, out document) : "The body is not valid UTF-8.";
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
            var command = ReadCommand(root, now, limits);
            if (signing is not null && keyId is null && command.Op == Ops.Credentials)
            {
                // New credentials let whoever sent them take over the guest's queues: never from
                // an unsigned command, whatever allow-unsigned says.
                throw new RejectException(RejectCodes.Unsigned, "sig",
                    "A credentials command must be signed, even where the tenant accepts unsigned commands.");
            }
            if (keyId is not null)
            {
                CheckLifetime(command, signing!.MaxLifetime);
            }
            return CommandParseResult.Accepted(command);
        }
        catch (RejectException e)
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
        }
    }

    private static string? TryParseDocument(ReadOnlySpan<byte> utf8Json, out JsonDocument? document)
    {
        document = null;
        // First: JsonDocument's duplicate check throws (not JsonException) on such a property name.
        if (FindUnpairedSurrogate(utf8Json) is { } unpaired)
        {
            return unpaired;
        }
        try
        {
            document = JsonDocument.Parse(utf8Json.ToArray(), ProtocolJson.DocumentOptions);
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
            SignatureStatus.Unsigned => throw new RejectException(RejectCodes.Unsigned, "sig",
                "The command is not signed and this agent accepts only signed commands for this tenant."),
            SignatureStatus.Malformed => throw new RejectException(RejectCodes.BadSignature, "sig", check.Message),
            SignatureStatus.UnknownKey => throw new RejectException(RejectCodes.UnknownKey, "sig.kid", check.Message),
            _ => throw new RejectException(RejectCodes.BadSignature, "sig.mac", check.Message),
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
            throw new RejectException(RejectCodes.MissingField, "expires_at", "A signed command must carry expires_at.");
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
            throw new RejectException(RejectCodes.UnsupportedVersion, "v",
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

    private static Command ReadCommand(JsonElement root, DateTimeOffset now, ProtocolLimits limits)
    {
        // Version first: a different version may have a different shape, and that is the useful complaint.
        CheckVersion(root);
        var id = ReadGuid(Required(root, "id", "id"), "id");
        var op = ReadString(Required(root, "op", "op"), "op");
        if (!Ops.IsParseable(op))
        {
            throw new RejectException(RejectCodes.UnknownOp, "op",
                $"Unknown op '{op}'; known ops are {string.Join(", ", Ops.Known.Concat(Ops.Planned))}.");
        }

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
            throw new RejectException(RejectCodes.MissingField, "reply_to", "reply_to is required when mode is \"call\".");
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

        OpArgs typedArgs = op switch
        {
            Ops.Exec => ReadExecArgs(args, limits),
            Ops.Status => new StatusArgs(ReadGuid(Required(args, "command_id", "args.command_id"), "args.command_id")),
            Ops.Cancel => new CancelArgs(ReadGuid(Required(args, "command_id", "args.command_id"), "args.command_id")),
            Ops.Ping => new PingArgs(),
            Ops.Http => ReadHttpArgs(args, limits),
            // A url makes a file.put one download instead of one chunk of a transfer.
            Ops.FilePut => Optional(args, "url") is null ? ReadFilePutArgs(args) : ReadFilePutUrlArgs(args, limits),
            Ops.FileGet => ReadFileGetArgs(args, limits),
            Ops.Credentials => ReadCredentialsArgs(args),
            _ => throw new InvalidOperationException($"Op '{op}' is listed as known but has no argument reader."),
        };

        return new Command(ProtocolVersion.Current, id, op, mode, replyTo, issuedAt, expiresAt, onInterrupt, typedArgs, signature, args);
    }

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    private static void CheckTimes(DateTimeOffset issuedAt, DateTimeOffset? expiresAt, DateTimeOffset now, TimeSpan skew)
    {
        if (expiresAt <= issuedAt)
        {
            throw new RejectException(RejectCodes.Expired, "expires_at",
                $"expires_at ({ProtocolJson.FormatTimestamp(expiresAt.Value)}) is not after issued_at ({ProtocolJson.FormatTimestamp(issuedAt)}).");
        }
        // Timestamps may be anything from year 1 to 9999; saturating keeps the comparisons exact
        // where plain addition would throw. A difference of two timestamps always fits a TimeSpan.
        if (issuedAt > AddSaturating(now, skew))
        {
            throw new RejectException(RejectCodes.Expired, "issued_at",
                $"issued_at ({ProtocolJson.FormatTimestamp(issuedAt)}) is {(issuedAt - now).TotalSeconds:0} s in the future " +
                $"(agent clock {ProtocolJson.FormatTimestamp(now)}, allowed skew {skew.TotalSeconds:0} s).");
        }
        if (expiresAt is { } expiry && now > AddSaturating(expiry, skew))
        {
            throw new RejectException(RejectCodes.Expired, "expires_at",
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

    private static ExecArgs ReadExecArgs(JsonElement args, ProtocolLimits limits)
    {
        var argvElement = Optional(args, "argv");
        var shellElement = Optional(args, "shell");
        if (argvElement is not null && shellElement is not null)
        {
            throw Invalid("args.argv", "exec takes exactly one of args.argv and args.shell, not both.");
        }
        if (argvElement is null && shellElement is null)
        {
            throw new RejectException(RejectCodes.MissingField, "args.argv",
                "exec needs args.argv (program and arguments) or args.shell (a script for /bin/sh -c).");
        }

        string[]? argv = null;
        if (argvElement is { } a)
        {
            if (a.ValueKind != JsonValueKind.Array)
            {
                throw WrongType("args.argv", "an array of strings", a);
            }
            argv = new string[a.GetArrayLength()];
            var i = 0;
            foreach (var item in a.EnumerateArray())
            {
                argv[i] = ReadCleanString(item, $"args.argv[{i}]", allowEmpty: i > 0);
                i++;
            }
            if (argv.Length == 0)
            {
                throw Invalid("args.argv", "args.argv must name at least the program to run.");
            }
        }
        var shell = shellElement is { } s ? ReadCleanString(s, "args.shell", allowEmpty: false) : null;

        Dictionary<string, string>? env = null;
        if (Optional(args, "env") is { } envElement)
        {
            RequireObject(envElement, "args.env");
            env = [];
            foreach (var variable in envElement.EnumerateObject())
            {
                var path = $"args.env.{variable.Name}";
                if (variable.Name.Length == 0 || variable.Name.Contains('=') || variable.Name.Contains('\0'))
                {
                    throw Invalid(path, $"Environment variable names must be non-empty without '=' or NUL; got \"{variable.Name}\".");
                }
                env[variable.Name] = ReadCleanString(variable.Value, path, allowEmpty: true);
            }
        }

        var cwd = Optional(args, "cwd") is { } c ? ReadCleanString(c, "args.cwd", allowEmpty: false) : null;

        var (stdin, stdinB64) = ReadTextOrBase64(args, "stdin");
        var timeout = ReadTimeout(args, ExecArgs.DefaultTimeoutSeconds, limits);

        var runAs = Optional(args, "run_as") is { } r ? ReadCleanString(r, "args.run_as", allowEmpty: false) : null;

        var killGrace = ExecArgs.DefaultKillGraceSeconds;
        if (Optional(args, "kill_grace_s") is { } k)
        {
            killGrace = ReadNumber(k, "args.kill_grace_s");
            if (killGrace < 0 || killGrace > limits.MaxKillGraceSeconds)
            {
                throw Invalid("args.kill_grace_s", $"args.kill_grace_s must be from 0 to {limits.MaxKillGraceSeconds}; got {killGrace}.");
            }
        }

        var outputCap = ReadOutputCap(args);

        return new ExecArgs
        {
            Argv = argv,
            Shell = shell,
            Env = env,
            Cwd = cwd,
            Stdin = stdin,
            StdinB64 = stdinB64,
            TimeoutSeconds = timeout,
            RunAs = runAs,
            KillGraceSeconds = killGrace,
            OutputCapBytes = outputCap,
        };
    }

    /// <summary>
    /// A payload given either as text (<c>args.NAME</c>) or as bytes (<c>args.NAME_b64</c>), at most one
    /// of them (exec's stdin, http's body).
    /// </summary>
    private static (string? Text, string? Base64) ReadTextOrBase64(JsonElement args, string name)
    {
        var text = Optional(args, name) is { } t ? ReadString(t, $"args.{name}") : null;
        var b64 = Optional(args, $"{name}_b64") is { } b ? ReadString(b, $"args.{name}_b64") : null;
        if (text is not null && b64 is not null)
        {
            throw Invalid($"args.{name}_b64", $"Give at most one of args.{name} and args.{name}_b64.");
        }
        if (b64 is not null && !System.Buffers.Text.Base64.IsValid(b64))
        {
            throw Invalid($"args.{name}_b64", $"args.{name}_b64 is not valid base64.");
        }
        return (text, b64);
    }

    /// <summary><c>args.timeout_s</c>: more than 0, at most the limit.</summary>
    private static double ReadTimeout(JsonElement args, double defaultSeconds, ProtocolLimits limits)
    {
        if (Optional(args, "timeout_s") is not { } t)
        {
            return defaultSeconds;
        }
        var timeout = ReadNumber(t, "args.timeout_s");
        return timeout <= 0 || timeout > limits.MaxTimeoutSeconds
            ? throw Invalid("args.timeout_s", $"args.timeout_s must be more than 0 and at most {limits.MaxTimeoutSeconds}; got {timeout}.")
            : timeout;
    }

    /// <summary><c>args.output_cap_bytes</c>: how much of an op's output goes inline (exec, http, file.get).</summary>
    private static int? ReadOutputCap(JsonElement args)
    {
        if (Optional(args, "output_cap_bytes") is not { } o)
        {
            return null;
        }
        var cap = ReadInteger(o, "args.output_cap_bytes");
        return cap is <= 0 or > int.MaxValue
            ? throw Invalid("args.output_cap_bytes", $"args.output_cap_bytes must be a positive 32-bit integer; got {cap}.")
            : (int)cap;
    }

    private static HttpArgs ReadHttpArgs(JsonElement args, ProtocolLimits limits)
    {
        var method = HttpArgs.DefaultMethod;
        if (Optional(args, "method") is { } m)
        {
            method = ReadString(m, "args.method");
            if (!IsToken(method))
            {
                throw Invalid("args.method", $"args.method must be an HTTP token like \"GET\" or \"POST\"; got \"{method}\".");
            }
        }

        var urlText = ReadHttpUrl(Required(args, "url", "args.url"), "args.url");
        var headers = ReadHeaders(args, "headers");
        var (body, bodyB64) = ReadTextOrBase64(args, "body");
        var timeout = ReadTimeout(args, HttpArgs.DefaultTimeoutSeconds, limits);
        var follow = ReadBoolean(args, "follow_redirects", true);
        var outputCap = ReadOutputCap(args);

        return new HttpArgs
        {
            Method = method,
            Url = urlText,
            Headers = headers,
            Body = body,
            BodyB64 = bodyB64,
            TimeoutSeconds = timeout,
            FollowRedirects = follow,
            OutputCapBytes = outputCap,
        };
    }

    /// <summary>An absolute http or https URL (http's <c>url</c>, file.put's <c>url</c>, file.get's <c>upload_url</c>).</summary>
    private static string ReadHttpUrl(JsonElement e, string path)
    {
        var urlText = ReadCleanString(e, path, allowEmpty: false);
        if (!Uri.TryCreate(urlText, UriKind.Absolute, out var url)
            || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(url.Host)
            || urlText.Any(char.IsControl))
        {
            throw Invalid(path, $"{path} must be an absolute http or https URL; got \"{urlText}\".");
        }
        return urlText;
    }

    /// <summary>
    /// Request headers (<c>args.NAME</c>, an object of string values): token names given once
    /// (case-insensitive), values without CR, LF or NUL, none the agent sets itself.
    /// </summary>
    private static Dictionary<string, string>? ReadHeaders(JsonElement args, string name)
    {
        Dictionary<string, string>? headers = null;
        if (Optional(args, name) is { } headersElement)
        {
            RequireObject(headersElement, $"args.{name}");
            headers = [];
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var header in headersElement.EnumerateObject())
            {
                var path = $"args.{name}.{header.Name}";
                if (!IsToken(header.Name))
                {
                    throw Invalid(path, $"Header names must be HTTP tokens (no spaces, CR, LF, NUL or separators); got \"{header.Name}\".");
                }
                if (HttpArgs.ReservedHeaders.Contains(header.Name, StringComparer.OrdinalIgnoreCase))
                {
                    throw Invalid(path, $"The agent sets {header.Name} itself; args.{name} may not override it.");
                }
                if (!seen.Add(header.Name))
                {
                    throw Invalid(path, $"Header {header.Name} is given twice (header names are case-insensitive).");
                }
                var value = ReadString(header.Value, path);
                if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                {
                    throw Invalid(path, $"{path} must not contain CR, LF or NUL characters.");
                }
                headers[header.Name] = value;
            }
        }
        return headers;
    }

    /// <summary><c>args.NAME</c> as a boolean, or <paramref name="absent"/> when not given.</summary>
    private static bool ReadBoolean(JsonElement args, string name, bool absent) =>
        Optional(args, name) is not { } b ? absent
        : b.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType($"args.{name}", "a boolean", b),
        };

    private static FilePutArgs ReadFilePutArgs(JsonElement args)
    {
        var transferId = ReadGuid(Required(args, "transfer_id", "args.transfer_id"), "args.transfer_id");
        var (path, size, sha256) = ReadFileIdentity(args);

        var maxChunk = ProtocolLimits.MaxChunkDataBytes();
        var chunkBytes = ReadInteger(Required(args, "chunk_bytes", "args.chunk_bytes"), "args.chunk_bytes");
        if (chunkBytes <= 0 || chunkBytes > maxChunk)
        {
            throw Invalid("args.chunk_bytes", $"args.chunk_bytes must be from 1 to {maxChunk}; got {chunkBytes}.");
        }

        var index = ReadInteger(Required(args, "index", "args.index"), "args.index");
        if (index is < 0 or > int.MaxValue)
        {
            throw Invalid("args.index", $"args.index must be a 32-bit integer of 0 or more; got {index}.");
        }

        var count = ReadInteger(Required(args, "count", "args.count"), "args.count");
        if (count is < 1 or > int.MaxValue)
        {
            throw Invalid("args.count", $"args.count must be a 32-bit integer of 1 or more; got {count}.");
        }

        var dataB64 = ReadString(Required(args, "data_b64", "args.data_b64"), "args.data_b64");
        if (!System.Buffers.Text.Base64.IsValid(dataB64, out var dataLength))
        {
            throw Invalid("args.data_b64", "args.data_b64 is not valid base64.");
        }

        var (mode, owner, group, overwrite) = ReadInstallFields(args);

        // The fields must describe one consistent cut of the file, and this chunk one piece of it.
        var expectedCount = FilePutArgs.ExpectedCount(size, (int)chunkBytes);
        if (expectedCount > Chunking.ChunkAssembler.MaxChunkCount)
        {
            throw Invalid("args.count",
                $"A file of {size} bytes in chunks of {chunkBytes} takes {expectedCount} chunks; at most {Chunking.ChunkAssembler.MaxChunkCount} are allowed (use larger chunks).");
        }
        if (count != expectedCount)
        {
            throw Invalid("args.count",
                $"args.count must be max(1, ceil(size / chunk_bytes)) = {expectedCount} for size {size} and chunk_bytes {chunkBytes}; got {count}.");
        }
        if (index >= count)
        {
            throw Invalid("args.index", $"args.index must be less than args.count ({count}); got {index}.");
        }
        var expectedLength = FilePutArgs.ExpectedChunkLength(size, (int)chunkBytes, (int)index);
        if (dataLength != expectedLength)
        {
            throw Invalid("args.data_b64",
                $"Chunk {index} of {count} must hold {expectedLength} bytes; args.data_b64 decodes to {dataLength}.");
        }

        return new FilePutArgs
        {
            TransferId = transferId,
            Path = path,
            Size = size,
            Sha256 = sha256,
            ChunkBytes = (int)chunkBytes,
            Index = (int)index,
            Count = (int)count,
            DataB64 = dataB64,
            Mode = mode,
            Owner = owner,
            Group = group,
            Overwrite = overwrite,
        };
    }

    /// <summary>file.put with a <c>url</c>: one command that has the agent download the whole file.</summary>
    private static FilePutUrlArgs ReadFilePutUrlArgs(JsonElement args, ProtocolLimits limits)
    {
        // Chunk fields beside a url would describe two transfers at once; refuse rather than guess.
        foreach (var chunkField in FilePutUrlArgs.ChunkFields)
        {
            if (Optional(args, chunkField) is not null)
            {
                throw Invalid($"args.{chunkField}", $"args.{chunkField} belongs to chunked file.put; a file.put with args.url carries no chunk fields.");
            }
        }
        var (path, size, sha256) = ReadFileIdentity(args);
        var url = ReadHttpUrl(Required(args, "url", "args.url"), "args.url");
        var headers = ReadHeaders(args, "headers");
        var (mode, owner, group, overwrite) = ReadInstallFields(args);
        var timeout = ReadTimeout(args, FilePutUrlArgs.DefaultTimeoutSeconds, limits);

        return new FilePutUrlArgs
        {
            Path = path,
            Size = size,
            Sha256 = sha256,
            Url = url,
            Headers = headers,
            Mode = mode,
            Owner = owner,
            Group = group,
            Overwrite = overwrite,
            TimeoutSeconds = timeout,
        };
    }

    /// <summary>What every file.put names: <c>path</c>, <c>size</c> and the whole file's <c>sha256</c>.</summary>
    private static (string Path, long Size, string Sha256) ReadFileIdentity(JsonElement args)
    {
        var path = ReadFilePath(args);

        var size = ReadInteger(Required(args, "size", "args.size"), "args.size");
        if (size < 0)
        {
            throw Invalid("args.size", $"args.size must be 0 or more; got {size}.");
        }

        var sha256 = ReadString(Required(args, "sha256", "args.sha256"), "args.sha256");
        if (sha256.Length != 64 || !sha256.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            throw Invalid("args.sha256", "args.sha256 must be the SHA-256 of the whole file as 64 lower-case hex digits.");
        }
        return (path, size, sha256);
    }

    /// <summary>How a written file is installed: <c>mode</c>, <c>owner</c>, <c>group</c>, <c>overwrite</c>.</summary>
    private static (string? Mode, string? Owner, string? Group, bool Overwrite) ReadInstallFields(JsonElement args)
    {
        string? mode = null;
        if (Optional(args, "mode") is { } m)
        {
            mode = ReadString(m, "args.mode");
            if (mode.Length is < 3 or > 4 || !mode.All(c => c is >= '0' and <= '7'))
            {
                throw Invalid("args.mode", $"args.mode must be 3 or 4 octal digits like \"0644\"; got \"{mode}\".");
            }
        }
        var owner = Optional(args, "owner") is { } o ? ReadAccountName(o, "args.owner") : null;
        var group = Optional(args, "group") is { } g ? ReadAccountName(g, "args.group") : null;
        var overwrite = ReadBoolean(args, "overwrite", false);
        return (mode, owner, group, overwrite);
    }

    private static FileGetArgs ReadFileGetArgs(JsonElement args, ProtocolLimits limits)
    {
        var path = ReadFilePath(args);

        long offset = 0;
        if (Optional(args, "offset") is { } off)
        {
            offset = ReadInteger(off, "args.offset");
            if (offset < 0)
            {
                throw Invalid("args.offset", $"args.offset must be 0 or more; got {offset}.");
            }
        }

        var outputCap = ReadOutputCap(args);

        if (Optional(args, "upload_url") is not { } uploadUrlElement)
        {
            // Without a url these would be silently ignored and the file would come back in replies,
            // perhaps gigabytes of them: an issuer who forgot upload_url is told instead.
            foreach (var uploadOnly in new[] { "upload_method", "upload_headers", "timeout_s" })
            {
                if (Optional(args, uploadOnly) is not null)
                {
                    throw Invalid($"args.{uploadOnly}", $"args.{uploadOnly} applies only to an upload: give args.upload_url too.");
                }
            }
            return new FileGetArgs { Path = path, Offset = offset, OutputCapBytes = outputCap };
        }

        var uploadUrl = ReadHttpUrl(uploadUrlElement, "args.upload_url");
        if (outputCap is not null)
        {
            throw Invalid("args.output_cap_bytes", "args.output_cap_bytes has no meaning with args.upload_url: nothing comes back in replies.");
        }
        string? method = null;
        if (Optional(args, "upload_method") is { } m)
        {
            method = ReadString(m, "args.upload_method");
            if (!FileGetArgs.UploadMethods.Contains(method, StringComparer.Ordinal))
            {
                throw Invalid("args.upload_method", $"args.upload_method must be {string.Join(" or ", FileGetArgs.UploadMethods.Select(u => $"\"{u}\""))}; got \"{method}\".");
            }
        }
        var headers = ReadHeaders(args, "upload_headers");
        double? timeout = Optional(args, "timeout_s") is null ? null : ReadTimeout(args, FileGetArgs.DefaultUploadTimeoutSeconds, limits);

        return new FileGetArgs
        {
            Path = path,
            Offset = offset,
            UploadUrl = uploadUrl,
            UploadMethod = method,
            UploadHeaders = headers,
            TimeoutSeconds = timeout,
        };
    }

    /// <summary><c>args.path</c> of the file ops: absolute, without NUL, at most <see cref="FilePutArgs.MaxPathBytes"/> bytes.</summary>
    private static string ReadFilePath(JsonElement args)
    {
        var path = ReadCleanString(Required(args, "path", "args.path"), "args.path", allowEmpty: false);
        if (path[0] != '/')
        {
            throw Invalid("args.path", $"args.path must be an absolute path (starting with '/'); got \"{path}\".");
        }
        var bytes = Encoding.UTF8.GetByteCount(path);
        if (bytes > FilePutArgs.MaxPathBytes)
        {
            throw Invalid("args.path", $"args.path is {bytes} bytes of UTF-8; at most {FilePutArgs.MaxPathBytes} are allowed.");
        }
        return path;
    }

    /// <summary>A user or group name: non-empty, no NUL, ':' or '/', at most <see cref="FilePutArgs.MaxNameLength"/> characters.</summary>
    private static string ReadAccountName(JsonElement e, string path)
    {
        var name = ReadCleanString(e, path, allowEmpty: false);
        if (name.Length > FilePutArgs.MaxNameLength || name.AsSpan().IndexOfAny(':', '/') >= 0 || name.Any(char.IsWhiteSpace))
        {
            throw Invalid(path, $"{path} must be a user or group name of at most {FilePutArgs.MaxNameLength} characters without ':', '/' or spaces.");
        }
        return name;
    }

    /// <summary>An RFC 9110 token: what a method or a header name may be.</summary>
    private static bool IsToken(string s)
    {
        if (s.Length == 0)
        {
            return false;
        }
        foreach (var c in s)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
                || "!#$%&'*+-.^_`|~".Contains(c);
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }

    private static JsonElement? Optional(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static JsonElement Required(JsonElement obj, string name, string path) =>
        Optional(obj, name) ?? throw new RejectException(RejectCodes.MissingField, path, $"{path} is required.");

    private static void RequireObject(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw WrongType(path, "an object", e);
        }
    }

    private static string ReadString(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw WrongType(path, "a string", e);

    /// <summary>A string that will reach execve or the kernel, where NUL would silently cut it short.</summary>
    private static string ReadCleanString(JsonElement e, string path, bool allowEmpty)
    {
        var s = ReadString(e, path);
        if (!allowEmpty && s.Length == 0)
        {
            throw Invalid(path, $"{path} must not be empty.");
        }
        if (s.Contains('\0'))
        {
            throw Invalid(path, $"{path} must not contain NUL characters.");
        }
        return s;
    }

    private static long ReadInteger(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var value) ? value : throw WrongType(path, "an integer", e);

    private static double ReadNumber(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Number)
        {
            throw WrongType(path, "a number", e);
        }
        // TryGetDouble succeeds with infinity for literals like 1e400.
        return e.TryGetDouble(out var value) && double.IsFinite(value)
            ? value
            : throw Invalid(path, $"{path} is out of range.");
    }

    private static Guid ReadGuid(JsonElement e, string path) =>
        Guid.TryParseExact(ReadString(e, path), "D", out var g)
            ? g
            : throw Invalid(path, $"{path} must be a UUID like \"7c9e6679-7425-40de-944b-e07fc1f90ae7\".");

    private static DateTimeOffset ReadTimestamp(JsonElement e, string path) =>
        ProtocolJson.TryParseTimestamp(ReadString(e, path), out var t)
            ? t
            : throw Invalid(path, $"{path} must be an RFC 3339 timestamp with a zone, like \"2026-11-25T13:00:00Z\".");

    private static RejectException Invalid(string path, string message) => new(RejectCodes.InvalidValue, path, message);

    private static RejectException WrongType(string path, string expected, JsonElement actual) =>
        new(RejectCodes.WrongType, path, $"{path} must be {expected}, not {Describe(actual)}.");

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => e.TryGetInt64(out _) ? "an integer" : "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };

    // Control flow inside the parser only: each reader can give up from any depth, and Parse
    // turns it into a CommandRejection; it never escapes this class.
    private sealed class RejectException(string code, string field, string message) : Exception(message)
    {
        public string Code { get; } = code;
        public string Field { get; } = field;
    }
}
