using GuestAgent.Cli.Commands;
using GuestAgent.Protocol.Signing;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// `guest-agent --check-config`, which the package's postinst and the cloud-init user-data run
/// before starting the agent, and the user-data `guestctl credentials mint --cloud-init` prints.
/// </summary>
public sealed class CheckConfigTests
{
    [Fact]
    public void Check_config_says_what_is_wrong_with_exit_78_and_creates_nothing()
    {
        var dir = Directory.CreateTempSubdirectory("ga-check-").FullName;
        try
        {
            var state = Path.Combine(dir, "state");
            var conf = Path.Combine(dir, "agent.conf");
            File.WriteAllText(conf, $$"""
                guest-agent {
                  state-dir = "{{state}}"
                  tenants.t1 { endpoint = "http://192.0.2.10:8888", project = "p", command-queue = "c", reply-queue = "r",
                               signing.keys = [{ id = "k1", secret-file = "{{dir}}/missing.key" }] }
                }
                """);
            var missingKey = Agent("--check-config", "--config", conf);
            Assert.Equal(78, missingKey.ExitCode);
            Assert.Contains("configuration error", missingKey.Stderr);
            Assert.Contains("missing.key", missingKey.Stderr);

            File.WriteAllText(Path.Combine(dir, "missing.key"), Convert.ToBase64String(TestKeys.K1.Secret));
            var fine = Agent("--check-config", "--config", conf);
            Assert.True(fine.ExitCode == 0, fine.Stderr);
            Assert.Contains("is valid: 1 tenant binding(s)", fine.Stdout);
            Assert.False(Directory.Exists(state), "--check-config created the state directory");

            var reference = Agent("--check-config");
            Assert.Equal(78, reference.ExitCode);
            Assert.Contains("no tenant binding configured", reference.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Cloud_init_settings_refuse_what_cannot_work_in_a_guest()
    {
        var key = TestKeys.K1;
        CloudInitUserData.Settings Good() => new("https://zaqar.example.com:8888", "shop", "vm1", key, null, null);
        Assert.Null(CloudInitUserData.Check(Good()));
        Assert.Contains("loopback", CloudInitUserData.Check(Good() with { Endpoint = "http://127.0.0.1:8888" }));
        Assert.Contains("--endpoint", CloudInitUserData.Check(Good() with { Endpoint = "zaqar:8888" }));
        Assert.Contains("--binding", CloudInitUserData.Check(Good() with { Binding = "a b" }));
        Assert.Contains("--apt-source", CloudInitUserData.Check(Good() with { AptSource = "https://repo.example/x" }));
    }

    [Fact]
    public void Cloud_init_user_data_holds_the_binding_the_urls_and_the_key_in_a_file_of_its_own()
    {
        var expires = DateTimeOffset.UtcNow.AddDays(2);
        var command = PreSignedUrl.Mint("s3cret", "guest-vm1", "p1", expires, ["messages", "claims"], ["GET", "POST", "DELETE"]);
        var reply = PreSignedUrl.Mint("s3cret", "replies-vm1", "p1", expires, ["messages"], ["POST"]);
        var text = CloudInitUserData.Render(new("https://zaqar.example.com:8888", "shop", "vm1", TestKeys.K1, null, null), command, reply);

        Assert.StartsWith("#cloud-config\n", text);
        Assert.DoesNotContain("apt:", text);
        Assert.Contains("      guest-agent {\n        name = \"vm1\"\n        tenants {\n          shop {\n", text);
        Assert.Contains("            endpoint = \"https://zaqar.example.com:8888\"\n            project = \"p1\"\n", text);
        Assert.Contains($"            signature = \"{command.Signature}\"", text);
        Assert.Contains($"            signature = \"{reply.Signature}\"", text);
        Assert.Contains($"secret-file = \"/etc/guest-agent/{TestKeys.K1.Id}.key\"", text);
        Assert.Contains($"  - path: /etc/guest-agent/{TestKeys.K1.Id}.key\n", text);
        Assert.Contains("      " + Convert.ToBase64String(TestKeys.K1.Secret) + "\n", text);
        // The secret only in the key file: the configuration names the file.
        Assert.Equal(1, text.Split(Convert.ToBase64String(TestKeys.K1.Secret)).Length - 1);
    }

    private static (int ExitCode, string Stdout, string Stderr) Agent(params string[] args) => AgentProcess.RunOnce(args);
}
