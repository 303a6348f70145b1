using System.CommandLine;
using System.Text.Json;
using GuestAgent.Client;
using GuestAgent.Client.Transports.Amqp;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Zaqar;
using Command = System.CommandLine.Command;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// `guestctl exec | cast | status | cancel | ping | http | cp`: drive one guest's agent through its command
/// queue (--queue) with GuestAgent.Client, replies coming back on this user's reply queue.
/// </summary>
public static partial class GuestCommands
{
    /// <summary>The remote command's run hit its timeout_s (or guestctl gave up waiting for the final reply).</summary>
    public const int ExitTimedOut = 124;

    /// <summary>guestctl itself failed: rejected command, Zaqar error, bad usage, corrupt output, interrupted run.</summary>
    public const int ExitError = 125;

    /// <summary>The remote program could not be started (no such program, unknown user, missing cwd).</summary>
    public const int ExitCannotRun = 126;

    /// <summary>The command was cancelled.</summary>
    public const int ExitCancelled = 130;

    private const string ExitCodesHelp =
        "the remote program's exit code; 128+N if it was killed by signal N; " +
        "124 if it hit --timeout (or no final reply came within --wait); 125 if the command was rejected, " +
        "interrupted, or guestctl/Zaqar failed; 126 if the program could not be started; 130 if it was cancelled. " +
        SigningHelp;

    /// <summary>Why a wrong key ends a command at once (exit 125) rather than after --wait.</summary>
    internal const string SigningHelp =
        "An agent that refuses the command's signature (bad_signature, unknown_key, unsigned) answers unsigned; " +
        "guestctl cannot trust that answer, but reports it at once, with exit status 125, as a sign that " +
        "GUESTAGENT_SIGNING_KEYS does not match the agent's binding.";

    /// <summary>Added to that report: where guestctl's keys come from.</summary>
    internal const string SigningMismatchHint =
        "Check GUESTAGENT_SIGNING_KEYS (kid=base64secret; the first key signs) against the guest's tenant binding.";

    /// <summary>Said when an agent wants signed commands and guestctl had no key to sign with.</summary>
    internal const string NoKeyHint =
        "GUESTAGENT_SIGNING_KEYS is not set, so the command went unsigned: set it to " +
        "kid=base64secret with a key of the guest's tenant binding (its signing.keys), e.g. " +
        "export GUESTAGENT_SIGNING_KEYS=\"demo=$(cat tools/zaqar/run/main/demo.key)\" for tools/run.sh's demo agent.";

    /// <summary>status, cancel and ping: the agent's answer, or why there is none.</summary>
    private const string AnswerExitCodes =
        "0 if the agent answered; 124 if no answer came within --wait; 125 if the command was rejected, " +
        "or guestctl/Zaqar failed, or on bad usage. " + SigningHelp;

    /// <summary>--json on the verbs that print results.</summary>
    private static readonly Option<bool> Json = new("--json") { Description = "Print the result as one JSON object on stdout" };

    private static readonly ZaqarConnection Connection = new(recursive: false);

    private static readonly AmqpConnection AmqpOptions = new();

    private static readonly Option<string> Queue = new("--queue")
    {
        Description = "The guest's command queue (env GUESTAGENT_QUEUE)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("GUESTAGENT_QUEUE") ?? "",
    };

    private static readonly Option<string?> QueryQueue = new("--query-queue")
    {
        Description = "The guest's query queue, if its binding has one (amqp.query-queue, e.g. queries with --amqp-prefix ga.vm1.): " +
                      "status, cancel and ping go there and are answered even while every operation slot of the guest is busy " +
                      "(env GUESTAGENT_QUERY_QUEUE)",
        HelpName = "name",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("GUESTAGENT_QUERY_QUEUE") is { Length: > 0 } q ? q : null,
    };

    private static readonly Option<string?> ReplyQueue = new("--reply-queue")
    {
        Description = "Queue for the replies (Zaqar's default: replies-<id>, made once per user and kept in ~/.config/guestctl/reply-queue; " +
                      "over AMQP the guest binding's reply-queue, default: replies)",
        HelpName = "name",
    };

    private static readonly Option<double?> Wait = new("--wait")
    {
        Description = "Seconds to wait for the reply (default: 60; for exec at least --timeout + 40)",
    };

