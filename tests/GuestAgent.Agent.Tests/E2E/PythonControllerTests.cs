using System.Diagnostics;
using System.Text.RegularExpressions;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// A controller we did not write: the Python example of docs/protocol.md, run as it stands
/// (only the endpoint, project and queue names are filled in) with Debian's python3-zaqarclient.
/// </summary>
public sealed class PythonControllerTests : IDisposable
{
    private readonly E2EContext _e2e = new();

    public void Dispose() => _e2e.Dispose();

    private static string DocumentedExample()
    {
        var doc = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "protocol.md"));
        var section = doc[doc.IndexOf("## Python example", StringComparison.Ordinal)..];
        return Regex.Match(section, "```python\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
    }

    [Fact]
    public async Task The_documented_python_zaqarclient_example_drives_the_agent()
    {
        var script = DocumentedExample()
            .Replace("'http://127.0.0.1:8888'", $"'{_e2e.Bed.Url}'")
            .Replace("'os_project_id': 'p'", $"'os_project_id': '{_e2e.Tenant.Project}'")
            .Replace("'cmd-vm1'", $"'{_e2e.Tenant.CommandQueue}'")
            .Replace("'replies-ctl1'", $"'{_e2e.Tenant.ReplyQueue}'")
            .Replace("KEY_ID = 'k1'", $"KEY_ID = '{_e2e.Tenant.Keys[0].Id}'")
            .Replace("'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='", $"'{Convert.ToBase64String(_e2e.Tenant.Keys[0].Secret)}'");
        Assert.Contains(_e2e.Bed.Url, script);
        Assert.Contains(_e2e.Tenant.Keys[0].Id, script);
        var path = Path.Combine(_e2e.Dir, "controller.py");
        await File.WriteAllTextAsync(path, script);

        var psi = new ProcessStartInfo("/usr/bin/python3", [path]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var python = Process.Start(psi)!;
        var stdout = python.StandardOutput.ReadToEndAsync();
        var stderr = python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(python.ExitCode == 0, $"python exited {python.ExitCode}: {await stderr}");
        Assert.Equal("succeeded exit 0 \nhi\n", await stdout);
    }
}
