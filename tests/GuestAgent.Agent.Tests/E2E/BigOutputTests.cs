using System.Diagnostics;
using System.Security.Cryptography;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using Xunit.Abstractions;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// An exec that prints far more than the agent could hold, consumed as a controller would stream it:
/// each chunk checked, hashed and deleted as it arrives, none kept. The agent's resident memory is
/// sampled throughout; replies are read from the spool a few at a time, so it stays near idle.
/// </summary>
public sealed class BigOutputTests(ITestOutputHelper output)
{
    /// <summary>Output size in MiB: 128 (about 10 s) unless GUESTAGENT_BIG_OUTPUT_MIB says otherwise (2048: the long mode, tools/soak/README.md).</summary>
    private static int OutputMiB =>
        int.TryParse(Environment.GetEnvironmentVariable("GUESTAGENT_BIG_OUTPUT_MIB"), out var mib) && mib > 0 ? mib : 128;

    /// <summary>
    /// The agent idles at 130-140 MiB. The outbox holds under 1 MiB of replies (ReplyOutbox.MaxHeldChunkBytes); the
    /// rest is the GC's slack for the garbage of encoding them: peaks of 200-230 MiB, the same for 128 MiB and for
    /// 2 GiB of output. Building every chunk reply at once peaked at 930 MiB for 128 MiB of output.
    /// </summary>
    private const long RssBoundKiB = 320 * 1024;

    /// <summary>The inline part: zeros, so that the test knows it before the final reply brings it and can hash in order.</summary>
    private const int InlineBytes = 65_536;

    [Fact]
    public async Task Output_of_any_size_is_delivered_whole_while_the_agents_memory_stays_under_its_bound()
    {
        using var e2e = new E2EContext();
        var pid = e2e.Agent.Pid ?? throw new InvalidOperationException("the agent is not running");
        var ping = await e2e.Controller.SendAsync(e2e.Controller.Call(new PingArgs()));
        await e2e.Controller.FinalAsync(ping.Id, E2EContext.Wait);
        var idleKiB = ReadRssKiB(pid, "VmRSS");

        using var sampling = new CancellationTokenSource();
        long peakKiB = idleKiB;
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peakKiB = Math.Max(peakKiB, ReadRssKiB(pid, "VmRSS"));
                await Task.Delay(20);
            }
        });

        var payload = (long)OutputMiB << 20;
        var clock = Stopwatch.StartNew();
        var cmd = await e2e.Controller.SendAsync(e2e.Controller.Exec(new ExecArgs
        {
            Shell = $"head -c {InlineBytes} /dev/zero; head -c {payload} /dev/urandom",
            OutputCapBytes = InlineBytes,
            TimeoutSeconds = 900,
        }));
        var streamed = await ConsumeAsync(e2e, cmd.Id, TimeSpan.FromSeconds(120 + OutputMiB / 4));
        clock.Stop();
        await sampling.CancelAsync();
        await sampler;
        var hwmKiB = ReadRssKiB(pid, "VmHWM");

        output.WriteLine($"{OutputMiB} MiB in {streamed.Chunks} chunks, {clock.Elapsed.TotalSeconds:F1} s; " +
            $"agent RSS idle {idleKiB / 1024} MiB, sampled peak {peakKiB / 1024} MiB, VmHWM {hwmKiB / 1024} MiB");
        var final = streamed.Final;
        Assert.True(final.Status == ReplyStatus.Succeeded, $"{final.Status}: {final.Error?.Message}");
        var stdout = final.ResultAs<ExecResult>()!.Stdout;
        Assert.Equal(new byte[InlineBytes], stdout.DecodeInline());
        Assert.Equal((InlineBytes + payload, InlineBytes + payload), (stdout.Bytes, streamed.Bytes));
        Assert.Equal(stdout.Chunks, streamed.Chunks);
        Assert.Equal(stdout.Sha256, streamed.Sha256);
        // Deleted off the ledger's thread once the final reply is in Zaqar.
        var spool = Path.Combine(e2e.Agent.StateDir, "state", "spool", e2e.Tenant.Name);
        await E2EContext.WaitForAsync(() => !Directory.EnumerateFiles(spool, $"{cmd.Id:N}-*").Any(), "the spool files to be deleted");
        Assert.True(peakKiB < RssBoundKiB, $"agent RSS peaked at {peakKiB / 1024} MiB (idle {idleKiB / 1024} MiB)");
        Assert.True(hwmKiB < RssBoundKiB, $"agent RSS high-water mark {hwmKiB / 1024} MiB (idle {idleKiB / 1024} MiB)");
    }

    private sealed record Streamed(Reply Final, int Chunks, long Bytes, string Sha256);

    /// <summary>
    /// Claims, checks and deletes the command's replies until its final one: every chunk must continue
    /// the stream where the last one ended. Only the running hash and a few out-of-order chunks are kept.
    /// </summary>
    private static async Task<Streamed> ConsumeAsync(E2EContext e2e, Guid id, TimeSpan timeout)
    {
        var zaqar = e2e.Controller.Zaqar;
        var queue = e2e.Controller.ReplyQueue;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(new byte[InlineBytes]);
        var early = new SortedDictionary<long, Reply>();
        long nextSeq = 1, offset = InlineBytes;
        var chunks = 0;
        Reply? final = null;
        var deadline = DateTime.UtcNow + timeout;
        while (final is null || early.Count > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"after {timeout}: {chunks} chunks, {offset} bytes, final {(final is null ? "not" : "")} seen");
            }
            var claim = await zaqar.ClaimAsync(queue, 20, 300, 60);
            if (claim.IsEmpty)
            {
                await Task.Delay(50);
                continue;
            }
            foreach (var m in claim.Messages)
            {
                Assert.True(ReplyParser.TryParse(m.Body, out var reply, out var error), error);
                await zaqar.DeleteAsync(queue, m.Id, claim.Id);
                Assert.Equal(id, reply.Id);
                if (reply.Seq >= nextSeq && reply.Status != ReplyStatus.Accepted)
                {
                    early[reply.Seq] = reply;
                }
                // Zaqar hands out the oldest first; the few that could overtake wait here, bounded.
                Assert.True(early.Count <= 40, $"{early.Count} replies arrived ahead of seq {nextSeq}");
                while (early.Remove(nextSeq, out var next))
                {
                    nextSeq++;
                    if (next.Final)
                    {
                        final = next;
                        continue;
                    }
                    var chunk = next.Chunk ?? throw new InvalidOperationException($"seq {next.Seq} is neither a chunk nor final");
                    Assert.Equal((ChunkStreams.Stdout, chunks, offset), (chunk.Stream, chunk.Index, chunk.Offset));
                    Assert.True(chunk.Data.Length > 0, $"chunk {chunk.Index} is empty");
                    hash.AppendData(chunk.Data.Span);
                    offset += chunk.Data.Length;
                    chunks++;
                }
            }
        }
        Assert.Empty(early);
        return new Streamed(final, chunks, offset, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>A field of /proc/PID/status (VmRSS: resident now, VmHWM: resident at most), in KiB.</summary>
    private static long ReadRssKiB(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]);
            }
        }
        throw new InvalidOperationException($"no {field} in /proc/{pid}/status");
    }
}
