using System.CommandLine;
using System.Globalization;
using System.Text;
using GuestAgent.Zaqar;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// `guestctl credentials mint`: the two Zaqar pre-signed URLs a guest needs (claim and delete on
/// its command queue, post on its reply queue) and nothing more, printed as the HOCON
/// <c>auth { mode = presigned ... }</c> block of the guest's tenant binding. The guest then holds
/// no keystone credentials (docs/security.md).
/// </summary>
public static class CredentialsCommands
{
    public const string SecretVariable = "ZAQAR_SIGNED_URL_SECRET";

    /// <summary>
    /// What the agent does on its command queue: claim (POST claims), delete claimed messages
    /// (DELETE messages/{id}), and, with every slot busy, read waiting messages for queries (GET messages).
    /// </summary>
    public static readonly string[] CommandPaths = ["messages", "claims"];
    public static readonly string[] CommandMethods = ["GET", "POST", "DELETE"];

    /// <summary>What the agent does on its reply queue: post replies.</summary>
    public static readonly string[] ReplyPaths = ["messages"];
    public static readonly string[] ReplyMethods = ["POST"];

    private static readonly ZaqarConnection Connection = new(recursive: true);

    private static readonly Option<bool> Json = new("--json") { Description = "Print the result as one JSON object on stdout" };

    public static Command Build()
    {
        var credentials = new Command("credentials", "Guest credentials: Zaqar pre-signed URLs instead of keystone tokens (mint, renew).")
            .WithExitCodes("0 on success; 2 if the URLs cannot be minted (bad options, no secret); 125 on bad usage.");
        Connection.AddTo(credentials);

        var mint = new Command("mint",
            "Mint the pre-signed URLs of one guest binding and print its HOCON auth block. Offline with Zaqar's [signed_url] " +
            $"secret_key (env {SecretVariable} or --secret-file; --project must be the keystone project id), or else through " +
            "Zaqar's share API with a keystone token (--token / OS_AUTH_TOKEN; the project is the token's).")
            .WithExitCodes("0 if the block was printed; 2 if the URLs cannot be minted (bad options, no secret, Zaqar refused); 125 on bad usage.");
        var queue = new Option<string>("--queue") { Description = "The guest's command queue", Required = true };
        var reply = new Option<string>("--reply-queue") { Description = "The guest's reply queue", Required = true };
        var expiresIn = new Option<string>("--expires-in") { Description = "Validity: 7d, 12h, 30m, 90s (default 7d)", DefaultValueFactory = _ => "7d" };
        var secretFile = new Option<string?>("--secret-file") { Description = $"File holding Zaqar's [signed_url] secret_key (else env {SecretVariable})" };
        var via = new Option<string>("--via")
        {
            Description = "secret: mint offline; share: ask Zaqar's share API; auto (default): secret if one is given, else share",
            DefaultValueFactory = _ => "auto",
        };
        via.AcceptOnlyFromAmong("auto", "secret", "share");
        var cloudInit = new Option<bool>("--cloud-init")
        {
            Description = "Print the guest's whole cloud-init user-data instead: install the guest-agent package, write the binding " +
                          "(these URLs, --endpoint as the guest reaches Zaqar) and the signing key (the first of GUESTAGENT_SIGNING_KEYS), " +
                          "start the agent. Shaped like tools/cloud-init/user-data.example.yaml",
        };
        var binding = new Option<string>("--binding") { Description = "With --cloud-init: the binding's name in guest-agent.tenants (default main)", DefaultValueFactory = _ => "main" };
        var agentName = new Option<string?>("--agent-name") { Description = "With --cloud-init: guest-agent.name (default: the guest's host name)" };
        var aptSource = new Option<string?>("--apt-source")
        {
            Description = "With --cloud-init: the apt source line serving the package, e.g. \"deb [signed-by=$KEY_FILE] https://repo.example/guest-agent bookworm main\" " +
                          "(default: none, the image's sources have it)",
        };
        var aptKeyFile = new Option<string?>("--apt-key-file") { Description = "With --cloud-init: the ASCII-armoured key of --apt-source" };
        foreach (var o in new Option[] { queue, reply, expiresIn, secretFile, via, Json, cloudInit, binding, agentName, aptSource, aptKeyFile })
        {
            mint.Options.Add(o);
        }
        mint.SetAction(async (r, ct) =>
        {
            CloudInitUserData.Settings? userData = null;
            if (r.GetValue(cloudInit))
            {
                if (r.GetValue(Json))
                {
                    Console.Error.WriteLine("--cloud-init and --json: choose one");
                    return 2;
                }
                try
                {
                    var keys = GuestCommands.SigningKeysFromEnvironment();
                    if (keys is not { Count: > 0 })
                    {
                        Console.Error.WriteLine("--cloud-init: the guest needs the key its controllers sign with: set GUESTAGENT_SIGNING_KEYS=kid=base64secret " +
                                                "(the first key goes to the guest; head -c 32 /dev/urandom | base64 makes a secret)");
                        return 2;
                    }
                    var keyText = r.GetValue(aptKeyFile) is { } kf ? File.ReadAllText(kf) : null;
                    userData = new CloudInitUserData.Settings(r.GetValue(Connection.Endpoint)!, r.GetValue(binding)!, r.GetValue(agentName), keys[0],
                        r.GetValue(aptSource), keyText);
                }
                catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine(e is ArgumentException ? e.Message : $"--apt-key-file: {e.Message}");
                    return 2;
                }
                if (CloudInitUserData.Check(userData) is { } problem)
                {
                    Console.Error.WriteLine(problem);
                    return 2;
                }
            }
            var minted = await MintAsync(r, queue, reply, expiresIn, secretFile, via, ct);
            if (minted is not { } urls)
            {
                return 2;
            }
            if (userData is not null)
            {
                Console.Write(CloudInitUserData.Render(userData, urls.Command, urls.Reply));
                return 0;
            }
            if (r.GetValue(Json))
            {
                Console.WriteLine(new System.Text.Json.Nodes.JsonObject
                {
                    ["command_queue"] = System.Text.Json.Nodes.JsonNode.Parse(urls.Command.ToJson()),
                    ["reply_queue"] = System.Text.Json.Nodes.JsonNode.Parse(urls.Reply.ToJson()),
                }.ToJsonString());
                return 0;
            }
            Console.Write(Hocon(urls.Command, urls.Reply));
            return 0;
        });
        credentials.Subcommands.Add(mint);

