using System.Text;
using System.Text.RegularExpressions;
using GuestAgent.Protocol.Signing;
using GuestAgent.Zaqar;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// `guestctl credentials mint --cloud-init`: the whole cloud-init user-data of one guest (the shape of
/// tools/cloud-init/user-data.example.yaml): install the guest-agent package, write the binding with
/// the freshly minted pre-signed URLs and the signing key in files of their own after the package
/// is in place, check the configuration and start the agent.
/// </summary>
public static partial class CloudInitUserData
{
    /// <summary>Settings of the binding and of the package source that the URLs do not say.</summary>
    /// <param name="Endpoint">The Zaqar base URL as the guest reaches it.</param>
    /// <param name="Binding">The binding's name in guest-agent.tenants.</param>
    /// <param name="AgentName">guest-agent.name; null: the guest's host name.</param>
    /// <param name="Key">The signing key the controllers sign this guest's commands with.</param>
    /// <param name="AptSource">A one-line apt source serving the package ("deb [signed-by=$KEY_FILE] URL SUITE COMPONENT"); null: the image's sources have it.</param>
    /// <param name="AptKey">The ASCII-armoured key of that source, if any.</param>
    public sealed record Settings(string Endpoint, string Binding, string? AgentName, SigningKey Key, string? AptSource, string? AptKey);

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex BindingName();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex FileSafe();

    /// <summary>Why <paramref name="s"/> cannot make user-data, or null.</summary>
    public static string? Check(Settings s)
    {
        if (!BindingName().IsMatch(s.Binding))
        {
            return $"--binding: '{s.Binding}' must be 1-64 letters, digits, '_' or '-' (it is a HOCON key)";
        }
        if (!Uri.TryCreate(s.Endpoint, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
        {
            return $"--endpoint: '{s.Endpoint}' is not an http(s) URL; the guest needs Zaqar's URL as it reaches it";
        }
        if (u.IsLoopback)
        {
            return $"--endpoint: {s.Endpoint} is a loopback address, which inside the guest is the guest itself; give Zaqar's URL as the guest reaches it";
        }
        if (s.AptSource is { } src && (src.Contains('\n') || !src.TrimStart().StartsWith("deb ", StringComparison.Ordinal)))
        {
            return "--apt-source: one line starting with 'deb ', e.g. \"deb [signed-by=$KEY_FILE] https://repo.example/guest-agent bookworm main\"";
        }
        return null;
    }

    /// <summary>The user-data text (#cloud-config ...).</summary>
    public static string Render(Settings s, PreSignedUrl command, PreSignedUrl reply)
    {
        var keyFile = $"/etc/guest-agent/{(FileSafe().IsMatch(s.Key.Id) ? s.Key.Id : "signing")}.key";
        var conf = new StringBuilder();
        conf.AppendLine("guest-agent {");
        if (s.AgentName is { Length: > 0 } name)
        {
            conf.AppendLine($"  name = {Quote(name)}");
        }
        conf.AppendLine("  tenants {");
        conf.AppendLine($"    {s.Binding} {{");
        conf.AppendLine($"      endpoint = {Quote(s.Endpoint)}");
        conf.AppendLine($"      project = {Quote(command.Project)}");
        conf.AppendLine($"      command-queue = {Quote(command.Queue)}");
        conf.AppendLine($"      reply-queue = {Quote(reply.Queue)}");
        foreach (var line in CredentialsCommands.Hocon(command, reply).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            conf.AppendLine("      " + line);
        }
        conf.AppendLine($"      signing.keys = [{{ id = {Quote(s.Key.Id)}, secret-file = {Quote(keyFile)} }}]");
        conf.AppendLine("    }");
        conf.AppendLine("  }");
        conf.AppendLine("}");

        var y = new StringBuilder();
        y.AppendLine("#cloud-config");
        y.AppendLine($"# guestctl credentials mint --cloud-init: guest-agent for queues {command.Queue} / {reply.Queue}, " +
                     $"pre-signed URLs valid until {command.Expires} UTC (renew with guestctl credentials renew).");
        y.AppendLine("# Holds the guest's signing key and URLs: hand it only to this guest (docs/operations.md).");
        if (s.AptSource is { } source)
        {
            y.AppendLine("apt:");
            y.AppendLine("  sources:");
            y.AppendLine("    guest-agent:");
            y.AppendLine($"      source: {YamlQuote(source.Trim())}");
            if (s.AptKey is { } key)
            {
                y.AppendLine("      key: |");
                foreach (var line in key.Replace("\r", "").TrimEnd('\n').Split('\n'))
                {
                    y.AppendLine("        " + line);
                }
            }
        }
        y.AppendLine("package_update: true");
        y.AppendLine("packages:");
        y.AppendLine("  - guest-agent");
        y.AppendLine("# Written after the package is installed, over its reference configuration (upgrades keep it).");
        y.AppendLine("write_files:");
        y.AppendLine("  - path: /etc/guest-agent/guest-agent.conf");
        y.AppendLine("    owner: root:root");
        y.AppendLine("    permissions: \"0600\"");
        y.AppendLine("    defer: true");
        y.AppendLine("    content: |");
        foreach (var line in conf.ToString().TrimEnd('\n').Split('\n'))
        {
            y.AppendLine("      " + line);
        }
        y.AppendLine($"  - path: {keyFile}");
        y.AppendLine("    owner: root:root");
        y.AppendLine("    permissions: \"0600\"");
        y.AppendLine("    defer: true");
        y.AppendLine("    content: |");
        y.AppendLine("      " + Convert.ToBase64String(s.Key.Secret));
        y.AppendLine("runcmd:");
        y.AppendLine("  - [/usr/sbin/guest-agent, --check-config, --config, /etc/guest-agent/guest-agent.conf]");
        y.AppendLine("  - [systemctl, restart, guest-agent.service]");
        return y.ToString();
    }

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    private static string YamlQuote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
