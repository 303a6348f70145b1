using System.Diagnostics;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// Cold start: a fresh agent process (BENCH_AGENT_BIN) on an empty state directory, one binding on
/// queues of its own, with a call (`exec true`) posted before the process starts, as a controller
/// that talks to a guest while it boots does. Per run, from the process start: its first claim
/// answered (the agent's "ready" line, which it logs when Zaqar answers the claim: the claim went
/// out before it), its ledger recovered ("ledger recovered"), and the call's final reply read from
/// the reply queue (raw claims every 5 ms), and the CPU time (user + system) the agent spent until
/// that reply was read. One run first, unrecorded: it loads the agent's files
/// into the page cache. The agent is killed after each run.
/// </summary>
public static class ColdStart
{
    public static async Task RunAsync(ZaqarClient zaqar, string agentBin, string endpoint, string project, int runs)
    {
        var root = Directory.CreateTempSubdirectory("ga-cold-").FullName;
        var tag = Guid.NewGuid().ToString("N")[..6];
        var claim = new List<double>();
        var reply = new List<double>();
        var recovered = new List<double>();
        var cpu = new List<double>();
        try
        {
            for (var r = 0; r <= runs; r++)
            {
                var (c, rec, rep, used) = await OneAsync(zaqar, agentBin, endpoint, project, Path.Combine(root, $"run{r}"), $"ga-cold-{tag}-{r}");
                Console.Error.WriteLine($"cold start {(r == 0 ? "(page cache, not recorded)" : $"{r}/{runs}")}: first claim answered {c:F0} ms, " +
                                        $"ledger recovered {rec:F0} ms, first reply {rep:F0} ms, CPU {used:F0} ms");
                if (r == 0)
                {
                    continue;
                }
                claim.Add(c);
                recovered.Add(rec);
                reply.Add(rep);
                cpu.Add(used);
                Results.Emit("cold-start", "guest-agent", "start to first claim answered", "ms", c);
                Results.Emit("cold-start", "guest-agent", "start to ledger recovered", "ms", rec);
                Results.Emit("cold-start", "guest-agent", "start to first command's reply (exec true posted before start)", "ms", rep);
                Results.Emit("cold-start", "guest-agent", "CPU (user + system) from start to first command's reply", "ms", used);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
        Console.WriteLine($"cold start, {runs} runs (ms from process start): first claim answered {CallLatency.Stats(claim)}");
        Console.WriteLine($"{"",36}ledger recovered {CallLatency.Stats(recovered)}");
        Console.WriteLine($"{"",31}first command's reply {CallLatency.Stats(reply)}");
        Console.WriteLine($"{"",20}CPU until the first command's reply {CallLatency.Stats(cpu)}");
    }

    private static async Task<(double Claim, double Recovered, double Reply, double Cpu)> OneAsync(ZaqarClient zaqar, string agentBin, string endpoint,
        string project, string dir, string queue)
    {
        Directory.CreateDirectory(dir);
        var replyQueue = queue + "-r";
        var config = Path.Combine(dir, "agent.conf");
        await File.WriteAllTextAsync(config, $$"""
            guest-agent {
              state-dir = "{{Path.Combine(dir, "state")}}"
              log.file = false
              log.level = Information
              # The bench does not sign (a throw-away loopback bed): unsigned commands are allowed explicitly.
              tenants.b0 { endpoint = "{{endpoint}}", project = "{{project}}", command-queue = "{{queue}}", reply-queue = "{{replyQueue}}", signing.allow-unsigned = true }
            }
            """);
        var now = DateTimeOffset.UtcNow;
        var call = Command.Call(new ExecArgs { Argv = ["true"] }, replyQueue, now, now.AddMinutes(10));
        await zaqar.PostAsync(queue, [new OutgoingMessage(JsonNode.Parse(call.ToJson())!)]);

        double claim = double.NaN, recovered = double.NaN;
        var psi = new ProcessStartInfo(agentBin, ["--config", config])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The environment the package's unit gives the agent (BENCH_AGENT_ENV: NAME=value words), to it alone.
        foreach (var pair in (Environment.GetEnvironmentVariable("BENCH_AGENT_ENV") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            if (eq > 0)
            {
                psi.Environment[pair[..eq]] = pair[(eq + 1)..];
            }
        }
        var sw = Stopwatch.StartNew();
        using var agent = Process.Start(psi)!;
        void OnLine(string? line)
        {
            // Lines arrive as the agent writes them: their arrival time is the mark.
            var at = sw.Elapsed.TotalMilliseconds;
            if (line is null)
            {
                return;
            }
            if (line.Contains("ready: claiming", StringComparison.Ordinal) && double.IsNaN(Volatile.Read(ref claim)))
            {
                Volatile.Write(ref claim, at);
            }
            else if (line.Contains("ledger recovered", StringComparison.Ordinal) && double.IsNaN(Volatile.Read(ref recovered)))
            {
                Volatile.Write(ref recovered, at);
            }
        }
        agent.OutputDataReceived += (_, e) => OnLine(e.Data);
        agent.ErrorDataReceived += (_, e) => OnLine(e.Data);
        agent.BeginOutputReadLine();
        agent.BeginErrorReadLine();
        try
        {
            var replied = double.NaN;
            while (double.IsNaN(replied))
            {
                if (sw.Elapsed > TimeSpan.FromSeconds(60) || agent.HasExited)
                {
                    throw new InvalidOperationException($"cold start: no final reply after {sw.Elapsed.TotalSeconds:F0} s (agent exited: {agent.HasExited})");
                }
                var c = await zaqar.ClaimAsync(replyQueue, 10, 60, 60);
                foreach (var m in c.Messages)
                {
                    if (ReplyParser.TryParse(m.Body, out var r, out _) && r.Id == call.Id && r.Final)
                    {
                        replied = sw.Elapsed.TotalMilliseconds;
                    }
                    await zaqar.DeleteAsync(replyQueue, m.Id, c.Id);
                }
                if (c.IsEmpty)
                {
                    await Task.Delay(5);
                }
            }
            // The log lines come before the reply; give a late one a moment through the pipe.
            for (var i = 0; i < 100 && (double.IsNaN(Volatile.Read(ref claim)) || double.IsNaN(Volatile.Read(ref recovered))); i++)
            {
                await Task.Delay(20);
            }
            // CPU read while the process lives (after exit /proc has no figures for it).
            var used = agent.TotalProcessorTime.TotalMilliseconds;
            return (Volatile.Read(ref claim), Volatile.Read(ref recovered), replied, used);
        }
        finally
        {
            agent.Kill(entireProcessTree: true);
            await agent.WaitForExitAsync();
        }
    }
}
