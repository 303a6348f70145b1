using System.CommandLine;
using GuestAgent.Zaqar;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// The options every Zaqar-speaking verb takes (--endpoint, --project, --token) and the client
/// built from them. guestctl keeps its state in ~/.config/guestctl/: the Zaqar Client-ID
/// (client-id) and the default reply queue name (reply-queue).
/// </summary>
internal sealed class ZaqarConnection
{
    public ZaqarConnection(bool recursive)
    {
        Endpoint = new("--endpoint")
        {
            Description = "Zaqar base URL (env ZAQAR_URL)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ZAQAR_URL") ?? "http://127.0.0.1:8888",
            Recursive = recursive,
        };
        Project = new("--project")
        {
            Description = "Project id sent as X-Project-Id (env ZAQAR_PROJECT)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ZAQAR_PROJECT") ?? "guestagent",
            Recursive = recursive,
        };
        Token = new("--token")
        {
            Description = "Keystone token (env OS_AUTH_TOKEN); without it no auth is sent",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OS_AUTH_TOKEN"),
            Recursive = recursive,
        };
    }

    public Option<string> Endpoint { get; }
    public Option<string> Project { get; }
    public Option<string?> Token { get; }

    public static string ConfigDir { get; } = FindConfigDir();

    private static string FindConfigDir()
    {
        // DoNotVerify: a HOME that does not exist yet must not turn into "" (a path relative to the cwd).
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile, Environment.SpecialFolderOption.DoNotVerify);
        if (string.IsNullOrEmpty(home))
        {
            home = Path.GetTempPath();
        }
        return Path.Combine(home, ".config", "guestctl");
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Endpoint);
        command.Options.Add(Project);
        command.Options.Add(Token);
    }

    public ZaqarClient Client(ParseResult r)
    {
        var token = r.GetValue(Token);
        var project = r.GetValue(Project)!;
        ZaqarAuth auth = string.IsNullOrEmpty(token) ? new ZaqarAuth.None(project) : ZaqarAuth.Keystone.WithToken(token, project);
        return new ZaqarClient(new ZaqarClientOptions
        {
            Endpoint = r.GetValue(Endpoint)!,
            ClientId = ClientIdentity.LoadOrCreate(Path.Combine(ConfigDir, "client-id")),
            Auth = auth,
        });
    }

    /// <summary>
    /// "replies-" and 12 hex digits, made once per user and machine and kept in
    /// ~/.config/guestctl/reply-queue next to the client id.
    /// </summary>
    public static string DefaultReplyQueue()
    {
        var path = Path.Combine(ConfigDir, "reply-queue");
        if (File.Exists(path))
        {
            var existing = File.ReadAllText(path).Trim();
            if (GuestAgent.Protocol.QueueNames.IsValid(existing))
            {
                return existing;
            }
        }
        var name = "replies-" + Guid.NewGuid().ToString("N")[..12];
        Directory.CreateDirectory(ConfigDir);
        var tmp = path + "." + Environment.ProcessId + ".tmp";
        File.WriteAllText(tmp, name + "\n");
        try
        {
            // Another guestctl may have made one meanwhile: keep the first.
            File.Move(tmp, path, overwrite: false);
            return name;
        }
        catch (IOException)
        {
            File.Delete(tmp);
            return File.ReadAllText(path).Trim();
        }
    }
}
