using System.Text;
using System.Text.Json;
using static GuestAgent.Protocol.Args.ArgsReader;

namespace GuestAgent.Protocol.Args;

/// <summary>
/// The argument readers of the standard ops' wire forms (exec, http, file.put, file.get and the
/// core's status, cancel, credentials): what the agent's built-in blocks and core ops read, and
/// what a controller or a test may use to read a command back.
/// </summary>
public static partial class StandardArgs
{
    public static ExecArgs ReadExecArgs(JsonElement args, ProtocolLimits limits)
    {
        var argvElement = Optional(args, "argv");
        var shellElement = Optional(args, "shell");
        if (argvElement is not null && shellElement is not null)
        {
            throw Invalid("args.argv", "exec takes exactly one of args.argv and args.shell, not both.");
        }
        if (argvElement is null && shellElement is null)
        {
            throw new ArgsRejectedException(RejectCodes.MissingField, "args.argv",
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




    public static HttpArgs ReadHttpArgs(JsonElement args, ProtocolLimits limits)
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
    public static string ReadHttpUrl(JsonElement e, string path)
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


    public static FilePutArgs ReadFilePutArgs(JsonElement args)
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

        // Decoded straight from the command's UTF-8: no string of the base64 in between.
        var dataElement = Required(args, "data_b64", "args.data_b64");
        if (dataElement.ValueKind != JsonValueKind.String)
        {
            ReadString(dataElement, "args.data_b64"); // says what it must be
        }
        if (!dataElement.TryGetBytesFromBase64(out var data))
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
        if (data.Length != expectedLength)
        {
            throw Invalid("args.data_b64",
                $"Chunk {index} of {count} must hold {expectedLength} bytes; args.data_b64 decodes to {data.Length}.");
        }

        return new FilePutArgs(data)
        {
            TransferId = transferId,
            Path = path,
            Size = size,
            Sha256 = sha256,
            ChunkBytes = (int)chunkBytes,
            Index = (int)index,
            Count = (int)count,
            Mode = mode,
            Owner = owner,
            Group = group,
            Overwrite = overwrite,
        };
    }

    /// <summary>file.put with a <c>url</c>: one command that has the agent download the whole file.</summary>
    public static FilePutUrlArgs ReadFilePutUrlArgs(JsonElement args, ProtocolLimits limits)
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

    public static FileGetArgs ReadFileGetArgs(JsonElement args, ProtocolLimits limits)
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

    /// <summary>
    /// <c>args.path</c> of the file ops: absolute on some guest OS ('/', or a Windows drive letter
    /// or '\\'), without NUL, at most <see cref="FilePutArgs.MaxPathBytes"/> bytes. Which spellings
    /// the guest accepts is its file policy's to say.
    /// </summary>
    private static string ReadFilePath(JsonElement args)
    {
        var path = ReadCleanString(Required(args, "path", "args.path"), "args.path", allowEmpty: false);
        if (path[0] is not ('/' or '\\') && !(path.Length >= 2 && char.IsAsciiLetter(path[0]) && path[1] == ':'))
        {
            throw Invalid("args.path", $"args.path must be an absolute path (starting with '/', or a drive letter on Windows guests); got \"{path}\".");
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
}
