using System.Text.Json;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// What a new operator sees when something is wrong: each message says what is wrong and which
/// option, variable or config key fixes it, with no .NET type or parameter names, no screen of
/// help, and never a secret.
/// </summary>
public sealed class GuestctlMessagesTests : IDisposable
{
    private readonly ZaqarBed _bed = ZaqarBed.Shared;
    private readonly string _project = ZaqarBed.NewProject("msg");
    private readonly string _queue = ZaqarBed.NewQueue("msg");
    private readonly string _home = Directory.CreateTempSubdirectory("ga-msg-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_home, true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>guestctl against the bed with this test's project and queue; <paramref name="env"/> added or overriding.</summary>
    private Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(Dictionary<string, string>? env, params string[] args)
    {
        var all = new Dictionary<string, string>
        {
            ["ZAQAR_URL"] = _bed.Url,
            ["ZAQAR_PROJECT"] = _project,
            ["GUESTAGENT_QUEUE"] = _queue,
            ["HOME"] = _home,
        };
        foreach (var (k, v) in env ?? [])
        {
            all[k] = v;
        }
        if (all["ZAQAR_URL"].Length == 0)
        {
            all.Remove("ZAQAR_URL");
        }
        return Guestctl.RunAsync(args, all);
    }

    private static void AssertNoInternals(string output)
    {
        Assert.DoesNotContain("System.", output);
        Assert.DoesNotContain("(Parameter '", output);
        Assert.DoesNotContain("inner exception", output);
        Assert.DoesNotContain("   at ", output);
        Assert.DoesNotContain("Usage:", output);
    }

    [Theory]
    [InlineData(32)] // base64 with '=' padding: the first '=' is not a kid separator
    [InlineData(33)] // no padding, no '=' at all
    public async Task A_signing_key_without_kid_is_refused_without_showing_the_secret(int bytes)
    {
        var secret = Convert.ToBase64String(Enumerable.Range(7, bytes).Select(i => (byte)i).ToArray());

        var run = await RunAsync(new() { ["GUESTAGENT_SIGNING_KEYS"] = secret }, "ping", "--wait", "5");

        Assert.Equal(125, run.ExitCode);
        Assert.Contains("GUESTAGENT_SIGNING_KEYS: the value has no key id", run.Stderr);
        Assert.Contains("kid=base64secret", run.Stderr);
        Assert.DoesNotContain(secret[..8], run.Stderr + run.Stdout);
        AssertNoInternals(run.Stderr);
    }

    [Fact]
    public async Task A_too_short_secret_names_its_kid_and_size_but_not_the_secret()
    {
        var run = await RunAsync(new() { ["GUESTAGENT_SIGNING_KEYS"] = "demo=c2hvcnRzZWNyZXQ=" }, "ping", "--wait", "5");

        Assert.Equal(125, run.ExitCode);
        Assert.Contains("the secret of key 'demo' is 11 bytes; at least 32 are needed", run.Stderr);
        Assert.DoesNotContain("c2hvcnRzZWNyZXQ", run.Stderr);
        AssertNoInternals(run.Stderr);
    }

    [Fact]
    public async Task Exec_with_a_program_not_after_double_dash_runs_nothing_and_says_how()
    {
        var run = await RunAsync(null, "exec", "df", "-h", "/");

        Assert.Equal(125, run.ExitCode);
        Assert.Equal("", run.Stdout);
        Assert.Contains("exec: the program to run and its arguments must follow --, as in: guestctl exec -- df -h /", run.Stderr);
        Assert.Contains("nothing was sent", run.Stderr);
        Assert.Equal(0, (await _bed.Client(_project).GetQueueStatsAsync(_queue)).Total);
    }

    [Fact]
    public async Task A_command_id_that_is_not_one_is_said_in_words()
    {
        var run = await RunAsync(null, "status", "1234");

        Assert.Equal(125, run.ExitCode);
        Assert.Contains("'1234' is not a command id: give the id guestctl cast printed", run.Stderr);
        AssertNoInternals(run.Stderr);
    }

    [Fact]
    public async Task A_bad_mode_names_the_option_and_the_form()
    {
        var file = Path.Combine(_home, "app.conf");
        await File.WriteAllTextAsync(file, "x");

        var run = await RunAsync(null, "cp", file, "guest:/srv/app/", "--mode", "999");

        Assert.Equal(125, run.ExitCode);
        Assert.Contains("cp: --mode wants the guest file's permission bits as 3 or 4 octal digits (0-7), such as 0644 or 0640; got '999'", run.Stderr);
        AssertNoInternals(run.Stderr);
    }

    [Fact]
    public async Task Zaqar_url_mistakes_each_get_a_sentence_naming_ZAQAR_URL()
    {
        var port = new Uri(_bed.Url).Port;

        var https = await RunAsync(new() { ["ZAQAR_URL"] = $"https://127.0.0.1:{port}" }, "ping", "--wait", "5");
        var noScheme = await RunAsync(new() { ["ZAQAR_URL"] = $"127.0.0.1:{port}" }, "ping", "--wait", "5");
        var redis = await RunAsync(new() { ["ZAQAR_URL"] = $"http://127.0.0.1:{_bed.RedisPort}" }, "queue", "stats", _queue);
        var option = await RunAsync(null, "queue", "stats", _queue, "--endpoint", $"127.0.0.1:{port}");

        Assert.Equal(125, https.ExitCode);
        Assert.Contains($"cannot reach Zaqar at https://127.0.0.1:{port}: the TLS handshake failed", https.Stderr);
        Assert.Contains("needs an http:// URL; check ZAQAR_URL", https.Stderr);
        Assert.Equal(125, noScheme.ExitCode);
        Assert.Contains($"ZAQAR_URL must be Zaqar's URL, scheme included, like http://127.0.0.1:8888; got '127.0.0.1:{port}' (no http:// in front", noScheme.Stderr);
        Assert.Equal(125, redis.ExitCode);
        Assert.Contains($"something answers at http://127.0.0.1:{_bed.RedisPort}, but not as an HTTP server", redis.Stderr);
        Assert.Contains("is that Zaqar's port?", redis.Stderr);
        Assert.Contains("Check ZAQAR_URL", redis.Stderr);
        Assert.Contains("--endpoint must be Zaqar's URL", option.Stderr);
        foreach (var run in new[] { https, noScheme, redis, option })
        {
            AssertNoInternals(run.Stderr);
            Assert.DoesNotContain("An error occurred while sending the request", run.Stderr);
        }
    }

    [Fact]
    public async Task Without_ZAQAR_URL_a_failed_connection_says_the_default_was_tried()
    {
        var run = await RunAsync(new() { ["ZAQAR_URL"] = "" }, "ping", "--wait", "5");

        Assert.Equal(125, run.ExitCode);
        Assert.Contains("ZAQAR_URL is not set and --endpoint was not given, so guestctl tried its default, http://127.0.0.1:8888", run.Stderr);
    }

    [Fact]
    public async Task A_mistyped_verb_gets_the_suggestion_and_no_screen_of_help()
    {
        var run = await RunAsync(null, "exce");

        Assert.Equal(125, run.ExitCode);
        Assert.Equal("", run.Stdout);
        Assert.Equal("guestctl: unknown verb 'exce' (did you mean 'exec'?)\nguestctl: guestctl --help shows the verbs\n", run.Stderr);
    }

    [Theory]
    [InlineData("status")]
    [InlineData("cancel")]
    [InlineData("ping")]
    [InlineData("exec")]
    [InlineData("cast")]
    [InlineData("http")]
    [InlineData("cp")]
    [InlineData("queue")]
    [InlineData("queue", "stats")]
    [InlineData("queue", "claim")]
    [InlineData("credentials", "renew")]
    public async Task Every_verb_help_lists_its_exit_status_in_wrapped_lines_and_help_VERB_is_the_same_page(params string[] verb)
    {
        var help = await RunAsync(null, [.. verb, "--help"]);
        var page = await RunAsync(null, ["help", .. verb]);

        Assert.True(help.ExitCode == 0, help.Stderr);
        Assert.Contains("\nExit status:\n  ", help.Stdout);
        Assert.All(help.Stdout.Split('\n'), line => Assert.True(line.Length <= 80, $"{line.Length} chars: {line}"));
        Assert.Equal(help.Stdout, page.Stdout);
    }

    [Fact]
    public async Task Help_never_shows_the_token_from_the_environment()
    {
        var run = await RunAsync(new() { ["OS_AUTH_TOKEN"] = "gAAAAAsecret-token-value" }, "queue", "stats", "--help");

        Assert.Contains("--token", run.Stdout);
        Assert.DoesNotContain("secret-token-value", run.Stdout);
    }

    [Fact]
    public async Task Bash_completion_and_the_man_page_are_made_from_the_same_verbs()
    {
        var bash = await RunAsync(null, "completion", "bash");
        var man = await RunAsync(null, "help", "--man");
        var script = Path.Combine(_home, "guestctl.bash");
        await File.WriteAllTextAsync(script, bash.Stdout);
        // What bash offers after "guestctl queue st" and "guestctl exec --ti".
        var offered = await Shell($"source {script}; for line in 'guestctl queue st' 'guestctl exec --ti'; do " +
                                  "COMP_WORDS=($line); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _guestctl; echo \"${COMPREPLY[*]}\"; done");

        Assert.Equal(0, bash.ExitCode);
        Assert.Equal("stats\n--timeout\n", offered);
        Assert.Equal(0, man.ExitCode);
        Assert.StartsWith(".TH GUESTCTL 1", man.Stdout);
        Assert.Contains(".SS guestctl queue stats", man.Stdout);
        Assert.Contains("GUESTAGENT_SIGNING_KEYS", man.Stdout);
    }

    [Fact]
    public async Task Queue_verbs_print_json_with_json()
    {
        await _bed.Client(_project).CreateQueueAsync(_queue);

        var post = await RunAsync(null, "queue", "post", _queue, """{"a":1}""", "--json");
        var stats = await RunAsync(null, "queue", "stats", _queue, "--json");
        var ping = await RunAsync(null, "queue", "ping", "--json");

        Assert.True(post.ExitCode == 0, post.Stderr);
        Assert.False(string.IsNullOrEmpty(JsonDocument.Parse(post.Stdout).RootElement.GetProperty("id").GetString()));
        Assert.Equal(1, JsonDocument.Parse(stats.Stdout).RootElement.GetProperty("total").GetInt32());
        Assert.True(JsonDocument.Parse(ping.Stdout).RootElement.GetProperty("up").GetBoolean());
    }

    [Fact]
    public async Task Against_a_signing_agent_without_roots_no_key_and_forbidden_paths_name_what_fixes_them_and_the_log_says_why()
    {
        using var e2e = new E2EContext();
        var file = Path.Combine(e2e.Dir, "app.conf");
        await File.WriteAllTextAsync(file, "x");
        var unsigned = await Guestctl.RunAsync(["ping", "--wait", "30"], new Dictionary<string, string>
        {
            ["ZAQAR_URL"] = e2e.Bed.Url,
            ["ZAQAR_PROJECT"] = e2e.Tenant.Project,
            ["GUESTAGENT_QUEUE"] = e2e.Tenant.CommandQueue,
            ["HOME"] = e2e.Dir,
        });

        var put = await e2e.GuestctlAsync("cp", file, "guest:/srv/app/");
        var failed = await e2e.GuestctlAsync("exec", "--json", "--", "sh", "-c", "echo out; exit 3");
        var cast = await e2e.GuestctlAsync("cast", "--json", "--ack", "--", "true");

        Assert.Equal(125, unsigned.ExitCode);
        Assert.Contains("rejected by agent", unsigned.Stderr);
        Assert.Contains("GUESTAGENT_SIGNING_KEYS is not set, so the command went unsigned: set it to kid=base64secret", unsigned.Stderr);
        Assert.Equal(1, put.ExitCode);
        Assert.Contains("forbidden_path", put.Stderr);
        Assert.Contains("this tenant binding has no file-roots", put.Stderr);
        Assert.Contains("file-roots = [\"/srv/app\"]", put.Stderr);
        Assert.Equal(3, failed.ExitCode);
        var result = JsonDocument.Parse(failed.Stdout).RootElement;
        Assert.Equal(3, result.GetProperty("exit_code").GetInt32());
        Assert.Equal("out\n", result.GetProperty("stdout").GetString());
        Assert.Equal("failed", result.GetProperty("status").GetString());
        Assert.True(cast.ExitCode == 0, cast.Stderr);
        Assert.True(Guid.TryParse(JsonDocument.Parse(cast.Stdout).RootElement.GetProperty("command_id").GetString(), out _), cast.Stdout);
        Assert.Contains("rejected unauthenticated message", e2e.Agent.Log);
        Assert.Contains("(unsigned): The command is not signed", e2e.Agent.Log);
        await e2e.Agent.WaitForLogAsync($"ready: claiming commands from {e2e.Tenant.CommandQueue}", E2EContext.Wait);
        await e2e.Agent.WaitForLogAsync("ended: failed (forbidden_path: /srv/app/app.conf: no file access is allowed", E2EContext.Wait);
        await e2e.Agent.WaitForLogAsync("ended: failed (nonzero_exit: exited with code 3)", E2EContext.Wait);
    }

    [Fact]
    public async Task Cp_into_a_missing_directory_fails_on_the_first_chunk_sent()
    {
        using var e2e = new E2EContext(fileRoot: true);
        var file = Path.Combine(e2e.Dir, "big.bin");
        await File.WriteAllBytesAsync(file, new byte[8 << 20]);

        var resumable = await e2e.GuestctlAsync("cp", file, $"guest:{e2e.FileRoot}/nodir/", "-q");
        var fresh = await e2e.GuestctlAsync("cp", file, $"guest:{e2e.FileRoot}/nodir/", "-q", "--restart");

        foreach (var run in new[] { resumable, fresh })
        {
            Assert.Equal(1, run.ExitCode);
            Assert.Contains("not_found", run.Stderr);
            Assert.Contains("the directory does not exist (file.put creates no directories)", run.Stderr);
        }
        // One chunk each, out of dozens: the rest were never sent.
        Assert.Equal(2, e2e.Agent.Log.Split('\n').Count(l => l.Contains("accepted file.put", StringComparison.Ordinal)));
    }

    private static async Task<string> Shell(string script)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("bash", ["-c", script]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return output;
    }
}
