using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using GuestAgent.Client;
using GuestAgent.Client.Files;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Soak;

/// <summary>The kinds of work in the mix.</summary>
public enum WorkKind
{
    /// <summary>A call that echoes at once.</summary>
    Quick,

    /// <summary>A call that sleeps 0.5 .. 8 s.</summary>
    Sleep,

    /// <summary>A call that sleeps 10 .. 20 s: the likeliest to be running when a fault strikes.</summary>
    Long,

    /// <summary>A call that sleeps 30 s with timeout_s = 1: it must end timed_out.</summary>
    Timeout,

    /// <summary>A call that sleeps 30 s and is cancelled after 1 .. 3 s: it must end cancelled.</summary>
    Cancel,

    /// <summary>A call writing 300,000 bytes to stdout: inline part plus chunk replies.</summary>
    BigOutput,

    /// <summary>A cast that echoes at once.</summary>
    CastQuick,

    /// <summary>A cast that sleeps 0.5 .. 8 s.</summary>
    CastSleep,

    /// <summary>A file put (20 .. 450 KB of random bytes) then got back, both checked by SHA-256.</summary>
    FileTransfer,
}

/// <summary>One command (or file transfer) of the soak and everything learnt about it.</summary>
public sealed class Tracked
{
    public required Guid Id { get; init; }
    public required WorkKind Kind { get; init; }
    public required bool IsCast { get; init; }
    public required InterruptPolicy OnInterrupt { get; init; }
    public double SentS { get; set; }
    public double? DoneS { get; set; }

    /// <summary>A post of the command succeeded (a failed one may still have landed).</summary>
    public bool Posted { get; set; }

    /// <summary>Posts that failed (Zaqar down) and were repeated with the same command id.</summary>
    public int PostRetries { get; set; }

    /// <summary>The final status the controller got through its reply queue (calls).</summary>
    public ReplyStatus? ClientFinal { get; set; }
    public string? ClientError { get; set; }

    /// <summary>The final reply's error (calls), to explain an unexpected outcome.</summary>
    public string? FinalError { get; set; }

    /// <summary>The ledger's word at the end (status op).</summary>
    public StatusResult? Ledger { get; set; }

    /// <summary>Output that came back wrong (a succeeded command whose stdout is not what it printed).</summary>
    public string? WrongOutput { get; set; }

    /// <summary>Attempt numbers the command's runs appended to its marker file.</summary>
    public int[] Effects { get; set; } = [];

    /// <summary>Each run's attempt, start and (when it got there) end, from its marks (epoch ns).</summary>
    public RunSpan[] Runs { get; set; } = [];

    /// <summary>File transfers: both directions verified.</summary>
    public bool TransferVerified { get; set; }
}

/// <summary>One run of a command as its marks tell it (epoch ns); no end when it was killed or lost.</summary>
public sealed record RunSpan(int Attempt, long StartNs, long? EndNs);