    public static IEnumerable<Command> Build() => [Exec(), Cast(), Status(), Cancel(), Ping(), Http(), Copy()];

    private static Command Exec()
    {
        var cmd = new Command("exec",
            "Run a program on the guest and wait for it: guestctl exec [--timeout S] [--shell \"line\" | -- argv...]. " +
            "Its stdout and stderr are copied to guestctl's, byte for byte; with --json, one JSON object (status, exit_code, " +
            "signal, stdout, stderr, error) is printed instead. The program and its arguments go after --, so that none of " +
            "them is taken for an option of guestctl's.").WithExitCodes(ExitCodesHelp);
        var run = new RunOptions(cmd);
        AddCommon(cmd);
        cmd.Options.Add(Json);
        cmd.SetAction(async (ParseResult r, CancellationToken ct) =>
        {
            if (!run.TryBuild(r, out var args))
            {
                return ExitError;
            }
            return await WithClient(r, async client =>
            {
                // A GuestTimeoutException becomes exit 124 in WithClient.
                var result = await client.CallAsync(args, Options(r), ct);
                if (r.GetValue(Json))
                {
                    PrintJson(new Dictionary<string, object?>
                    {
                        ["command_id"] = result.CommandId,
                        ["status"] = CallResultStatus(result),
                        ["exit_code"] = result.Exec?.ExitCode,
                        ["signal"] = result.Signal,
                        ["stdout"] = System.Text.Encoding.UTF8.GetString(result.Stdout),
                        ["stderr"] = System.Text.Encoding.UTF8.GetString(result.Stderr),
                        ["truncated"] = result.StdoutTruncated || result.StderrTruncated,
                        ["error"] = result.Error is { } err ? new Dictionary<string, string?> { ["code"] = err.Code, ["message"] = err.Message } : null,
                    });
                    return ExitCodeOf(result, quiet: true);
                }
                await using (var stdout = Console.OpenStandardOutput())
                {
                    await stdout.WriteAsync(result.Stdout, ct);
                }
                await using (var stderr = Console.OpenStandardError())
                {
                    await stderr.WriteAsync(result.Stderr, ct);
                }
                if (result.StdoutTruncated || result.StderrTruncated)
                {
                    Error($"the agent kept only part of the output (stdout {result.Exec!.Stdout.Bytes} bytes, stderr {result.Exec.Stderr.Bytes} bytes in all)");
                }
                return ExitCodeOf(result);
            });
        });
        return cmd;
    }

    private static Command Cast()
    {
        var cmd = new Command("cast",
            "Start a program on the guest without waiting for it and print the command id: " +
            "guestctl cast [--ack] [--on-interrupt rerun|fail] [--timeout S] [--shell \"line\" | -- argv...]. " +
            "Follow it with guestctl status ID, stop it with guestctl cancel ID. With --json: {\"command_id\": ID}.")
            .WithExitCodes("0 if the command was sent (and, with --ack, accepted); 125 if it was rejected or could not be sent, or on bad usage; " +
                           "124 if --ack got no answer in time. With --ack: " + SigningHelp);
        var run = new RunOptions(cmd);
        var ack = new Option<bool>("--ack") { Description = "Wait until the agent has accepted the command (rejection: exit 125)" };
        var onInterrupt = new Option<string>("--on-interrupt")
        {
            Description = "If the agent restarts while the program runs: rerun (run it again) or fail (end it 'interrupted'; it never runs twice)",
            HelpName = "rerun|fail",
            DefaultValueFactory = _ => WireName(GuestAgent.Protocol.Command.DefaultInterruptPolicy(CommandMode.Cast)),
        };
        cmd.Options.Add(ack);
        cmd.Options.Add(onInterrupt);
        AddCommon(cmd);
        cmd.Options.Add(Json);
        cmd.SetAction(async (ParseResult r, CancellationToken ct) =>
        {
            if (!run.TryBuild(r, out var args))
            {
                return ExitError;
            }
            if (!TryParseInterruptPolicy(r.GetValue(onInterrupt), out var policy))
            {
                Error($"--on-interrupt wants rerun or fail, got '{r.GetValue(onInterrupt)}'");
                return ExitError;
            }
            return await WithClient(r, async client =>
            {
                var id = await client.CastAsync(args, new CastOptions
                {
                    WaitForAcceptance = r.GetValue(ack),
                    AcceptanceTimeout = WaitTime(r),
                    OnInterrupt = policy,
                }, ct);
                if (r.GetValue(Json))
                {
                    PrintJson(new Dictionary<string, string> { ["command_id"] = id.ToString("D") });
                }
                else
                {
                    Console.WriteLine(id.ToString("D"));
                }
                return 0;
            });
        });
        return cmd;
    }

