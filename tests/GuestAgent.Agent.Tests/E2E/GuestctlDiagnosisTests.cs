using System.Diagnostics;
using GuestAgent.Protocol;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// guestctl telling the operator what went wrong instead of crashing or waiting: messages on a
/// queue that are not JSON a strict reader takes, garbage on its reply queue, a signing key the
/// agent does not have; and guestctl cast's --on-interrupt reaching the wire.
/// </summary>
public sealed class GuestctlDiagnosisTests : IDisposable
{
    private readonly ZaqarBed _bed = ZaqarBed.Shared;
    private readonly string _project = ZaqarBed.NewProject("gctl");
    private readonly string _home = Directory.CreateTempSubdirectory("ga-gctl-").FullName;

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

    /// <summary>guestctl against the bed as this test's project, no agent and no signing keys.</summary>
    private Task<(int ExitCode, string Stdout, string Stderr)> GuestctlAsync(string? queue, params string[] args) =>
        Guestctl.RunAsync(args, new Dictionary<string, string>
        {
            ["ZAQAR_URL"] = _bed.Url,
            ["ZAQAR_PROJECT"] = _project,
            ["GUESTAGENT_QUEUE"] = queue ?? "",
            ["HOME"] = _home,
        });

    /// <summary>guestctl against a real agent's queue, signing with <paramref name="keys"/> instead of the binding's.</summary>
    private static Task<(int ExitCode, string Stdout, string Stderr)> GuestctlWithKeysAsync(E2EContext e2e, string keys, params string[] args) =>
        Guestctl.RunAsync(args, new Dictionary<string, string>
        {
            ["ZAQAR_URL"] = e2e.Bed.Url,
            ["ZAQAR_PROJECT"] = e2e.Tenant.Project,
            ["GUESTAGENT_QUEUE"] = e2e.Tenant.CommandQueue,
            ["HOME"] = e2e.Dir,
            ["GUESTAGENT_SIGNING_KEYS"] = keys,
        });

    [Fact]
    public async Task Queue_stats_and_claim_work_with_unreadable_bodies_oldest_and_newest_and_name_each_one()
    {
        var zaqar = _bed.Client(_project);
        var queue = ZaqarBed.NewQueue("hostile");
        await zaqar.CreateQueueAsync(queue);
        // One post each, so that a NaN body is the oldest message and an Infinity one the newest.
        var nan = (await _bed.PostRawBodiesAsync(_project, queue, """{"x":NaN}"""))[0];
        var deep = (await _bed.PostRawBodiesAsync(_project, queue, ZaqarBed.Nested(100)))[0];
        var good = (await _bed.PostRawBodiesAsync(_project, queue, """{"hello":"world"}"""))[0];
        var infinity = (await _bed.PostRawBodiesAsync(_project, queue, """[1,-Infinity]"""))[0];

        var stats = await GuestctlAsync(null, "queue", "stats", queue);
        var claim = await GuestctlAsync(null, "queue", "claim", queue, "--limit", "10");
        var after = await GuestctlAsync(null, "queue", "stats", queue);

        Assert.True(stats.ExitCode == 0, stats.Stderr);
        Assert.Contains("total 4", stats.Stdout);
        Assert.True(claim.ExitCode == 0, claim.Stderr);
        var lines = claim.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToDictionary(l => l.Split(' ')[0], l => l);
        Assert.Equal(new[] { nan, deep, good, infinity }.Order(), lines.Keys.Order());
        // The unreadable ones are printed as Zaqar holds them, and each is named on stderr with why.
        Assert.Contains("NaN", lines[nan]);
        Assert.Contains("Infinity", lines[infinity]);
        Assert.Contains("\"hello\"", lines[good]);
        Assert.Contains($"message {nan}: ", claim.Stderr);
        Assert.Contains($"message {infinity}: ", claim.Stderr);
        Assert.Contains("not JSON", claim.Stderr);
        // Deep but JSON: read, not an error.
        Assert.DoesNotContain($"message {deep}: ", claim.Stderr);
        Assert.DoesNotContain($"message {good}: ", claim.Stderr);
        Assert.Contains("4 message(s)", claim.Stderr);
        Assert.DoesNotContain("Unhandled", claim.Stderr);
        Assert.True(after.ExitCode == 0, after.Stderr);
        Assert.Contains("total 0", after.Stdout);
    }

    [Fact]
    public async Task Queue_post_of_a_body_that_is_not_json_is_a_one_line_error_not_a_crash()
    {
        var run = await GuestctlAsync(null, "queue", "post", ZaqarBed.NewQueue("post"), """{"x":NaN}""");

        Assert.Equal(125, run.ExitCode);
        Assert.StartsWith("guestctl: ", run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr);
    }

