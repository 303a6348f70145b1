using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using GuestAgent.Cli.Commands;

namespace GuestAgent.Cli;

public static partial class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("guestctl: drive GuestAgent guests through OpenStack Zaqar queues or a RabbitMQ broker. Commands are signed with " +
                                   "the keys in env GUESTAGENT_SIGNING_KEYS (kid=base64secret[,kid2=base64secret]: the first signs, " +
                                   "all verify replies); without it they go unsigned, and an agent whose binding has signing keys " +
                                   "rejects them. Zaqar: --endpoint (env ZAQAR_URL, default http://127.0.0.1:8888), " +
                                   "--project (env ZAQAR_PROJECT), --websocket (env ZAQAR_WS_URL: replies pushed, not polled for); " +
                                   "the guest: --queue (env GUESTAGENT_QUEUE). Over RabbitMQ instead of Zaqar: --transport amqp " +
                                   "(env GUESTAGENT_TRANSPORT) with --amqp-url amqp://host:port/VHOST (env GUESTAGENT_AMQP_URL), " +
                                   "--amqp-user (env GUESTAGENT_AMQP_USER), the password in env GUESTAGENT_AMQP_PASSWORD or " +
                                   "--amqp-password-file, and --amqp-prefix (env GUESTAGENT_AMQP_PREFIX) before the queue names; " +
                                   "with amqps://, --amqp-ca-file (env GUESTAGENT_AMQP_CA_FILE) names the CA of the broker's certificate.");
        root.Subcommands.Add(QueueCommands.Build());
        root.Subcommands.Add(CredentialsCommands.Build());
        foreach (var command in GuestCommands.Build())
        {
            root.Subcommands.Add(command);
        }
        root.WithExitCodes("Exit status: each verb's own (guestctl help VERB); 125 on bad usage, such as an unknown verb or option.");
        HelpPages.Install(root);

        var parsed = root.Parse(args);
        // Before any action, --help included: `exec df -h /` must not print help and run nothing.
        if (GuestCommands.ArgvWithoutSeparator(parsed, args) is { } refusal)
        {
            Console.Error.WriteLine($"guestctl: {refusal}");
            return GuestCommands.ExitError;
        }
        if (parsed.Action is ParseErrorAction)
        {
            ReportParseErrors(parsed);
            return GuestCommands.ExitError;
        }
        return await parsed.InvokeAsync();
    }

    /// <summary>One line per error, a suggestion for a mistyped verb, and where help is: not a screen of help text.</summary>
    private static void ReportParseErrors(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        var path = HelpPages.Path(parsed.RootCommandResult.Command, command);
        var unmatched = parsed.UnmatchedTokens;
        var errors = parsed.Errors.Select(e => e.Message).ToList();
        if (unmatched.Count > 0 && command.Subcommands.Count > 0 && !unmatched[0].StartsWith('-'))
        {
            // A mistyped verb: "Required command was not provided" and "Unrecognized ..." say the same thing worse.
            Console.Error.WriteLine($"guestctl: unknown verb '{unmatched[0]}'{HelpPages.Suggestion(command, unmatched[0])}");
        }
        else
        {
            foreach (var message in errors.Distinct())
            {
                Console.Error.WriteLine($"guestctl: {Plain(message)}");
            }
        }
        Console.Error.WriteLine($"guestctl: {path} --help shows the {(command.Subcommands.Count > 0 ? "verbs" : "options")}");
    }

    /// <summary>.NET type names in the parser's messages, said in words.</summary>
    private static string Plain(string message) => TypeName().Replace(message, m => m.Groups[1].Value switch
    {
        "Double" or "Single" => "as a number",
        "Int32" or "Int64" => "as a whole number",
        "Guid" => "as a command id (a UUID)",
        "Boolean" => "as true or false",
        _ => "",
    }).Replace("Nullable`1", "", StringComparison.Ordinal);

    [GeneratedRegex(@"as expected type 'System\.(?:Nullable`1\[)?(\w+)\]?'")]
    private static partial Regex TypeName();
}