        var renew = new Command("renew",
            "Mint fresh pre-signed URLs for a running guest (as mint does) and hand them to it in a signed credentials " +
            "command on its command queue; the agent tries them, keeps them across restarts and switches to them. The " +
            "reply comes to the guest's reply queue (--reply-queue). Signing keys: env GUESTAGENT_SIGNING_KEYS. " +
            "Run it well before the current URLs expire (the agent warns in its log a day ahead by default).")
            .WithExitCodes("0 if the guest took the new URLs; 2 if they cannot be minted; 124 if the agent did not answer within --wait; " +
                           "125 if the command was rejected, or guestctl/Zaqar failed, or on bad usage. " + GuestCommands.SigningHelp);
        var wait = new Option<double>("--wait") { Description = "Seconds to wait for the agent's answer (default 60)", DefaultValueFactory = _ => 60 };
        foreach (var o in new Option[] { queue, reply, expiresIn, secretFile, via, wait, Json })
        {
            renew.Options.Add(o);
        }
        Connection.AddWebSocketTo(renew);
        renew.SetAction(async (r, ct) =>
        {
            var minted = await MintAsync(r, queue, reply, expiresIn, secretFile, via, ct);
            if (minted is not { } urls)
            {
                return 2;
            }
            try
            {
                // The controller itself talks to Zaqar with the connection options (a keystone token).
                var replyQueue = r.GetValue(reply)!;
                await using var client = new GuestAgent.Client.GuestClient(Connection.Transport(r), r.GetValue(queue)!, replyQueue,
                    new GuestAgent.Client.GuestClientOptions
                    {
                        SigningKeys = GuestCommands.SigningKeysFromEnvironment(),
                        OnDroppedMessage = m => GuestCommands.WarnDropped(replyQueue, m),
                    });
                var result = await client.RenewCredentialsAsync(urls.Command, urls.Reply,
                    new GuestAgent.Client.CallOptions { Timeout = TimeSpan.FromSeconds(r.GetValue(wait)) }, ct);
                if (r.GetValue(Json))
                {
                    Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
                    {
                        ["command_queue_expires_at"] = GuestAgent.Protocol.ProtocolJson.FormatTimestamp(result.CommandQueueExpiresAt),
                        ["reply_queue_expires_at"] = GuestAgent.Protocol.ProtocolJson.FormatTimestamp(result.ReplyQueueExpiresAt),
                    }));
                    return 0;
                }
                Console.WriteLine($"renewed: the guest now uses URLs valid until {GuestAgent.Protocol.ProtocolJson.FormatTimestamp(result.CommandQueueExpiresAt)} " +
                                  $"(command queue) and {GuestAgent.Protocol.ProtocolJson.FormatTimestamp(result.ReplyQueueExpiresAt)} (reply queue)");
                return 0;
            }
            catch (GuestAgent.Client.GuestTimeoutException e)
            {
                Console.Error.WriteLine($"guestctl: {e.Message}");
                return GuestCommands.ExitTimedOut;
            }
            catch (GuestAgent.Client.GuestSigningMismatchException e)
            {
                Console.Error.WriteLine($"guestctl: {e.Message} {GuestCommands.SigningMismatchHint}");
                return GuestCommands.ExitError;
            }
            catch (ZaqarException e)
            {
                Console.Error.WriteLine($"guestctl: {Connection.Explain(e, r)}");
                return GuestCommands.ExitError;
            }
            catch (GuestAgent.Client.GuestRejectedException e)
            {
                Console.Error.WriteLine($"guestctl: {e.Message}{GuestCommands.RejectionHint(e.Code)}");
                return GuestCommands.ExitError;
            }
            catch (Exception e) when (e is GuestAgent.Client.GuestClientException or ZaqarProtocolException or ArgumentException)
            {
                Console.Error.WriteLine($"guestctl: {GuestCommands.Plain(e)}");
                return GuestCommands.ExitError;
            }
        });
        credentials.Subcommands.Add(renew);
        return credentials;
    }

    /// <summary>The two URLs, minted offline or through the share API as the options say; null (after a message) when it cannot be done.</summary>
    private static async Task<(PreSignedUrl Command, PreSignedUrl Reply)?> MintAsync(ParseResult r, Option<string> queue, Option<string> reply,
        Option<string> expiresIn, Option<string?> secretFile, Option<string> via, CancellationToken ct)
    {
        var q = r.GetValue(queue)!;
        var rq = r.GetValue(reply)!;
        if (!TryParseDuration(r.GetValue(expiresIn)!, out var lifetime))
        {
            Console.Error.WriteLine($"--expires-in: '{r.GetValue(expiresIn)}' is not a positive duration such as 7d, 12h, 30m or 90s");
            return null;
        }
        foreach (var name in new[] { q, rq })
        {
            try
            {
                ZaqarLimits.CheckQueueName(name);
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine(e.Message);
                return null;
            }
        }
        string? secret;
        try
        {
            secret = r.GetValue(secretFile) is { } file ? File.ReadAllText(file).Trim() : Environment.GetEnvironmentVariable(SecretVariable);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"--secret-file: {e.Message}");
            return null;
        }
        var mode = r.GetValue(via)!;
        if (mode == "auto")
        {
            mode = !string.IsNullOrEmpty(secret) ? "secret" : !string.IsNullOrEmpty(r.GetValue(Connection.Token)) ? "share" : "none";
        }
        var expires = DateTimeOffset.UtcNow + lifetime;
        switch (mode)
        {
            case "secret" when !string.IsNullOrEmpty(secret):
                var project = r.GetValue(Connection.Project)!;
                return (PreSignedUrl.Mint(secret, q, project, expires, CommandPaths, CommandMethods),
                        PreSignedUrl.Mint(secret, rq, project, expires, ReplyPaths, ReplyMethods));
            case "share" when !string.IsNullOrEmpty(r.GetValue(Connection.Token)):
                var client = Connection.Client(r);
                return (await client.ShareAsync(q, CommandPaths, CommandMethods, expires, ct),
                        await client.ShareAsync(rq, ReplyPaths, ReplyMethods, expires, ct));
            default:
                Console.Error.WriteLine(
                    $"no way to mint: give Zaqar's signing secret (env {SecretVariable} or --secret-file) or a keystone token (--token or OS_AUTH_TOKEN)");
                return null;
        }
    }

    /// <summary>The binding's auth block for these two URLs.</summary>
    public static string Hocon(PreSignedUrl command, PreSignedUrl reply)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# guestctl credentials mint: project {command.Project}, queues {command.Queue} / {reply.Queue}, valid until {command.Expires} UTC");
        sb.AppendLine("auth {");
        sb.AppendLine("  mode = presigned");
        Block("command-queue-signature", command);
        Block("reply-queue-signature", reply);
        sb.AppendLine("}");
        return sb.ToString();

        void Block(string name, PreSignedUrl u)
        {
            static string List(IEnumerable<string> xs) => "[" + string.Join(", ", xs.Select(x => $"\"{x}\"")) + "]";
            sb.AppendLine($"  {name} {{");
            sb.AppendLine($"    project = \"{u.Project}\"");
            sb.AppendLine($"    paths = {List(u.Paths)}");
            sb.AppendLine($"    methods = {List(u.Methods)}");
            sb.AppendLine($"    expires = \"{u.Expires}\"");
            sb.AppendLine($"    signature = \"{u.Signature}\"");
            sb.AppendLine("  }");
        }
    }

    /// <summary>"7d", "12h", "30m", "90s", or a TimeSpan ("1.00:00:00"); positive only.</summary>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        text = text.Trim();
        if (text.Length >= 2 && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
        {
            value = char.ToLowerInvariant(text[^1]) switch
            {
                'd' => TimeSpan.FromDays(n),
                'h' => TimeSpan.FromHours(n),
                'm' => TimeSpan.FromMinutes(n),
                's' => TimeSpan.FromSeconds(n),
                _ => default,
            };
        }
        else if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var ts))
        {
            value = ts;
        }
        return value > TimeSpan.Zero;
    }
}