/// <summary>Sends the soak's commands and follows each to its end.</summary>
internal sealed class Workload(GuestClient client, string marksDir, string fileRoot, Stopwatch clock, Action<string>? log)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(200);

    /// <summary>Picks the next piece of work (weights: mostly short calls and casts, some of each hard case).</summary>
    public static Tracked Next(Random random)
    {
        var roll = random.Next(100);
        var kind = roll switch
        {
            < 30 => WorkKind.Quick,
            < 45 => WorkKind.Sleep,
            < 50 => WorkKind.Long,
            < 55 => WorkKind.Timeout,
            < 60 => WorkKind.Cancel,
            < 64 => WorkKind.BigOutput,
            < 80 => WorkKind.CastQuick,
            < 95 => WorkKind.CastSleep,
            _ => WorkKind.FileTransfer,
        };
        var cast = kind is WorkKind.CastQuick or WorkKind.CastSleep;
        // Casts rerun by default; calls fail. A share of each the other way round.
        var policy = cast
            ? random.Next(4) == 0 ? InterruptPolicy.Fail : InterruptPolicy.Rerun
            : random.Next(10) < 3 ? InterruptPolicy.Rerun : InterruptPolicy.Fail;
        return new Tracked { Id = Guid.NewGuid(), Kind = kind, IsCast = cast, OnInterrupt = policy };
    }

    /// <summary>Runs one piece of work to its end as the controller sees it; never throws.</summary>
    public async Task RunAsync(Tracked t, Random random, CancellationToken giveUp)
    {
        t.SentS = clock.Elapsed.TotalSeconds;
        try
        {
            switch (t.Kind)
            {
                case WorkKind.FileTransfer:
                    await TransferAsync(t, random.Next(20_000, 450_000), random.Next(), giveUp);
                    break;
                case WorkKind.CastQuick or WorkKind.CastSleep:
                    await CastAsync(t, Exec(t, random), giveUp);
                    break;
                case WorkKind.Cancel:
                    var cancelAfter = TimeSpan.FromSeconds(1 + random.NextDouble() * 2);
                    var call = CallAsync(t, Exec(t, random), giveUp);
                    await Task.Delay(cancelAfter, giveUp);
                    await CancelAsync(t.Id, giveUp);
                    await call;
                    break;
                default:
                    await CallAsync(t, Exec(t, random), giveUp);
                    break;
            }
        }
        catch (OperationCanceledException) when (giveUp.IsCancellationRequested)
        {
            t.ClientError ??= "given up at the end of the drain";
        }
        catch (Exception e)
        {
            t.ClientError = $"{e.GetType().Name}: {e.Message}";
            log?.Invoke($"{t.Kind} {t.Id}: {t.ClientError}");
        }
    }

    private ExecArgs Exec(Tracked t, Random random)
    {
        // The marker: one line per run, the attempt number the agent gives the run and when it started;
        // the end marker, one line per run that got to its end.
        var file = Path.Combine(marksDir, t.Id.ToString("N"));
        var mark = $"printf '%s %s\\n' \"$GUESTAGENT_ATTEMPT\" \"$(date +%s%N)\" >> '{file}'";
        var end = $"printf '%s %s\\n' \"$GUESTAGENT_ATTEMPT\" \"$(date +%s%N)\" >> '{file}.end'";
        var echo = $"echo ok-{t.Id:N}; {end}";
        return t.Kind switch
        {
            WorkKind.Quick or WorkKind.CastQuick => new ExecArgs { Shell = $"{mark}; {echo}", TimeoutSeconds = 60 },
            WorkKind.Sleep or WorkKind.CastSleep => new ExecArgs { Shell = $"{mark}; sleep {0.5 + random.NextDouble() * 7.5:F1}; {echo}", TimeoutSeconds = 60 },
            WorkKind.Long => new ExecArgs { Shell = $"{mark}; sleep {10 + random.NextDouble() * 10:F1}; {echo}", TimeoutSeconds = 60 },
            WorkKind.Timeout => new ExecArgs { Shell = $"{mark}; sleep 30; {echo}", TimeoutSeconds = 1, KillGraceSeconds = 1 },
            WorkKind.Cancel => new ExecArgs { Shell = $"{mark}; sleep 30; {echo}", TimeoutSeconds = 60, KillGraceSeconds = 1 },
            WorkKind.BigOutput => new ExecArgs { Shell = $"{mark}; head -c {BigOutputBytes} /dev/zero | tr '\\0' x; {end}", TimeoutSeconds = 60 },
            _ => throw new ArgumentOutOfRangeException(nameof(t)),
        };
    }

    public const int BigOutputBytes = 300_000;

    private async Task CallAsync(Tracked t, ExecArgs args, CancellationToken giveUp)
    {
        var options = new CallOptions { CommandId = t.Id, OnInterrupt = t.OnInterrupt, Timeout = CallTimeout };
        while (true)
        {
            try
            {
                var result = await client.CallAsync(args, options, giveUp);
                t.Posted = true;
                t.ClientFinal = result.Status;
                t.FinalError = result.Error is { } error ? $"{error.Code}: {error.Message}" : null;
                t.DoneS = clock.Elapsed.TotalSeconds;
                if (result.Succeeded)
                {
                    CheckOutput(t, result);
                }
                return;
            }
            catch (ZaqarException) when (!giveUp.IsCancellationRequested)
            {
                // Posting failed (Zaqar or Redis down), or maybe it landed: the same id again is safe either way.
                t.PostRetries++;
                await Task.Delay(TimeSpan.FromSeconds(1), giveUp);
            }
            catch (GuestTimeoutException e)
            {
                t.Posted = true;
                t.ClientError = $"no final reply within {CallTimeout.TotalSeconds:F0} s (accepted seen: {e.AcceptedSeen})";
                return;
            }
            catch (GuestOutputException e)
            {
                t.Posted = true;
                t.WrongOutput = e.Message;
                return;
            }
        }
    }

    private static void CheckOutput(Tracked t, CallResult result)
    {
        if (t.Kind == WorkKind.BigOutput)
        {
            if (result.Stdout.Length != BigOutputBytes || result.Stdout.Any(b => b != (byte)'x'))
            {
                t.WrongOutput = $"stdout is {result.Stdout.Length} bytes, not {BigOutputBytes} x's";
            }
        }
        else if (result.StdoutText != $"ok-{t.Id:N}\n")
        {
            t.WrongOutput = $"stdout is '{result.StdoutText.Trim()}'";
        }
    }

    private async Task CastAsync(Tracked t, ExecArgs args, CancellationToken giveUp)
    {
        while (true)
        {
            try
            {
                // Replies go to the agent's default reply queue, which nobody reads: the soak asks the ledger at the end.
                await client.CastAsync(args, new CastOptions { CommandId = t.Id, OnInterrupt = t.OnInterrupt }, giveUp);
                t.Posted = true;
                return;
            }
            catch (ZaqarException) when (!giveUp.IsCancellationRequested)
            {
                t.PostRetries++;
                await Task.Delay(TimeSpan.FromSeconds(1), giveUp);
            }
        }
    }

    private async Task CancelAsync(Guid target, CancellationToken giveUp)
    {
        for (var i = 0; i < 20; i++)
        {
            try
            {
                var answer = await client.CancelAsync(target, new CallOptions { Timeout = TimeSpan.FromSeconds(90) }, giveUp);
                if (answer.Error?.Code != "unknown_command")
                {
                    return;
                }
                // The command is not in yet (its post was repeated while Zaqar was down): ask again, as a controller would.
                await Task.Delay(TimeSpan.FromSeconds(1), giveUp);
            }
            catch (Exception e) when (e is ZaqarException or GuestTimeoutException && !giveUp.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), giveUp);
            }
        }
    }

    private async Task TransferAsync(Tracked t, int size, int dataSeed, CancellationToken giveUp)
    {
        var data = new byte[size];
        new Random(dataSeed).NextBytes(data);
        var sha = Convert.ToHexStringLower(SHA256.HashData(data));
        var path = Path.Combine(fileRoot, $"{t.Id:N}.bin");
        var transferId = t.Id;
        var errors = new StringBuilder();
        // Put, resuming the same transfer after any failure (agent killed, Zaqar down) until it is in place.
        while (true)
        {
            try
            {
                await client.PutFileAsync(new MemoryStream(data), path, new FilePutOptions { TransferId = transferId }, giveUp);
                t.Posted = true;
                break;
            }
            catch (Exception e) when (!giveUp.IsCancellationRequested && e is not OperationCanceledException)
            {
                t.Posted = true;
                t.PostRetries++;
                errors.Append(e.GetType().Name).Append("; ");
                await Task.Delay(TimeSpan.FromSeconds(2), giveUp);
            }
        }
        var onDisk = File.Exists(path) ? Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path, giveUp))) : "(missing)";
        if (onDisk != sha)
        {
            t.WrongOutput = $"the file in place has SHA-256 {onDisk}, not {sha}";
            return;
        }
        while (true)
        {
            try
            {
                var back = new MemoryStream();
                await client.GetFileAsync(path, back, null, giveUp);
                if (!back.ToArray().AsSpan().SequenceEqual(data))
                {
                    t.WrongOutput = "the file read back differs from the one put";
                    return;
                }
                break;
            }
            catch (Exception e) when (!giveUp.IsCancellationRequested && e is not OperationCanceledException)
            {
                t.PostRetries++;
                errors.Append(e.GetType().Name).Append("; ");
                await Task.Delay(TimeSpan.FromSeconds(2), giveUp);
            }
        }
        t.TransferVerified = true;
        t.DoneS = clock.Elapsed.TotalSeconds;
        if (errors.Length > 0)
        {
            t.ClientError = $"retried after: {errors}";
        }
    }
}