    [Fact]
    public async Task Guestctl_exec_warns_about_each_hostile_reply_message_and_still_gives_the_output()
    {
        using var e2e = new E2EContext();
        var replyQueue = ZaqarBed.NewQueue("gctl-rep");
        await e2e.Bed.Client(e2e.Tenant.Project).CreateQueueAsync(replyQueue);
        var hostile = await e2e.Bed.PostRawBodiesAsync(e2e.Tenant.Project, replyQueue,
            """{"x":NaN}""", ZaqarBed.Nested(100), "\"a string\"", "[1,2,3]");

        var run = await e2e.GuestctlAsync("exec", "--reply-queue", replyQueue, "--shell", "echo ok");

        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal("ok\n", run.Stdout);
        foreach (var id in hostile)
        {
            Assert.Contains($"guestctl: warning: reply queue '{replyQueue}': message {id}: ", run.Stderr);
        }
        Assert.Contains("not JSON", run.Stderr);
        Assert.Equal(0, (await e2e.Bed.Client(e2e.Tenant.Project).GetQueueStatsAsync(replyQueue)).Total);
    }

    [Theory]
    [InlineData("wrong-secret", RejectCodes.BadSignature)]
    [InlineData("unknown-key", RejectCodes.UnknownKey)]
    public async Task Guestctl_with_a_key_the_agent_does_not_hold_says_so_at_once_and_nothing_runs(string which, string code)
    {
        using var e2e = new E2EContext();
        var key = which == "wrong-secret" ? TestKeys.WrongSecret : TestKeys.K2;
        var mark = Path.Combine(e2e.Dir, "ran");
        var watch = Stopwatch.StartNew();

        var run = await GuestctlWithKeysAsync(e2e, $"{key.Id}={Convert.ToBase64String(key.Secret)}",
            "exec", "--wait", "120", "--shell", $"touch {mark}");

        // Before, this waited out --wait and then asked whether any agent was there at all.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(40), $"took {watch.Elapsed}: {run.Stderr}");
        Assert.Equal(125, run.ExitCode);
        Assert.Contains($"UNSIGNED rejection claiming \"{code}: ", run.Stderr);
        Assert.Contains($"key id '{key.Id}'", run.Stderr);
        Assert.Contains("GUESTAGENT_SIGNING_KEYS", run.Stderr);
        Assert.DoesNotContain("Is an agent consuming", run.Stderr);
        Assert.False(File.Exists(mark));
    }

    [Fact]
    public async Task Guestctl_cast_puts_the_chosen_on_interrupt_on_the_wire_and_refuses_other_values()
    {
        var zaqar = _bed.Client(_project);
        var queue = ZaqarBed.NewQueue("cast");
        await zaqar.CreateQueueAsync(queue);

        var fail = await GuestctlAsync(queue, "cast", "--on-interrupt", "fail", "--shell", "true");
        var byDefault = await GuestctlAsync(queue, "cast", "--shell", "true");
        var bad = await GuestctlAsync(queue, "cast", "--on-interrupt", "sometimes", "--shell", "true");

        Assert.True(fail.ExitCode == 0, fail.Stderr);
        Assert.True(byDefault.ExitCode == 0, byDefault.Stderr);
        var commands = await TakeCommandsAsync(zaqar, queue, 2);
        Assert.Equal(InterruptPolicy.Fail, commands[Guid.Parse(fail.Stdout.Trim())].OnInterrupt);
        Assert.Equal(InterruptPolicy.Rerun, commands[Guid.Parse(byDefault.Stdout.Trim())].OnInterrupt);
        Assert.Equal(125, bad.ExitCode);
        Assert.Contains("--on-interrupt wants rerun or fail, got 'sometimes'", bad.Stderr);
        Assert.Equal(0, (await zaqar.GetQueueStatsAsync(queue)).Total);
    }

    /// <summary>Claims and deletes <paramref name="count"/> commands, parsed as an agent would, by id.</summary>
    private static async Task<Dictionary<Guid, Command>> TakeCommandsAsync(ZaqarClient zaqar, string queue, int count)
    {
        var commands = new Dictionary<Guid, Command>();
        var deadline = DateTime.UtcNow + E2EContext.Wait;
        while (commands.Count < count && DateTime.UtcNow < deadline)
        {
            var claim = await zaqar.ClaimAsync(queue, limit: 10);
            foreach (var m in claim.Messages)
            {
                await zaqar.DeleteAsync(queue, m.Id, claim.Id);
                var parsed = CommandParser.Parse(m.Body, DateTimeOffset.UtcNow);
                Assert.True(parsed.IsAccepted, $"guestctl posted a command an agent would reject: {parsed.Rejection}");
                commands[parsed.Command!.Id] = parsed.Command;
            }
        }
        Assert.Equal(count, commands.Count);
        return commands;
    }
}