    private static Command Status()
    {
        var id = CommandIdArgument();
        var cmd = new Command("status", "Show where an earlier command stands (JSON: command_id, state, attempt, final_status).")
            .WithExitCodes(AnswerExitCodes);
        cmd.Arguments.Add(id);
        AddCommon(cmd);
        cmd.Options.Add(Json);
        cmd.SetAction(async (ParseResult r, CancellationToken ct) => await WithClient(r, async client =>
        {
            PrintJson(await client.StatusAsync(r.GetValue(id), Options(r), ct));
            return 0;
        }));
        return cmd;
    }

    private static Command Cancel()
    {
        var id = CommandIdArgument();
        var cmd = new Command("cancel",
                "Stop an earlier command; prints the target's state as the cancel found it (JSON). The target then ends 'cancelled'.")
            .WithExitCodes(AnswerExitCodes);
        cmd.Arguments.Add(id);
        AddCommon(cmd);
        cmd.Options.Add(Json);
        cmd.SetAction(async (ParseResult r, CancellationToken ct) => await WithClient(r, async client =>
        {
            var reply = await client.CancelAsync(r.GetValue(id), Options(r), ct);
            if (reply.Status != ReplyStatus.Succeeded)
            {
                Error($"cancel ended {reply.Status}: {reply.Error?.Code}: {reply.Error?.Message}{RejectionHint(reply.Error?.Code)}");
                return ExitError;
            }
            if (reply.Result is { } result)
            {
                Console.WriteLine(JsonSerializer.Serialize(result));
            }
            return 0;
        }));
        return cmd;
    }

    private static Command Ping()
    {
        var cmd = new Command("ping", "Check that the guest's agent answers (prints its version, capabilities, host and the binding's metrics as JSON).")
            .WithExitCodes(AnswerExitCodes);
        AddCommon(cmd);
        cmd.Options.Add(Json);
        cmd.SetAction(async (ParseResult r, CancellationToken ct) => await WithClient(r, async client =>
        {
            PrintJson(await client.PingAsync(Options(r), ct));
            return 0;
        }));
        return cmd;
    }

    private const string HttpExitCodesHelp =
        "0 if the request was carried out, whatever the HTTP status; 1 if the destination is not allowed " +
        "(forbidden_destination); 2 if the request failed (http_error: connection, TLS, too many redirects); " +
        "124 if it hit --timeout (or no final reply came within --wait); 125 if the command was rejected, interrupted, " +
        "or guestctl/Zaqar failed; 130 if it was cancelled. " + SigningHelp;

    /// <summary>The destination is not in the tenant's http-destinations.</summary>
    public const int ExitHttpForbidden = 1;

    /// <summary>The request could not be carried out (connection, TLS, protocol, redirects).</summary>
    public const int ExitHttpFailed = 2;

