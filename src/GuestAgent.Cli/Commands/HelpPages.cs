using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text;
using Command = System.CommandLine.Command;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// guestctl's help, from one source: `VERB --help`, `guestctl help VERB`, the man page
/// (`guestctl help --man`) and bash completion (`guestctl completion bash`) are all made from the
/// command tree, each verb's description and its exit status text.
/// </summary>
internal static class HelpPages
{
    public const string Program = "guestctl";

    private static readonly Dictionary<Command, string> ExitCodes = [];

    /// <summary>Options whose current value must not show as a default (it is a secret).</summary>
    private static readonly HashSet<Option> Secret = [];

    public static T WithExitCodes<T>(this T command, string text) where T : Command
    {
        ExitCodes[command] = text;
        return command;
    }

    public static T HideDefault<T>(this T option) where T : Option
    {
        Secret.Add(option);
        return option;
    }

    /// <summary>Makes --help print these pages and adds `help` and `completion`.</summary>
    public static void Install(RootCommand root)
    {
        foreach (var option in root.Options.OfType<HelpOption>())
        {
            option.Action = new PageAction();
        }

        var verb = new Argument<string[]>("verb") { Description = "The verb, e.g. exec or queue stats", Arity = ArgumentArity.ZeroOrMore };
        var man = new Option<bool>("--man") { Description = "Print the whole manual page (troff) instead: guestctl help --man > guestctl.1; man ./guestctl.1" };
        var help = new Command("help", "Show a verb's help page: guestctl help VERB (the same as guestctl VERB --help).")
            .WithExitCodes("Exit status: 0; 125 if there is no such verb.");
        help.Arguments.Add(verb);
        help.Options.Add(man);
        help.SetAction(r =>
        {
            if (r.GetValue(man))
            {
                Console.Out.Write(Man(root));
                return 0;
            }
            var words = r.GetValue(verb) ?? [];
            Command command = root;
            foreach (var word in words)
            {
                var next = command.Subcommands.FirstOrDefault(c => c.Name == word);
                if (next is null)
                {
                    Console.Error.WriteLine($"{Program}: no verb '{string.Join(' ', words)}'{Suggestion(command, word)}; {Program} --help lists them");
                    return GuestCommands.ExitError;
                }
                command = next;
            }
            Console.Out.Write(Page(command, Path(root, command), Width()));
            return 0;
        });
        root.Subcommands.Add(help);

        var shell = new Argument<string>("shell") { Description = "bash" };
        shell.AcceptOnlyFromAmong("bash");
        var completion = new Command("completion",
                "Print a shell completion script for guestctl's verbs and options: source <(guestctl completion bash), " +
                "or save it as /etc/bash_completion.d/guestctl.")
            .WithExitCodes("Exit status: 0; 125 on bad usage.");
        completion.Arguments.Add(shell);
        completion.SetAction(_ =>
        {
            Console.Out.Write(Bash(root));
            return 0;
        });
        root.Subcommands.Add(completion);
    }

    /// <summary>Terminal width, or 80 when the output is not a terminal.</summary>
    public static int Width()
    {
        try
        {
            return Console.IsOutputRedirected ? 80 : Math.Clamp(Console.WindowWidth, 50, 120);
        }
        catch (IOException)
        {
            return 80;
        }
    }

    /// <summary>"guestctl queue stats" for that command.</summary>
    public static string Path(Command root, Command command)
    {
        var names = new List<string>();
        for (var c = command; c is not null && c != root; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            names.Insert(0, c.Name);
        }
        return string.Join(' ', [Program, .. names]);
    }

    public static string Page(Command command, string path, int width)
    {
        var b = new StringBuilder();
        b.Append("Usage: ").Append(Usage(command, path)).Append("\n\n");
        Wrap(b, command.Description ?? "", 2, width);
        var arguments = command.Arguments.Where(a => !a.Hidden).Select(a => (Label(a), a.Description ?? "")).ToList();
        if (arguments.Count > 0)
        {
            b.Append("\nArguments:\n");
            Columns(b, arguments, width);
        }
        var options = AllOptions(command).Select(o => (Label(o), OptionText(o))).ToList();
        if (options.Count > 0)
        {
            b.Append("\nOptions:\n");
            Columns(b, options, width);
        }
        var verbs = command.Subcommands.Where(c => !c.Hidden).Select(c => (c.Name, Summary(c))).ToList();
        if (verbs.Count > 0)
        {
            b.Append("\nCommands:\n");
            Columns(b, verbs, width);
            b.Append('\n');
            Wrap(b, $"{path} VERB --help (or {Program} help VERB) shows a verb's options and exit status.", 2, width);
        }
        if (ExitCodes.TryGetValue(command, out var exit))
        {
            b.Append("\nExit status:\n");
            Wrap(b, exit.StartsWith("Exit status: ", StringComparison.Ordinal) ? exit["Exit status: ".Length..] : exit, 2, width);
        }
        return b.ToString();
    }

