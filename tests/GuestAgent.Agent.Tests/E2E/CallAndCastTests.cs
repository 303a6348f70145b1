using System.Text;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Tests.E2E;

public sealed class CallAndCastTests(CallAndCastTests.Agent agent) : IClassFixture<CallAndCastTests.Agent>
{
    private readonly E2EContext _e2e = agent.E2E;
    /// <summary>This test's scratch directory.</summary>
    private readonly string _dir = SharedAgent.NewDirectory(agent.E2E.Dir);

    /// <summary>One agent for the tests here that neither kill nor reconfigure it.</summary>
    public sealed class Agent() : SharedAgent(() => new E2EContext());

    [Fact]
    public async Task Call_round_trip_returns_output_exit_code_and_an_accepted_reply_first()
    {
        var cmd = await _e2e.Controller.SendAsync(_e2e.Controller.Exec(new ExecArgs
        {
            Shell = "echo hello; echo oops >&2; exit 3",
        }));

        var replies = await _e2e.Controller.RepliesAsync(cmd.Id, E2EContext.Wait);

        Assert.Equal(ReplyStatus.Accepted, replies[0].Status);
        var final = replies[^1];
        Assert.Equal(ReplyStatus.Failed, final.Status);
        Assert.Equal("nonzero_exit", final.Error?.Code);
        var result = final.ResultAs<ExecResult>()!;
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("hello\n", result.Stdout.Data);
        Assert.Equal("oops\n", result.Stderr.Data);
        Assert.False(result.Stdout.Truncated);
        Assert.Equal(1, result.Attempt);
        // Every log line about the command names it and its tenant.
        Assert.Contains($"t1 {cmd.Id} CommandLedger: accepted exec", _e2e.Agent.Log);
    }

    [Fact]
    public async Task Cast_is_acknowledged_with_accepted_and_runs_to_the_end()
    {
        var mark = Path.Combine(_dir, "cast");
        var cast = await _e2e.Controller.SendAsync(_e2e.Controller.Exec(new ExecArgs
        {
            Argv = ["/bin/sh", "-c", $"sleep 0.5; echo ran >> {mark}"],
        }, CommandMode.Cast));

        var accepted = await _e2e.Controller.WaitForAsync(cast.Id, ReplyStatus.Accepted, E2EContext.Wait);
        var final = await _e2e.Controller.FinalAsync(cast.Id, E2EContext.Wait);

        Assert.Equal(0, accepted.Seq);
        Assert.Equal(ReplyStatus.Succeeded, final.Status);
        Assert.Equal(["ran"], File.ReadAllLines(mark));
    }

    [Fact]
    public async Task Output_beyond_the_inline_cap_is_delivered_in_full_in_numbered_chunks()
    {
        // 600 KB of binary output on stderr, then its SHA-256: 64 KiB inline, the rest in chunk replies.
        var cmd = await _e2e.Controller.SendAsync(_e2e.Controller.Exec(new ExecArgs
        {
            Shell = "head -c 600000 /dev/urandom > data; cat data >&2; sha256sum data | cut -d' ' -f1 >&2",
            Cwd = _dir,
        }));

        var replies = await _e2e.Controller.RepliesAsync(cmd.Id, E2EContext.Wait);
        var result = replies[^1].ResultAs<ExecResult>()!;

        Assert.Equal(ReplyStatus.Succeeded, replies[^1].Status);
        var stderr = result.Stderr;
        Assert.True(stderr.Truncated);
        Assert.Equal(600_000 + 65, stderr.Bytes);
        Assert.True(stderr.Chunks >= 3, $"expected several chunks, got {stderr.Chunks}");
        var assembler = ChunkAssembler.For(stderr);
        foreach (var r in replies.Where(r => r.Chunk is not null))
        {
            Assert.Equal(ReplyStatus.Progress, r.Status);
            assembler.Add(r.Chunk!);
        }
        var whole = assembler.Assemble();
        Assert.Null(whole.Error);
        var inline = stderr.DecodeInline();
        Assert.Equal(inline, whole.Data!.AsSpan(0, inline.Length).ToArray());
        var payloadHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(whole.Data.AsSpan(0, 600_000)));
        Assert.Equal(payloadHash + "\n", Encoding.ASCII.GetString(whole.Data.AsSpan(600_000)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "data")), whole.Data.AsSpan(0, 600_000).ToArray());
        Assert.Equal(Enumerable.Range(0, replies.Count).Select(i => (long)i), replies.Select(r => r.Seq));
        // Once the final reply is in Zaqar the spooled output is deleted.
        var spool = Path.Combine(_e2e.Agent.StateDir, "state", "spool", _e2e.Tenant.Name);
        await E2EContext.WaitForAsync(() => !Directory.EnumerateFiles(spool, $"{cmd.Id:N}-*").Any(), "the spool files to be deleted");
    }

    [Fact]
    public async Task Ping_reports_version_capabilities_and_os_and_status_follows_a_command()
    {
        var ping = await _e2e.Controller.SendAsync(_e2e.Controller.Call(new PingArgs()));
        var pong = (await _e2e.Controller.FinalAsync(ping.Id, E2EContext.Wait)).ResultAs<PingResult>()!;
        Assert.Equal("test-agent", pong.Agent);
        Assert.Contains("exec", pong.Capabilities);
        Assert.False(string.IsNullOrEmpty(pong.Version));
        Assert.Contains("Linux", pong.Os);

        var work = await _e2e.Controller.SendAsync(_e2e.Controller.Exec(new ExecArgs { Argv = ["true"] }));
        await _e2e.Controller.FinalAsync(work.Id, E2EContext.Wait);
        var status = await _e2e.Controller.SendAsync(_e2e.Controller.Call(new StatusArgs(work.Id)));
        var state = (await _e2e.Controller.FinalAsync(status.Id, E2EContext.Wait)).ResultAs<StatusResult>()!;
        Assert.Equal(work.Id, state.CommandId);
        Assert.Contains(state.State, new[] { CommandState.Completed, CommandState.Replied });
        Assert.Equal(ReplyStatus.Succeeded, state.FinalStatus);

        var unknown = await _e2e.Controller.SendAsync(_e2e.Controller.Call(new StatusArgs(Guid.NewGuid())));
        Assert.Equal(CommandState.Unknown, (await _e2e.Controller.FinalAsync(unknown.Id, E2EContext.Wait)).ResultAs<StatusResult>()!.State);
    }
}