    private static Command Http()
    {
        var method = new Option<string>("--method", "-X") { Description = "Request method", DefaultValueFactory = _ => HttpArgs.DefaultMethod };
        var header = new Option<string[]>("--header", "-H") { Description = "'Name: value' request header (repeat)" };
        var data = new Option<string?>("--data", "-d") { Description = "Request body (text, sent as UTF-8)" };
        var timeout = new Option<double>("--timeout")
        {
            Description = "Seconds the request may take on the guest (timeout_s)",
            DefaultValueFactory = _ => HttpArgs.DefaultTimeoutSeconds,
        };
        var noRedirects = new Option<bool>("--no-follow") { Description = "Do not follow redirects" };
        var url = new Argument<string>("url") { Description = "Absolute http(s) URL; its host:port must be in the tenant's http-destinations" };
        var cmd = new Command("http",
            "Send an HTTP request from the guest and print the response: guestctl http [--method M] [-H 'Name: value']... [--data TEXT] URL. " +
            "The status line and headers go to stderr, the body to stdout, byte for byte; with --json, one JSON object " +
            "(status, reason, headers, body) goes to stdout instead.").WithExitCodes(HttpExitCodesHelp);
        cmd.Options.Add(method);
        cmd.Options.Add(header);
        cmd.Options.Add(data);
        cmd.Options.Add(timeout);
        cmd.Options.Add(noRedirects);
        cmd.Arguments.Add(url);
        AddCommon(cmd);
        cmd.Options.Add(Json);
        cmd.SetAction(async (ParseResult r, CancellationToken ct) =>
        {
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var h in r.GetValue(header) ?? [])
            {
                var colon = h.IndexOf(':');
                if (colon < 1)
                {
                    Error($"-H wants 'Name: value', got '{h}'");
                    return ExitError;
                }
                headers[h[..colon].Trim()] = h[(colon + 1)..].Trim();
            }
            var args = new HttpArgs
            {
                Method = r.GetValue(method) ?? HttpArgs.DefaultMethod,
                Url = r.GetValue(url) ?? "",
                Headers = headers.Count > 0 ? headers : null,
                Body = r.GetValue(data),
                TimeoutSeconds = r.GetValue(timeout),
                FollowRedirects = !r.GetValue(noRedirects),
            };
            return await WithClient(r, async client =>
            {
                // A GuestTimeoutException becomes exit 124 in WithClient.
                var result = await client.HttpAsync(args, Options(r), ct);
                if (result.Succeeded && result.Http is { } answer && r.GetValue(Json))
                {
                    PrintJson(new Dictionary<string, object?>
                    {
                        ["status"] = answer.Status,
                        ["reason"] = answer.Reason,
                        ["headers"] = answer.Headers.Select(h =>
                        {
                            var (name, value) = h;
                            return new[] { name, value };
                        }).ToList(),
                        ["body"] = System.Text.Encoding.UTF8.GetString(result.Body),
                        ["truncated"] = result.BodyTruncated,
                    });
                    return 0;
                }
                if (result.Succeeded && result.Http is { } http)
                {
                    var head = new System.Text.StringBuilder();
                    head.Append(http.Status.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    if (!string.IsNullOrEmpty(http.Reason))
                    {
                        head.Append(' ').Append(http.Reason);
                    }
                    head.Append('\n');
                    foreach (var (name, value) in http.Headers)
                    {
                        head.Append(name).Append(": ").Append(value).Append('\n');
                    }
                    await Console.Error.WriteAsync(head.ToString());
                    await Console.Error.FlushAsync(ct);
                    await using (var stdout = Console.OpenStandardOutput())
                    {
                        await stdout.WriteAsync(result.Body, ct);
                    }
                    if (result.BodyTruncated)
                    {
                        Error($"the agent kept only part of the body ({http.Body.Bytes} bytes in all)");
                    }
                    return 0;
                }
                switch (result.Status)
                {
                    case ReplyStatus.Failed when result.Error?.Code == "forbidden_destination":
                        Error($"destination not allowed: {result.Error.Message}");
                        return ExitHttpForbidden;
                    case ReplyStatus.Failed:
                        Error($"the request failed: {result.Error?.Code}: {result.Error?.Message}");
                        return ExitHttpFailed;
                    case ReplyStatus.TimedOut:
                        Error($"the request hit its timeout: {result.Error?.Message}");
                        return ExitTimedOut;
                    case ReplyStatus.Cancelled:
                        Error("the request was cancelled");
                        return ExitCancelled;
                    case ReplyStatus.Rejected:
                        Error($"rejected by agent '{result.Final.Agent}': {result.Error?.Code}: {result.Error?.Message}{RejectionHint(result.Error?.Code)}");
                        return ExitError;
                    default:
                        Error($"the command ended {result.Status}{(result.Error is { } e ? $": {e.Code}: {e.Message}" : "")}");
                        return ExitError;
                }
            });
        });
        return cmd;
    }

    private static void AddCommon(Command cmd)
    {
        Connection.AddTo(cmd);
        Connection.AddWebSocketTo(cmd);
        AmqpOptions.AddTo(cmd);
        cmd.Options.Add(Queue);
        cmd.Options.Add(QueryQueue);
        cmd.Options.Add(ReplyQueue);
        cmd.Options.Add(Wait);
    }

    private static TimeSpan? WaitTime(ParseResult r) => r.GetValue(Wait) is { } s ? TimeSpan.FromSeconds(s) : null;

    private static CallOptions Options(ParseResult r) => new() { Timeout = WaitTime(r) };

