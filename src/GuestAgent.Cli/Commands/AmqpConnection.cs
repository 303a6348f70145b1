using System.CommandLine;
using GuestAgent.Client.Transports.Amqp;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// --transport and the options of the AMQP transport (--amqp-url, --amqp-user,
/// --amqp-password-file, --amqp-vhost, --amqp-prefix, --amqp-ca-file), each with its variable, and the transport
/// built from them. The password is never an option (it would show in ps): it comes from
/// GUESTAGENT_AMQP_PASSWORD, a file, or the URL.
/// </summary>
internal sealed class AmqpConnection
{
    public const string Zaqar = "zaqar";
    public const string Amqp = "amqp";

    /// <summary>The reply queue over AMQP when --reply-queue is not given: a guest may only publish to its binding's reply queue.</summary>
    public const string DefaultReplyQueue = "replies";

    public AmqpConnection()
    {
        Transport = new("--transport")
        {
            Description = "How to reach the guest: zaqar (the default) or amqp (a RabbitMQ broker: --amqp-url ...) (env GUESTAGENT_TRANSPORT)",
            HelpName = "zaqar|amqp",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("GUESTAGENT_TRANSPORT") is { Length: > 0 } t ? t : Zaqar,
        };
        Transport.AcceptOnlyFromAmong(Zaqar, Amqp);
        Url = new("--amqp-url")
        {
            Description = $"With --transport amqp: the broker, amqp[s]://host[:port]/VHOST, the tenant's vhost as its path (env {AmqpTransportOptions.UrlVariable})",
            HelpName = "url",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(AmqpTransportOptions.UrlVariable) is { Length: > 0 } u ? u : null,
        };
        // A URL may hold a password: help must not print the one in the environment.
        Url.HideDefault();
        User = new("--amqp-user")
        {
            Description = $"The tenant's controller user on the broker (env {AmqpTransportOptions.UserVariable}; or in the URL)",
            HelpName = "name",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(AmqpTransportOptions.UserVariable) is { Length: > 0 } u ? u : null,
        };
        PasswordFile = new("--amqp-password-file")
        {
            Description = $"A file holding the user's password (else env {AmqpTransportOptions.PasswordVariable}, or the URL's)",
            HelpName = "path",
        };
        VirtualHost = new("--amqp-vhost")
        {
            Description = $"The tenant's vhost, over the URL's path (env {AmqpTransportOptions.VirtualHostVariable})",
            HelpName = "vhost",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(AmqpTransportOptions.VirtualHostVariable) is { Length: > 0 } v ? v : null,
        };
        Prefix = new("--amqp-prefix")
        {
            Description = "Put before --queue and --reply-queue to make the broker's queue names, e.g. ga.vm1. for tools/rabbitmq/provision.sh's " +
                          $"guest vm1 (env {AmqpTransportOptions.PrefixVariable})",
            HelpName = "prefix",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(AmqpTransportOptions.PrefixVariable) ?? "",
        };
        CaFile = new("--amqp-ca-file")
        {
            Description = "With an amqps:// URL: a PEM file with the CA that signed the broker's certificate (a cloud's own CA), the only one it may " +
                          $"chain to; without it, the system's CAs (env {AmqpTransportOptions.CaFileVariable})",
            HelpName = "path",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(AmqpTransportOptions.CaFileVariable) is { Length: > 0 } f ? f : null,
        };
    }

    public Option<string> Transport { get; }
    public Option<string?> Url { get; }
    public Option<string?> User { get; }
    public Option<string?> PasswordFile { get; }
    public Option<string?> VirtualHost { get; }
    public Option<string> Prefix { get; }
    public Option<string?> CaFile { get; }

    public void AddTo(Command command)
    {
        command.Options.Add(Transport);
        command.Options.Add(Url);
        command.Options.Add(User);
        command.Options.Add(PasswordFile);
        command.Options.Add(VirtualHost);
        command.Options.Add(Prefix);
        command.Options.Add(CaFile);
    }

    /// <summary>Whether --transport (or GUESTAGENT_TRANSPORT) says amqp.</summary>
    /// <exception cref="ArgumentException">GUESTAGENT_TRANSPORT names neither (an option's value is checked by the parser).</exception>
    public bool IsAmqp(ParseResult r) => r.GetValue(Transport) switch
    {
        Amqp => true,
        Zaqar => false,
        var other => throw new ArgumentException($"GUESTAGENT_TRANSPORT must be {Zaqar} or {Amqp}; got '{other}'"),
    };

    /// <summary>The AMQP transport the options describe.</summary>
    /// <exception cref="ArgumentException">No URL, a bad one, no user, an unreadable or empty password file.</exception>
    public AmqpTransport Build(ParseResult r)
    {
        var fromOption = r.GetResult(Url) is { Implicit: false };
        var source = fromOption ? "--amqp-url" : AmqpTransportOptions.UrlVariable;
        var url = r.GetValue(Url)
                  ?? throw new ArgumentException($"--transport amqp needs the broker: give --amqp-url or set {AmqpTransportOptions.UrlVariable}, " +
                                                 "e.g. amqp://127.0.0.1:5672/TENANT");
        var endpoint = AmqpTransportOptions.ParseEndpoint(url, source);
        var options = new AmqpTransportOptions
        {
            Endpoint = endpoint,
            User = r.GetValue(User),
            Password = Password(r),
            VirtualHost = r.GetValue(VirtualHost),
            NamePrefix = r.GetValue(Prefix) ?? "",
            CaFile = r.GetValue(CaFile),
            ClientName = "guestctl",
        };
        if (options.User is null && endpoint.UserInfo.Length == 0)
        {
            throw new ArgumentException($"--transport amqp needs the controller's broker user: give --amqp-user, set {AmqpTransportOptions.UserVariable}, " +
                                        "or put it in the URL (amqp://USER@host/vhost)");
        }
        return new AmqpTransport(options);
    }

    private string? Password(ParseResult r)
    {
        if (r.GetValue(PasswordFile) is { Length: > 0 } file)
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"--amqp-password-file: cannot read {file}: {e.Message}");
            }
            // A trailing newline is an editor's, not the password's.
            var password = text.TrimEnd('\r', '\n');
            return password.Length > 0 ? password : throw new ArgumentException($"--amqp-password-file: {file} is empty");
        }
        return Environment.GetEnvironmentVariable(AmqpTransportOptions.PasswordVariable) is { Length: > 0 } p ? p : null;
    }
}
