using System.CommandLine;
using GuestAgent.Cli.Commands;

namespace GuestAgent.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("guestctl: drive GuestAgent guests through OpenStack Zaqar queues. Commands are signed with " +
                                   "the keys in env GUESTAGENT_SIGNING_KEYS (kid=base64secret[,kid2=base64secret]: the first signs, " +
                                   "all verify replies); without it they go unsigned and replies are not checked.");
        root.Subcommands.Add(QueueCommands.Build());
        root.Subcommands.Add(CredentialsCommands.Build());
        foreach (var command in GuestCommands.Build())
        {
            root.Subcommands.Add(command);
        }
        return await root.Parse(args).InvokeAsync();
    }
}
