using System.Security.Cryptography;
using GuestAgent.Client;
using GuestAgent.Client.Files;
using GuestAgent.Protocol;
using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E.Matrix;

/// <summary>
/// The operations end to end, one definition run on every transport of <see cref="MatrixTransports"/>:
/// a real agent with one binding on the transport and the SDK over the same transport. The default
/// suite runs the core (exec call, cast with status, file put and get, ping) on each transport; the
/// rest (http, cancel, signing, runs reattached after a kill -9) run in the longer mode (tools/test-long.sh), where
/// the transport-specific suites already cover them on Zaqar by default.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OperationScenarios(OperationScenarios.Guests guests) : IClassFixture<OperationScenarios.Guests>
{
    private static readonly TimeSpan Wait = MatrixGuest.Wait;

    /// <summary>
    /// One guest per transport for the scenarios that neither kill nor reconfigure theirs, started
    /// when first asked for (each scenario leaves its marks under names of its own).
    /// </summary>
    public sealed class Guests : IAsyncLifetime
    {
        private readonly Dictionary<string, Task<(MatrixGuest Guest, GuestClient Client)>> _started = [];
        private readonly Lock _gate = new();

        /// <summary>The guest on <paramref name="transport"/> and its one client (on AMQP every client reads the binding's one reply queue).</summary>
        public Task<(MatrixGuest Guest, GuestClient Client)> On(string transport)
        {
            lock (_gate)
            {
                if (!_started.TryGetValue(transport, out var guest))
                {
                    _started[transport] = guest = StartAsync(transport);
                }
                return guest;
            }
        }

        private static async Task<(MatrixGuest, GuestClient)> StartAsync(string transport)
        {
            var guest = await MatrixTransports.StartAsync(transport);
            return (guest, guest.NewClient());
        }

        public Task InitializeAsync() => Task.CompletedTask;

        public async Task DisposeAsync()
        {
            foreach (var guest in _started.Values)
            {
                await (await guest).Guest.DisposeAsync();
            }
        }
    }

    private static CallOptions Timely => new() { Timeout = Wait };

    [Theory]
    [MemberData(nameof(MatrixTransports.All), MemberType = typeof(MatrixTransports))]
    public async Task Exec_call_returns_output_reassembled_from_chunks_and_the_exit_code(string transport)
    {
        var (guest, client) = await guests.On(transport);

        // 200,000 bytes: past the inline cap, so stdout comes as checksummed chunk replies.
        var result = await client.CallAsync(new ExecArgs { Shell = "head -c 200000 /dev/zero | tr '\\0' x; echo err >&2; exit 3" }, Timely);

        Assert.Equal(ReplyStatus.Failed, result.Status);
        Assert.Equal("nonzero_exit", result.Error?.Code);
        Assert.Equal(3, result.ExitCode);
        Assert.Equal(new string('x', 200_000), result.StdoutText);
        Assert.Equal("err\n", result.StderrText);
        Assert.Contains(result.Replies, r => r.Seq > 0 && !r.Final);
        Assert.Equal(0, client.Stats.Unverified);
    }

    [Theory]
    [MemberData(nameof(MatrixTransports.All), MemberType = typeof(MatrixTransports))]
    public async Task Cast_is_accepted_runs_once_and_status_reports_it_succeeded(string transport)
    {
        var (guest, client) = await guests.On(transport);

        // Long enough that the status asked right after acceptance finds it still going on a loaded machine.
        var id = await client.CastAsync(new ExecArgs { Shell = $"sleep 3; echo ran >> {guest.Dir}/cast" },
            new CastOptions { WaitForAcceptance = true, AcceptanceTimeout = Wait });
        var early = await client.StatusAsync(id, Timely);
        var final = await FinalStatusAsync(client, id);

        Assert.Contains(early.State, new[] { CommandState.Accepted, CommandState.Started });
        Assert.Equal(ReplyStatus.Succeeded, final.FinalStatus);
        Assert.Equal(1, final.Attempt);
        Assert.Equal(["ran"], guest.MarkLines("cast"));
    }

    [Theory]
    [MemberData(nameof(MatrixTransports.All), MemberType = typeof(MatrixTransports))]
    public async Task File_put_then_get_round_trips_the_bytes_with_matching_sha256(string transport)
    {
        var (guest, client) = await guests.On(transport);
        var content = RandomNumberGenerator.GetBytes(1024 * 1024 + 77);
        var guestPath = Path.Combine(guest.FileRoot, "up.bin");
        var back = Path.Combine(guest.Dir, "back.bin");

        var put = await client.PutFileAsync(new MemoryStream(content), guestPath, new FilePutOptions { ChunkBytes = 100_000, Mode = "0640" });
        var get = await client.GetFileAsync(guestPath, back);

        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        Assert.Equal(content, await File.ReadAllBytesAsync(guestPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(guestPath));
        Assert.Equal(sha, put.Sha256);
        Assert.Equal(put.ChunkCount, put.ChunksSent);
        Assert.Equal(content, await File.ReadAllBytesAsync(back));
        Assert.Equal(sha, get.Sha256);
    }

    [Theory]
    [MemberData(nameof(MatrixTransports.All), MemberType = typeof(MatrixTransports))]
    public async Task Ping_answers_with_the_bindings_capabilities(string transport)
    {
        var (guest, client) = await guests.On(transport);

        var ping = await client.PingAsync(Timely);

        Assert.Contains(Ops.Exec, ping.Capabilities);
        Assert.Contains(Ops.Status, ping.Capabilities);
        Assert.False(string.IsNullOrEmpty(ping.Version));
    }

    [LongTheory]
    [MemberData(nameof(MatrixTransports.All), MemberType = typeof(MatrixTransports))]
    public async Task Http_request_from_the_guest_returns_the_response_and_a_destination_not_allowed_fails(string transport)
    {
        using var server = new HttpOpTests.TestHttpServer();
        await using var guest = await MatrixTransports.StartAsync(transport, new MatrixSpec(HttpDestinations: [$"127.0.0.1:{server.Port}"]));
        var client = guest.NewClient();

        var ok = await client.HttpAsync(new HttpArgs { Url = $"{server.BaseUrl}hello" }, Timely);
        var refused = await client.HttpAsync(new HttpArgs { Url = $"http://127.0.0.1:{server.Port + 1}/hello" }, Timely);

        Assert.Equal(ReplyStatus.Succeeded, ok.Status);
        Assert.Equal(200, ok.Http!.Status);
        Assert.Equal(HttpOpTests.TestHttpServer.Hello, System.Text.Encoding.UTF8.GetString(ok.Body));
        Assert.Equal(ReplyStatus.Failed, refused.Status);
        Assert.Equal("forbidden_destination", refused.Error?.Code);
        Assert.Equal(1, server.Requests);
    }

    [LongTheory]
    [MemberData(nameof(MatrixTransports.All), MemberType = typeof(MatrixTransports))]
    public async Task Cancel_stops_a_running_cast_which_then_ends_cancelled(string transport)
    {
        await using var guest = await MatrixTransports.StartAsync(transport);
        var client = guest.NewClient();
        var id = await client.CastAsync(new ExecArgs { Shell = $"echo started >> {guest.Dir}/long; sleep 60; echo finished >> {guest.Dir}/long" },
            new CastOptions { WaitForAcceptance = true, AcceptanceTimeout = Wait });
        await E2EContext.WaitForAsync(() => guest.MarkLines("long").Length == 1, "the cast started");

        var cancel = await client.CancelAsync(id, Timely);
        var final = await FinalStatusAsync(client, id);

        Assert.Equal(ReplyStatus.Succeeded, cancel.Status);
        Assert.Equal(ReplyStatus.Cancelled, final.FinalStatus);
        Assert.Equal(["started"], guest.MarkLines("long"));
    }

    [LongTheory]
    [MemberData(nameof(MatrixTransports.All), MemberType = typeof(MatrixTransports))]
    public async Task Command_signed_with_a_wrong_key_is_refused_at_once_and_never_runs(string transport)
    {
        await using var guest = await MatrixTransports.StartAsync(transport);
        var forger = guest.NewClient(keys: [TestKeys.WrongSecret]);

        await Assert.ThrowsAsync<GuestSigningMismatchException>(() =>
            forger.CallAsync(new ExecArgs { Shell = $"echo ran >> {guest.Dir}/forged" }, Timely));
        // Gone before the genuine client reads: on AMQP both would consume the guest's one reply queue,
        // and a client that owns its reply queue (no ForeignReplyGrace) deletes replies it does not wait for.
        await forger.DisposeAsync();
        // The genuine key still works on the same binding.
        var genuine = await guest.NewClient().CallAsync(new ExecArgs { Shell = "echo ok" }, Timely);

        Assert.Equal("ok\n", genuine.StdoutText);
        Assert.Empty(guest.MarkLines("forged"));
    }

    [LongTheory]
    [MemberData(nameof(MatrixTransports.All), MemberType = typeof(MatrixTransports))]
    public async Task Runs_outlive_an_agent_kill_9_and_are_reattached_with_their_exit_code_and_output(string transport)
    {
        await using var guest = await MatrixTransports.StartAsync(transport);
        var client = guest.NewClient();
        ExecArgs Work(string name, int exit) => new()
        {
            Shell = $"echo attempt=$GUESTAGENT_ATTEMPT >> {guest.Dir}/{name}; echo before; sleep 6; echo after; echo done >> {guest.Dir}/{name}; exit {exit}",
        };
        // A call waits through the kill; a cast that must never run twice is asked about afterwards.
        var call = client.CallAsync(Work("call", 0), new CallOptions { Timeout = TimeSpan.FromSeconds(60) });
        var cast = await client.CastAsync(Work("cast", 3), new CastOptions { WaitForAcceptance = true, OnInterrupt = InterruptPolicy.Fail });
        foreach (var name in new[] { "call", "cast" })
        {
            await E2EContext.WaitForAsync(() => guest.MarkLines(name).Length == 1, $"{name} started");
        }

        guest.Agent.Kill();
        guest.Agent.Start();
        var called = await call;
        var castFinal = await FinalStatusAsync(client, cast);

        Assert.Equal(ReplyStatus.Succeeded, called.Status);
        Assert.True(called.Exec!.Reattached);
        Assert.Equal(1, called.Exec.Attempt);
        Assert.Equal("before\nafter\n", called.StdoutText);
        Assert.Equal(ReplyStatus.Failed, castFinal.FinalStatus);
        Assert.Equal(1, castFinal.Attempt);
        Assert.Equal(["attempt=1", "done"], guest.MarkLines("call"));
        Assert.Equal(["attempt=1", "done"], guest.MarkLines("cast"));
    }

    /// <summary>Asks until the command's final reply is posted.</summary>
    private static async Task<StatusResult> FinalStatusAsync(GuestClient client, Guid id)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var status = await client.StatusAsync(id, Timely);
            if (status.State == CommandState.Replied || DateTime.UtcNow > deadline)
            {
                return status;
            }
            await Task.Delay(200);
        }
    }
}