    /// <summary>Runs <paramref name="body"/> with a client; failures other than the verb's own become exit 125 with a message.</summary>
    private static async Task<int> WithClient(ParseResult r, Func<GuestClient, Task<int>> body)
    {
        var queue = r.GetValue(Queue);
        if (string.IsNullOrEmpty(queue))
        {
            Error("no guest queue: give --queue or set GUESTAGENT_QUEUE");
            return ExitError;
        }
        try
        {
            var amqp = AmqpOptions.IsAmqp(r);
            var replyQueue = r.GetValue(ReplyQueue) ?? (amqp ? AmqpConnection.DefaultReplyQueue : ZaqarConnection.DefaultReplyQueue());
            // Disposed after the client (declared first): the client's listener stops before the transport's connections close.
            await using var amqpTransport = amqp ? AmqpOptions.Build(r) : null;
            await using var client = new GuestClient(amqpTransport is null ? Connection.Transport(r) : amqpTransport, queue, replyQueue,
                new GuestClientOptions
                {
                    DefaultCallTimeout = TimeSpan.FromSeconds(60),
                    ExecTimeoutMargin = TimeSpan.FromSeconds(35),
                    // Other guestctl runs of this user share the reply queue: leave their fresh replies to them.
                    ForeignReplyGrace = TimeSpan.FromMinutes(10),
                    SigningKeys = SigningKeysFromEnvironment(),
                    QueryQueue = r.GetValue(QueryQueue),
                    OnDroppedMessage = m => WarnDropped(replyQueue, m),
                });
            return await body(client);
        }
        catch (GuestTimeoutException e)
        {
            Error(e.Message);
            return ExitTimedOut;
        }
        catch (GuestSigningMismatchException e)
        {
            Error($"{e.Message} {SigningMismatchHint}");
            return ExitError;
        }
        catch (GuestRejectedException e)
        {
            Error(e.Message + RejectionHint(e.Code));
            return ExitError;
        }
        catch (ZaqarException e)
        {
            Error(Connection.Explain(e, r));
            return ExitError;
        }
        catch (AmqpTransportException e)
        {
            Error(e.Message);
            return ExitError;
        }
        catch (Exception e) when (e is GuestClientException or ZaqarProtocolException or ArgumentException or IOException)
        {
            Error(Plain(e));
            return ExitError;
        }
    }

    /// <summary>An exception's message without .NET's " (Parameter 'x')" tail, which names no option a user knows.</summary>
    internal static string Plain(Exception e) =>
        e is ArgumentException { ParamName: { } name } a ? a.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;

    /// <summary>What fixes a rejection, when guestctl can tell: a missing signing key.</summary>
    internal static string RejectionHint(string? code) =>
        code == RejectCodes.Unsigned && SigningKeysFromEnvironment() is null ? "\nguestctl: " + NoKeyHint : "";

