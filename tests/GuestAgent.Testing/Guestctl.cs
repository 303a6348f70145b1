using System.Diagnostics;
using GuestAgent.Zaqar;

namespace GuestAgent.Testing;

/// <summary>The built guestctl (same configuration as the tests), run as a user would run it.</summary>
public static class Guestctl
{
    /// <summary>Variables a test's own environment might set that would change what guestctl does.</summary>
    private static readonly string[] Inherited =
        ["OS_AUTH_TOKEN", "ZAQAR_SIGNED_URL_SECRET", "GUESTAGENT_SIGNING_KEYS", "ZAQAR_PROJECT", "ZAQAR_URL", "ZAQAR_WS_URL", "GUESTAGENT_QUEUE",
         "GUESTAGENT_TRANSPORT", "GUESTAGENT_AMQP_URL", "GUESTAGENT_AMQP_USER", "GUESTAGENT_AMQP_PASSWORD", "GUESTAGENT_AMQP_VHOST", "GUESTAGENT_AMQP_PREFIX"];

    public static string Dll
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains("/Release/") ? "Release" : "Debug";
            return Path.Combine(RepoPaths.Root, "src", "GuestAgent.Cli", "bin", configuration, "net10.0", "guestctl.dll");
        }
    }

    /// <summary>
    /// Runs guestctl with <paramref name="args"/>, none of the inherited variables above, and
    /// <paramref name="env"/> (HOME included: guestctl keeps its reply queue name there).
    /// </summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyList<string> args,
        IReadOnlyDictionary<string, string> env)
    {
        var psi = new ProcessStartInfo("dotnet", [Dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var name in Inherited)
        {
            psi.Environment.Remove(name);
        }
        foreach (var (name, value) in env)
        {
            psi.Environment[name] = value;
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// A binding's <c>auth { mode = presigned ... }</c> block for these two URLs, as
    /// <c>guestctl credentials mint</c> prints it (for tests that mint in-process).
    /// </summary>
    public static string PreSignedAuthBlock(PreSignedUrl command, PreSignedUrl reply)
    {
        static string Block(string name, PreSignedUrl u) =>
            $"{name} {{ paths = [{string.Join(", ", u.Paths.Select(p => $"\"{p}\""))}], methods = [{string.Join(", ", u.Methods)}], " +
            $"expires = \"{u.Expires}\", signature = \"{u.Signature}\" }}";
        return $"auth {{ mode = presigned\n{Block("command-queue-signature", command)}\n{Block("reply-queue-signature", reply)} }}";
    }
}