    /// <summary>A manual page in troff (man(7)) with every verb's page.</summary>
    public static string Man(RootCommand root)
    {
        var b = new StringBuilder();
        b.Append(".TH GUESTCTL 1\n.SH NAME\nguestctl \\- drive GuestAgent guests through OpenStack Zaqar queues or a RabbitMQ broker\n");
        b.Append(".SH SYNOPSIS\n.B guestctl\nVERB [options]\n.SH DESCRIPTION\n").Append(Troff(root.Description ?? "")).Append('\n');
        b.Append(".SH VERBS\n");
        foreach (var command in Walk(root).Where(c => c != root))
        {
            b.Append(".SS ").Append(Troff(Path(root, command))).Append('\n');
            b.Append(".nf\n").Append(Troff(Page(command, Path(root, command), 78))).Append(".fi\n");
        }
        b.Append(".SH ENVIRONMENT\n");
        foreach (var (name, text) in new[]
                 {
                     ("ZAQAR_URL", "Zaqar's base URL (--endpoint); unset means http://127.0.0.1:8888."),
                     ("ZAQAR_PROJECT", "The project id (--project)."),
                     ("ZAQAR_WS_URL", "Zaqar's WebSocket URL (--websocket): replies are pushed instead of polled for; unset means polling."),
                     ("OS_AUTH_TOKEN", "A keystone token (--token)."),
                     ("GUESTAGENT_QUEUE", "The guest's command queue (--queue)."),
                     ("GUESTAGENT_QUERY_QUEUE", "The guest's query queue, for status, cancel and ping (--query-queue); unset: the command queue."),
                     ("GUESTAGENT_TRANSPORT", "zaqar (unset: the default) or amqp (--transport)."),
                     ("GUESTAGENT_AMQP_URL", "With amqp: the broker, amqp[s]://host[:port]/VHOST (--amqp-url)."),
                     ("GUESTAGENT_AMQP_USER", "With amqp: the tenant's controller user (--amqp-user)."),
                     ("GUESTAGENT_AMQP_PASSWORD", "With amqp: its password (or --amqp-password-file)."),
                     ("GUESTAGENT_AMQP_VHOST", "With amqp: the tenant's vhost, over the URL's path (--amqp-vhost)."),
                     ("GUESTAGENT_AMQP_PREFIX", "With amqp: put before the queue names to make the broker's (--amqp-prefix), e.g. ga.vm1."),
                     ("GUESTAGENT_AMQP_CA_FILE", "With amqps: the CA (PEM) that signed the broker's certificate, the only one trusted then (--amqp-ca-file)."),
                     ("GUESTAGENT_SIGNING_KEYS", "kid=base64secret[,kid2=base64secret]: the first key signs commands, all verify replies."),
                 })
        {
            b.Append(".TP\n.B ").Append(name).Append('\n').Append(Troff(text)).Append('\n');
        }
        return b.ToString();
    }

    /// <summary>A bash completion script: verbs, then each verb's options; after -- or for paths, bash's own file completion.</summary>
    public static string Bash(RootCommand root)
    {
        var b = new StringBuilder();
        b.Append("# bash completion for guestctl: source <(guestctl completion bash)\n");
        b.Append("_guestctl() {\n");
        b.Append("    local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=\"\" i words\n");
        b.Append("    for ((i = 1; i < COMP_CWORD; i++)); do\n");
        b.Append("        [[ \"${COMP_WORDS[i]}\" == \"--\" ]] && return 0\n");
        b.Append("        case \"$path ${COMP_WORDS[i]}\" in\n");
        var commands = Walk(root).Where(c => c != root).ToList();
        b.Append("            ").Append(string.Join('|', commands.Select(c => $"\"{Path(root, c)[Program.Length..]}\""))).Append(") path=\"$path ${COMP_WORDS[i]}\";;\n");
        b.Append("        esac\n    done\n");
        b.Append("    if [[ \"$cur\" == -* ]]; then\n        case \"$path\" in\n");
        foreach (var c in Walk(root))
        {
            var names = AllOptions(c).SelectMany(o => new[] { o.Name }.Concat(o.Aliases.Where(n => n.StartsWith('-') && n != "-?"))).Distinct();
            b.Append($"            \"{Path(root, c)[Program.Length..]}\") words=\"{string.Join(' ', names)}\";;\n");
        }
        b.Append("        esac\n    else\n        case \"$path\" in\n");
        foreach (var c in Walk(root).Where(c => c.Subcommands.Count > 0))
        {
            b.Append($"            \"{Path(root, c)[Program.Length..]}\") words=\"{string.Join(' ', c.Subcommands.Select(s => s.Name))}\";;\n");
        }
        b.Append("            *) return 0;;\n        esac\n    fi\n");
        b.Append("    mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n}\n");
        b.Append("complete -o default -F _guestctl guestctl\n");
        return b.ToString();
    }

    /// <summary>The closest verb name, as " (did you mean 'exec'?)", or "".</summary>
    public static string Suggestion(Command command, string word)
    {
        var best = command.Subcommands.Select(c => (c.Name, Distance: Distance(c.Name, word)))
            .Where(x => x.Distance <= Math.Max(1, x.Name.Length / 3))
            .OrderBy(x => x.Distance).Select(x => x.Name).FirstOrDefault();
        return best is null ? "" : $" (did you mean '{best}'?)";
    }

