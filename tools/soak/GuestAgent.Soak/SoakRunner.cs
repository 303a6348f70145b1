using System.Diagnostics;
using System.Security.Cryptography;
using GuestAgent.Client;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Testing;
using GuestAgent.Zaqar;
using Microsoft.Data.Sqlite;

namespace GuestAgent.Soak;

/// <summary>
/// One soak: its own Zaqar bed and agent, a steady stream of mixed commands, faults on a seeded
/// schedule, then a drain, the ledger's word on every command, the markers counted, and the accounting.
/// </summary>
public static class SoakRunner
{
    public const int MaxAttempts = 3;

    /// <summary>The soak tenant's max-operations, which the runs' own marks must never exceed.</summary>
    public const int TenantMaxOperations = 12;

    public static async Task<SoakReport> RunAsync(SoakOptions o)
    {
        var log = o.Log ?? (_ => { });
        var work = Directory.CreateDirectory(o.WorkDir).FullName;
        var marks = Directory.CreateDirectory(Path.Combine(work, "marks")).FullName;
        var fileRoot = Directory.CreateDirectory(Path.Combine(work, "files")).FullName;
        var stateMount = Directory.CreateDirectory(Path.Combine(work, "state-fs")).FullName;
        var diskDir = o.Faults.Contains(FaultKind.DiskFull) && TryMountTmpfs(stateMount, o.StateTmpfsMiB, log) ? stateMount : null;
        var stateDir = Path.Combine(stateMount, "state");
        var total = Stopwatch.StartNew();
        var random = new Random(o.Seed);
        var faultRandom = new Random(o.Seed * 7919 + 1);

        SoakBed? bed = null;
        AgentUnderSoak? agent = null;
        GuestClient? client = null;
        try
        {
            bed = SoakBed.Start(Path.Combine(work, "bed"));
            log($"zaqar bed on {bed.Url} (redis with an fsynced append-only file), run dir {bed.Dir}");
            var key = new SigningKey("soak", RandomNumberGenerator.GetBytes(32));
            var tenant = new TestTenant("soak", "soak-" + o.Seed, "soak-cmd", "soak-default-replies", MaxOperations: TenantMaxOperations,
                FileRoots: [fileRoot], SigningKeys: [key]);
            var extra = $$"""
                state-dir = "{{stateDir}}"
                log.level = Information
                zaqar-connections = 1
                snapshot-every = {{o.SnapshotEvery}}
                max-attempts = {{MaxAttempts}}
                shutdown-grace = {{(int)o.ShutdownGrace.TotalSeconds}}s
                poll { claim-ttl-seconds = {{o.ClaimTtlSeconds}}, claim-grace-seconds = 60 }
                """;
            agent = new AgentUnderSoak(AgentProcess.Start(bed.Url, [tenant], "soak-agent", maxOperations: 16, extraConfig: extra), stateDir);
            await agent.StartAsync(alreadyStarted: true);
            log($"agent started (pid {agent.Process.Pid}), state in {stateDir}{(diskDir is null ? "" : $" on a {o.StateTmpfsMiB} MiB tmpfs")}");

            var zaqar = new ZaqarClient(new ZaqarClientOptions
            {
                Endpoint = bed.Url,
                ClientId = Guid.NewGuid(),
                Auth = new ZaqarAuth.None(tenant.Project),
                // The bed's zaqar-server is single-threaded: see ZaqarClientOptions.MaxConnections.
                MaxConnections = 1,
                RequestTimeout = TimeSpan.FromSeconds(20),
            });
            client = new GuestClient(zaqar, tenant.CommandQueue, "soak-replies", new GuestClientOptions
            {
                SigningKeys = [key],
                DefaultCallTimeout = TimeSpan.FromSeconds(90),
                MaxErrorBackoff = TimeSpan.FromSeconds(2),
                CommandTimeToLive = TimeSpan.FromMinutes(30),
            });
            await client.PingAsync(new CallOptions { Timeout = TimeSpan.FromSeconds(60) });

            var clock = Stopwatch.StartNew();
            var workload = new Workload(client, marks, fileRoot, clock, log);
            var injector = new FaultInjector(o, bed, agent, clock, faultRandom, diskDir);
            using var loadOver = new CancellationTokenSource();
            using var giveUp = new CancellationTokenSource();
            var faults = injector.RunAsync(loadOver.Token);
            var journalMax = 0L;

            // The load: one piece of work every 1/rate seconds, each followed to its end on its own task.
            var tracked = new List<Tracked>();
            var running = new List<Task>();
            var lastReport = 0.0;
            while (clock.Elapsed < o.Duration && (o.MaxCommands is not { } max || tracked.Count < max))
            {
                var t = Workload.Next(random);
                var seed = random.Next();
                tracked.Add(t);
                running.Add(workload.RunAsync(t, new Random(seed), giveUp.Token));
                var next = TimeSpan.FromSeconds(tracked.Count / o.Rate);
                if (next > clock.Elapsed)
                {
                    await Task.Delay(next - clock.Elapsed);
                }
                if (clock.Elapsed.TotalSeconds - lastReport >= 30)
                {
                    lastReport = clock.Elapsed.TotalSeconds;
                    journalMax = Math.Max(journalMax, JournalRows(agent.JournalPath, "journal"));
                    log($"[{lastReport,7:F1}s] sent {tracked.Count}, finished {running.Count(r => r.IsCompleted)}, faults {injector.Faults.Count}, journal rows {journalMax}");
                }
            }
            var loadSeconds = clock.Elapsed.TotalSeconds;
            loadOver.Cancel();
            log($"[{loadSeconds,7:F1}s] load over: {tracked.Count} sent; waiting for the fault in progress, then draining");
            await faults;

            // Drain: every controller-side task to its end, then the ledger's word on every command.
            var drainEnd = DateTime.UtcNow + o.DrainTimeout;
            giveUp.CancelAfter(o.DrainTimeout);
            try
            {
                await Task.WhenAll(running);
            }
            catch (OperationCanceledException)
            {
                // Reported per command.
            }
            log($"[{clock.Elapsed.TotalSeconds,7:F1}s] controller side settled; asking the ledger about every command");
            await SettleByStatusAsync(client, tracked.Where(t => t.Kind != WorkKind.FileTransfer).ToList(), drainEnd, log);
            journalMax = Math.Max(journalMax, JournalRows(agent.JournalPath, "journal"));

            // The agent's end: SIGTERM, as systemd would stop it, with nothing left running.
            var stopWatch = Stopwatch.StartNew();
            var graceful = agent.Process.Stop(TimeSpan.FromSeconds(30));
            var stopSeconds = stopWatch.Elapsed.TotalSeconds;

            foreach (var t in tracked)
            {
                var file = Path.Combine(marks, t.Id.ToString("N"));
                // "attempt start-ns" per run, and in .end "attempt end-ns" for each run that got to its end.
                static (int Attempt, long Ns)[] Lines(string path) => File.Exists(path)
                    ? File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => l.Split(' ')).Select(f =>
                        (int.TryParse(f[0], out var a) ? a : -1, f.Length > 1 && long.TryParse(f[1], out var ns) ? ns : 0L)).ToArray()
                    : [];
                var starts = Lines(file);
                var ends = Lines(file + ".end");
                t.Effects = starts.Select(r => r.Attempt).ToArray();
                t.Runs = starts.Select(r => new RunSpan(r.Attempt, r.Ns, ends.Where(e => e.Attempt == r.Attempt).Select(e => (long?)e.Ns).FirstOrDefault()))
                    .ToArray();
            }
            return Account(o, tracked, injector.Faults, agent, journalMax, loadSeconds, total.Elapsed.TotalSeconds, graceful, stopSeconds, injector.LateStops);
        }
        finally
        {
            if (client is not null)
            {
                await client.DisposeAsync();
            }
            if (agent is not null)
            {
                // The agent's own account of the run, for whoever reads the accounting's problems.
                await File.WriteAllTextAsync(Path.Combine(work, "agent.log"), agent.Process.Log);
                agent.Dispose();
            }
            bed?.Dispose();
            if (diskDir is not null)
            {
                Run("umount", stateMount);
            }
        }
    }

    /// <summary>Status of every command until each is final (or the drain is over): the ledger is the referee.</summary>
    private static async Task SettleByStatusAsync(GuestClient client, List<Tracked> all, DateTime deadline, Action<string> log)
    {
        // Completed is not enough: the final reply must be in Zaqar too (Replied).
        static bool Settled(Tracked t) => t.Ledger is { State: CommandState.Replied or CommandState.Rejected };
        var round = 0;
        while (true)
        {
            var open = all.Where(t => !Settled(t)).ToList();
            // The first round always runs to its end, however long: a command nobody asked about must not count as lost.
            if (open.Count == 0 || (round > 0 && DateTime.UtcNow > deadline))
            {
                return;
            }
            if (round++ > 0)
            {
                log($"{open.Count} command(s) not final yet (e.g. {open[0].Kind} {open[0].Id}: {open[0].Ledger?.State.ToString() ?? "no answer"}); asking again");
                await Task.Delay(TimeSpan.FromSeconds(3));
            }
            using var gate = new SemaphoreSlim(16);
            await Task.WhenAll(open.Select(async t =>
            {
                await gate.WaitAsync();
                try
                {
                    t.Ledger = await client.StatusAsync(t.Id, new CallOptions { Timeout = TimeSpan.FromSeconds(30) });
                }
                catch (Exception e) when (e is GuestClientException or ZaqarException)
                {
                    // Asked again in the next round.
                }
                finally
                {
                    gate.Release();
                }
            }));
        }
    }

    private static SoakReport Account(SoakOptions o, List<Tracked> all, IReadOnlyList<FaultRecord> faults, AgentUnderSoak agent,
        long journalMax, double loadSeconds, double totalSeconds, bool graceful, double stopSeconds, int lateStops)
    {
        var problems = new List<Problem>();
        // The faults a command overlapped (sent before one was over plus 5 s, done after it began), if any.
        string? DuringFault(Tracked t)
        {
            var kinds = faults.Where(f => t.SentS < f.EndS + 5 && (t.DoneS ?? double.MaxValue) > f.StartS).Select(f => f.Kind).Distinct().ToList();
            return kinds.Count == 0 ? null : string.Join(", ", kinds);
        }
        var commands = all.Where(t => t.Kind != WorkKind.FileTransfer).ToList();
        var transfers = all.Where(t => t.Kind == WorkKind.FileTransfer).ToList();
        int lost = 0, hung = 0, failDup = 0, unexplained = 0, reruns = 0, rerunsMatching = 0, unexpected = 0;
        foreach (var t in commands)
        {
            var state = t.Ledger?.State;
            if (state is null or CommandState.Unknown)
            {
                // Never sent at all (every post failed until the end) is not the agent's loss; anything posted is.
                if (t.Posted || t.PostRetries > 0)
                {
                    lost++;
                    problems.Add(new Problem("lost", t.Id, t.Kind, state is null ? "the agent never answered a status" : "unknown to the agent"));
                }
                continue;
            }
            if (state is CommandState.Accepted or CommandState.Started or CommandState.Completed)
            {
                hung++;
                problems.Add(new Problem("hung", t.Id, t.Kind, state == CommandState.Completed
                    ? "finished, but its final reply never got into Zaqar"
                    : $"still {state} at the end (attempt {t.Ledger!.Attempt})"));
            }
            var effects = t.Effects;
            var ledgerAttempts = t.Ledger!.Attempt;
            var why = new List<string>();
            if (effects.Distinct().Count() != effects.Length)
            {
                why.Add($"attempt run twice ({string.Join(",", effects)})");
            }
            if (effects.Length > ledgerAttempts)
            {
                why.Add($"{effects.Length} effects but the ledger counts {ledgerAttempts} attempt(s)");
            }
            if (effects.Any(a => a < 1 || a > ledgerAttempts))
            {
                why.Add($"attempt numbers {string.Join(",", effects)} outside 1..{ledgerAttempts}");
            }
            if (ledgerAttempts > MaxAttempts)
            {
                why.Add($"{ledgerAttempts} attempts, over the cap of {MaxAttempts}");
            }
            if (t.OnInterrupt == InterruptPolicy.Fail && effects.Length > 1)
            {
                failDup++;
                why.Add("on_interrupt=fail ran more than once");
            }
            if (why.Count > 0)
            {
                unexplained++;
                problems.Add(new Problem("duplicate", t.Id, t.Kind, string.Join("; ", why)));
            }
            else if (effects.Length > 1)
            {
                reruns++;
                if (effects.Length == ledgerAttempts)
                {
                    rerunsMatching++;
                }
            }
            if (t.WrongOutput is not null)
            {
                problems.Add(new Problem("wrong output", t.Id, t.Kind, t.WrongOutput));
            }
            var final = t.Ledger.FinalStatus;
            if (final is { } f && !Expected(t, f))
            {
                unexpected++;
                problems.Add(new Problem("unexpected outcome", t.Id, t.Kind, $"{f} (attempt {ledgerAttempts}, on_interrupt {t.OnInterrupt}){(t.FinalError is null ? "" : $": {t.FinalError}")}{(DuringFault(t) is { } fault ? $"; during {fault}" : "")}"));
            }
            if (!t.IsCast && t.ClientFinal is null && state == CommandState.Replied)
            {
                // The final reply is in Zaqar (the ledger records Replied only then), but the controller had
                // stopped waiting (its timeout, or between a failed post and its repetition): listed, not lost.
                problems.Add(new Problem("controller stopped waiting", t.Id, t.Kind, $"final {final} is posted; the controller: {t.ClientError ?? "post repeated"}"));
            }
        }
        var transfersLost = 0;
        foreach (var t in transfers.Where(t => !t.TransferVerified && t.WrongOutput is null))
        {
            transfersLost++;
            problems.Add(new Problem("transfer lost", t.Id, t.Kind, t.ClientError ?? "not completed"));
        }
        foreach (var t in transfers.Where(t => t.WrongOutput is not null))
        {
            problems.Add(new Problem("wrong output", t.Id, t.Kind, t.WrongOutput!));
        }

        bool InFault(Tracked t) => DuringFault(t) is not null;
        var quick = commands.Where(t => t.Kind == WorkKind.Quick && t.ClientFinal is not null && t.DoneS is not null).ToList();
        LatencyFigures Latency(IEnumerable<Tracked> ts)
        {
            var ms = ts.Select(t => (t.DoneS!.Value - t.SentS) * 1000).ToList();
            return new LatencyFigures(ms.Count, Stats.Percentile(ms, 50), Stats.Percentile(ms, 99), ms.Count == 0 ? null : ms.Max());
        }

        // Truth about interruptions and reruns, from the runs' own start and end marks.
        var falseInterrupted = commands.Where(t => t.Ledger?.FinalStatus == ReplyStatus.Interrupted
            && t.Runs.Any(r => r.Attempt == t.Ledger.Attempt && r.EndNs is not null)).ToList();
        foreach (var t in falseInterrupted)
        {
            problems.Add(new Problem("false interrupted", t.Id, t.Kind, $"attempt {t.Ledger!.Attempt} ran to its end, yet the command ended interrupted"));
        }
        var rerunsOfFinished = commands.Where(t => t.Runs.Any(r => r.EndNs is not null && t.Runs.Any(n => n.Attempt == r.Attempt + 1))).ToList();
        foreach (var t in rerunsOfFinished)
        {
            problems.Add(new Problem("rerun of a finished attempt", t.Id, t.Kind, $"attempts {string.Join(",", t.Effects)}; ended: {string.Join(",", t.Runs.Where(r => r.EndNs is not null).Select(r => r.Attempt))}"));
        }
        // Most runs of the tenant at once, from runs with both marks (a killed run has no end mark, so this is a lower bound).
        var spans = commands.SelectMany(t => t.Runs).Where(r => r.EndNs is not null && r.StartNs > 0).ToList();
        var mostAtOnce = spans.Count == 0 ? 0 : spans.Max(a => spans.Count(b => b.StartNs <= a.StartNs && a.StartNs < b.EndNs));
        if (mostAtOnce > TenantMaxOperations)
        {
            problems.Add(new Problem("slot cap exceeded", Guid.Empty, WorkKind.Quick, $"{mostAtOnce} runs at once with max-operations = {TenantMaxOperations}"));
        }

        var recoveries = agent.RecoveryMs;
        var calls = commands.Where(t => !t.IsCast).ToList();
        return new SoakReport
        {
            Seed = o.Seed,
            LoadSeconds = loadSeconds,
            TotalSeconds = totalSeconds,
            Rate = o.Rate,
            CommandsSent = all.Count,
            Calls = calls.Count,
            Casts = commands.Count(t => t.IsCast),
            FileTransfers = transfers.Count,
            SentByKind = all.GroupBy(t => t.Kind).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(), g => g.Count()),
            PostRetries = all.Sum(t => t.PostRetries),
            CallFinalRepliesReceived = calls.Count(t => t.ClientFinal is not null),
            CallsResolvedByStatus = calls.Count(t => t.ClientFinal is null && t.Ledger?.FinalStatus is not null),
            FinalStatuses = commands.GroupBy(t => t.Ledger?.FinalStatus?.ToString() ?? t.Ledger?.State.ToString() ?? "no answer")
                .OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            CommandsByEffectCount = commands.GroupBy(t => t.Effects.Length).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(), g => g.Count()),
            Reruns = reruns,
            RerunsMatchingLedger = rerunsMatching,
            ReattachedRuns = agent.Count("reattached to attempt"),
            InterruptedOutcomes = commands.Count(t => t.Ledger?.FinalStatus == ReplyStatus.Interrupted),
            FalseInterrupted = falseInterrupted.Count,
            RerunsOfFinishedAttempts = rerunsOfFinished.Count,
            MostRunsAtOnce = mostAtOnce,
            TenantMaxOperations = TenantMaxOperations,
            FailPolicyDuplicates = failDup,
            UnexplainedDuplicates = unexplained,
            Lost = lost,
            Hung = hung,
            WrongOutputs = all.Count(t => t.WrongOutput is not null),
            UnexpectedOutcomes = unexpected,
            TransfersVerified = transfers.Count(t => t.TransferVerified),
            TransfersLost = transfersLost,
            LatencyWithoutFaults = Latency(quick.Where(t => !InFault(t))),
            LatencyDuringFaults = Latency(quick.Where(InFault)),
            FaultCounts = faults.GroupBy(f => f.Kind).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(), g => g.Count()),
            AgentRestartsSurvived = agent.RecoveryMs.Count - 1,
            Journal = new JournalFigures(
                JournalScalar(agent.JournalPath, "SELECT COALESCE(MAX(sequence_number), 0) FROM journal"),
                JournalRows(agent.JournalPath, "journal"),
                journalMax,
                JournalRows(agent.SnapshotsPath, "snapshot"),
                new[] { agent.JournalPath, agent.JournalPath + "-wal", agent.SnapshotsPath, agent.SnapshotsPath + "-wal" }
                    .Select(p => new FileInfo(p)).Where(f => f.Exists).Sum(f => f.Length),
                recoveries.Count,
                Stats.Percentile(recoveries, 50),
                recoveries.Count == 0 ? null : recoveries.Max()),
            GracefulStop = graceful,
            GracefulStopSeconds = stopSeconds,
            LateStopsUnderLoad = lateStops,
            Faults = faults,
            Problems = problems,
        };
    }

    /// <summary>Outcomes a kind may have under faults; anything else is listed (not a failure: e.g. a run cut short by a full disk).</summary>
    private static bool Expected(Tracked t, ReplyStatus status) => status == ReplyStatus.Interrupted || t.Kind switch
    {
        WorkKind.Timeout => status == ReplyStatus.TimedOut,
        WorkKind.Cancel => status == ReplyStatus.Cancelled,
        _ => status == ReplyStatus.Succeeded,
    };

    private static long JournalRows(string db, string table) => JournalScalar(db, $"SELECT COUNT(*) FROM {table}");

    private static long JournalScalar(string db, string sql)
    {
        if (!File.Exists(db))
        {
            return 0;
        }
        try
        {
            using var c = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            return Convert.ToInt64(cmd.ExecuteScalar() ?? 0L);
        }
        catch (SqliteException)
        {
            // The agent may hold the write lock right now; the next sample will do.
            return 0;
        }
    }

    private static bool TryMountTmpfs(string dir, int mib, Action<string> log)
    {
        try
        {
            Run("mount", "-t", "tmpfs", "-o", $"size={mib}m", "tmpfs", dir);
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            log($"no tmpfs for the state directory ({e.Message.Trim()}): the disk-full fault is left out");
            return false;
        }
    }

    private static void Run(string file, params string[] args) => SoakBed.Run(file, args);
}