    /// <summary>A command id, refused in words (not as a System.Guid) when it is not one.</summary>
    private static Argument<Guid> CommandIdArgument() => new("id")
    {
        Description = "The command id, as guestctl cast printed it",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (Guid.TryParse(text, out var id))
            {
                return id;
            }
            result.AddError($"'{Printable(text)}' is not a command id: give the id guestctl cast printed " +
                            "(a UUID such as 3f0c6d1e-8a52-4d3b-9a4e-2f6b7c8d9e01)");
            return default;
        },
    };

    /// <summary>
    /// A refusal when exec or cast got a program without -- before it: then guestctl's parser reads the
    /// program's options (`exec df -h /` would show help and run nothing), so it is never guessed.
    /// </summary>
    internal static string? ArgvWithoutSeparator(ParseResult parsed, IReadOnlyList<string> args)
    {
        var command = parsed.CommandResult.Command;
        if (command.Name is not ("exec" or "cast"))
        {
            return null;
        }
        var argv = parsed.CommandResult.Children.OfType<System.CommandLine.Parsing.ArgumentResult>()
            .FirstOrDefault(a => a.Argument.Name == "argv");
        var separator = args.ToList().IndexOf("--");
        var afterSeparator = separator < 0 ? 0 : args.Count - separator - 1;
        var unknown = parsed.UnmatchedTokens.Where(t => t.StartsWith('-')).ToList();
        var words = (argv?.Tokens.Select(t => t.Value) ?? []).ToList();
        if (words.Count <= afterSeparator && (separator >= 0 || words.Count == 0))
        {
            return null;
        }
        var line = string.Join(' ', args.Skip(args.ToList().IndexOf(command.Name) + 1).Where(a => a != "--"));
        return $"{command.Name}: the program to run and its arguments must follow --, as in: guestctl {command.Name} -- {Printable(line)} " +
               $"(or give a shell line: guestctl {command.Name} --shell '{Printable(line)}'); nothing was sent" +
               (unknown.Count > 0 ? $" ({string.Join(", ", unknown)} would have been read as guestctl's own option)" : "");
    }

    /// <summary>
    /// GUESTAGENT_SIGNING_KEYS="kid=base64secret[,kid2=base64secret]": the first key signs, all verify.
    /// From the environment only, so secrets never show in the process list.
    /// </summary>
    internal static IReadOnlyList<SigningKey>? SigningKeysFromEnvironment()
    {
        var text = Environment.GetEnvironmentVariable("GUESTAGENT_SIGNING_KEYS");
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        var keys = new List<SigningKey>();
        var entries = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        const string Form = "each entry is kid=base64secret, e.g. demo=$(cat demo.key), where kid is the key's id in the agent's signing.keys";
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = entries[i];
            var which = entries.Length > 1 ? $"entry {i + 1} of {entries.Length}" : "the value";
            var eq = entry.IndexOf('=');
            // Only '=' after the first one is base64 padding: a bare secret, not kid=secret. Never echo any of it.
            if (eq <= 0 || entry[(eq + 1)..].Trim('=').Length == 0)
            {
                throw new ArgumentException($"GUESTAGENT_SIGNING_KEYS: {which} has no key id (it looks like a bare secret, not shown); {Form}");
            }
            var kid = entry[..eq];
            byte[] secret;
            try
            {
                secret = Convert.FromBase64String(entry[(eq + 1)..]);
            }
            catch (FormatException)
            {
                throw new ArgumentException($"GUESTAGENT_SIGNING_KEYS: the secret of key '{Printable(kid)}' is not base64; {Form}");
            }
            try
            {
                keys.Add(new SigningKey(kid, secret));
            }
            catch (ArgumentException e) when (e.ParamName == "secret")
            {
                throw new ArgumentException($"GUESTAGENT_SIGNING_KEYS: the secret of key '{Printable(kid)}' is {secret.Length} bytes; " +
                                            $"at least {SigningKey.MinSecretBytes} are needed (head -c 32 /dev/urandom | base64 makes one)");
            }
            catch (ArgumentException)
            {
                throw new ArgumentException($"GUESTAGENT_SIGNING_KEYS: '{Printable(kid)}' is not a valid key id; {Form}");
            }
        }
        return keys;
    }

    private static string CallResultStatus(CallResult result) => ProtocolJson.ToElement(result.Status).GetString() ?? result.Status.ToString();

    private static int ExitCodeOf(CallResult result, bool quiet = false)
    {
        if (quiet)
        {
            return result.Exec?.ExitCode is { } c ? c
                : result.Status is ReplyStatus.Succeeded or ReplyStatus.Failed && result.Exec is { } e
                    ? SignalNumber(e.Signal) is { } n ? 128 + n : ExitError
                : result.Status switch
                {
                    ReplyStatus.Failed => ExitCannotRun,
                    ReplyStatus.TimedOut => ExitTimedOut,
                    ReplyStatus.Cancelled => ExitCancelled,
                    _ => ExitError,
                };
        }
        switch (result.Status)
        {
            case ReplyStatus.Succeeded or ReplyStatus.Failed when result.Exec is { } exec:
                if (exec.ExitCode is { } code)
                {
                    return code;
                }
                Error($"the program was killed by {exec.Signal ?? "a signal"}");
                return SignalNumber(exec.Signal) is { } n ? 128 + n : ExitError;
            case ReplyStatus.Failed:
                Error($"the program could not be started: {result.Error?.Code}: {result.Error?.Message}");
                return ExitCannotRun;
            case ReplyStatus.TimedOut:
                Error($"the program hit its timeout and was stopped{(result.Signal is { } s ? $" ({s})" : "")}");
                return ExitTimedOut;
            case ReplyStatus.Cancelled:
                Error("the program was cancelled");
                return ExitCancelled;
            case ReplyStatus.Rejected:
                Error($"rejected by agent '{result.Final.Agent}': {result.Error?.Code}: {result.Error?.Message}{RejectionHint(result.Error?.Code)}");
                return ExitError;
            default:
                Error($"the command ended {result.Status}{(result.Error is { } e ? $": {e.Code}: {e.Message}" : "")}");
                return ExitError;
        }
    }

    private static int? SignalNumber(string? name) => name?.ToUpperInvariant() switch
    {
        "SIGHUP" => 1,
        "SIGINT" => 2,
        "SIGQUIT" => 3,
        "SIGILL" => 4,
        "SIGTRAP" => 5,
        "SIGABRT" => 6,
        "SIGBUS" => 7,
        "SIGFPE" => 8,
        "SIGKILL" => 9,
        "SIGUSR1" => 10,
        "SIGSEGV" => 11,
        "SIGUSR2" => 12,
        "SIGPIPE" => 13,
        "SIGALRM" => 14,
        "SIGTERM" => 15,
        _ => null,
    };

    /// <summary>
    /// One line per message the reply listener deleted unread, so that garbage or forged replies on
    /// the reply queue are seen rather than silently waited past.
    /// </summary>
    internal static void WarnDropped(string replyQueue, DroppedMessage message) =>
        Error($"warning: reply queue '{replyQueue}': {Printable(message.ToString())}");

    /// <summary>Text that came off a queue, without control characters that could rewrite the terminal.</summary>
    internal static string Printable(string text) =>
        new(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());

    /// <summary>The policy as on_interrupt spells it on the wire.</summary>
    private static string WireName(InterruptPolicy policy) => policy == InterruptPolicy.Rerun ? "rerun" : "fail";

    private static bool TryParseInterruptPolicy(string? text, out InterruptPolicy policy)
    {
        (var ok, policy) = text?.Trim().ToLowerInvariant() switch
        {
            "rerun" => (true, InterruptPolicy.Rerun),
            "fail" => (true, InterruptPolicy.Fail),
            _ => (false, default),
        };
        return ok;
    }

    private static void PrintJson<T>(T value) => Console.WriteLine(JsonSerializer.Serialize(value, ProtocolJson.Options));

    private static void Error(string message) => Console.Error.WriteLine($"guestctl: {message}");

    /// <summary>What to run: --shell or the arguments after --, plus --timeout, --cwd, --env.</summary>
    private sealed class RunOptions
    {
        private readonly Option<double> _timeout = new("--timeout")
        {
            Description = "Seconds the program may run on the guest (timeout_s); then SIGTERM, SIGKILL",
            DefaultValueFactory = _ => ExecArgs.DefaultTimeoutSeconds,
        };

        private readonly Option<string?> _shell = new("--shell") { Description = "A script for /bin/sh -c, instead of argv" };
        private readonly Option<string?> _cwd = new("--cwd") { Description = "Working directory on the guest" };
        private readonly Option<string[]> _env = new("--env") { Description = "NAME=VALUE added to the environment (repeat)" };
        private readonly Argument<string[]> _argv = new("argv") { Description = "Program and arguments (after --)", Arity = ArgumentArity.ZeroOrMore };

        public RunOptions(Command cmd)
        {
            cmd.Options.Add(_timeout);
            cmd.Options.Add(_shell);
            cmd.Options.Add(_cwd);
            cmd.Options.Add(_env);
            cmd.Arguments.Add(_argv);
        }

        public bool TryBuild(ParseResult r, out ExecArgs args)
        {
            args = new ExecArgs();
            var shell = r.GetValue(_shell);
            var argv = r.GetValue(_argv) ?? [];
            if ((shell is null) == (argv.Length == 0))
            {
                Error("give either --shell \"script\" or -- program args..., not both or neither");
                return false;
            }
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in r.GetValue(_env) ?? [])
            {
                var eq = pair.IndexOf('=');
                if (eq < 1)
                {
                    Error($"--env wants NAME=VALUE, got '{pair}'");
                    return false;
                }
                env[pair[..eq]] = pair[(eq + 1)..];
            }
            args = new ExecArgs
            {
                Argv = argv.Length > 0 ? argv : null,
                Shell = shell,
                Cwd = r.GetValue(_cwd),
                Env = env.Count > 0 ? env : null,
                TimeoutSeconds = r.GetValue(_timeout),
            };
            return true;
        }
    }
}