    private static IEnumerable<Command> Walk(Command c) => [c, .. c.Subcommands.Where(s => !s.Hidden).SelectMany(Walk)];

    /// <summary>The command's own options and the recursive ones of its parents (--endpoint on `queue stats`, --help).</summary>
    private static IEnumerable<Option> AllOptions(Command command)
    {
        var seen = new List<Option>(command.Options.Where(o => !o.Hidden));
        for (var p = command.Parents.OfType<Command>().FirstOrDefault(); p is not null; p = p.Parents.OfType<Command>().FirstOrDefault())
        {
            seen.AddRange(p.Options.Where(o => o.Recursive && !o.Hidden && !seen.Contains(o)));
        }
        // --help (and --version on the root) last.
        return seen.OrderBy(o => o is HelpOption || o is VersionOption ? 1 : 0);
    }

    private static string Usage(Command command, string path)
    {
        var parts = new List<string> { path };
        if (command.Subcommands.Count > 0)
        {
            parts.Add("VERB");
        }
        parts.Add("[options]");
        foreach (var a in command.Arguments.Where(a => !a.Hidden))
        {
            parts.Add(a.Name == "argv" ? "[-- program args...]" : a.Arity.MinimumNumberOfValues == 0 ? $"[{Label(a)}]" : Label(a));
        }
        return string.Join(' ', parts);
    }

    private static string Label(Argument a) => a.Arity.MaximumNumberOfValues > 1 ? $"<{a.HelpName ?? a.Name}>..." : $"<{a.HelpName ?? a.Name}>";

    private static string Label(Option o)
    {
        // Windows spellings of help (/h, /?, -?) are noise on Linux.
        var names = string.Join(", ", o.Aliases.Where(n => n.StartsWith('-') && n != "-?").OrderBy(n => n.Length).Append(o.Name));
        return o.ValueType == typeof(bool) || o is HelpOption or VersionOption ? names : $"{names} <{o.HelpName ?? o.Name.TrimStart('-')}>";
    }

    private static string OptionText(Option o)
    {
        var text = o.Description ?? "";
        if (Secret.Contains(o) || o.ValueType == typeof(bool) || !o.HasDefaultValue)
        {
            return text;
        }
        var value = o.GetDefaultValue();
        var shown = value switch
        {
            null => null,
            string s when s.Length == 0 => null,
            string[] list => list.Length == 0 ? null : string.Join(", ", list),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };
        return shown is null ? text : $"{text} [default: {shown}]";
    }

    /// <summary>A command's first sentence, for the list of verbs.</summary>
    private static string Summary(Command c)
    {
        var d = c.Description ?? "";
        var depth = 0;
        for (var i = 0; i < d.Length - 1; i++)
        {
            depth += d[i] == '(' ? 1 : d[i] == ')' ? -1 : 0;
            if (depth == 0 && d[i] is ':' or '.' && d[i + 1] == ' ')
            {
                return d[..i];
            }
        }
        return d.TrimEnd('.');
    }

    private static void Columns(StringBuilder b, List<(string Left, string Right)> rows, int width)
    {
        var left = Math.Min(rows.Max(r => r.Left.Length), width / 3) + 4;
        foreach (var (l, r) in rows)
        {
            var lines = Lines(r, Math.Max(20, width - left));
            b.Append("  ").Append(l);
            if (l.Length + 2 > left - 2)
            {
                b.Append('\n').Append(' ', left);
            }
            else
            {
                b.Append(' ', left - l.Length - 2);
            }
            b.Append(lines.Count > 0 ? lines[0] : "").Append('\n');
            foreach (var line in lines.Skip(1))
            {
                b.Append(' ', left).Append(line).Append('\n');
            }
        }
    }

    private static void Wrap(StringBuilder b, string text, int indent, int width)
    {
        foreach (var line in Lines(text, width - indent))
        {
            b.Append(' ', indent).Append(line).Append('\n');
        }
    }

    private static List<string> Lines(string text, int width)
    {
        var lines = new List<string>();
        var line = new StringBuilder();
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                lines.Add(line.ToString());
                line.Clear();
            }
            if (line.Length > 0)
            {
                line.Append(' ');
            }
            line.Append(word);
        }
        if (line.Length > 0)
        {
            lines.Add(line.ToString());
        }
        return lines;
    }

    private static string Troff(string text) =>
        string.Join('\n', text.Replace("\\", "\\\\", StringComparison.Ordinal).Split('\n')
            .Select(l => l.StartsWith('.') || l.StartsWith('\'') ? "\\&" + l : l));

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                // A swap of two neighbours (exce for exec) counts as one edit.
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }
        return d[a.Length, b.Length];
    }

    /// <summary>--help on any verb: the same page as `guestctl help VERB`.</summary>
    private sealed class PageAction : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var command = parseResult.CommandResult.Command;
            var root = parseResult.RootCommandResult.Command;
            Console.Out.Write(Page(command, Path(root, command), Width()));
            return 0;
        }
    }
}
