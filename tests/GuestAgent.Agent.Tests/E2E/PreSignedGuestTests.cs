using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Transports.Zaqar;
using GuestAgent.Protocol.Signing;
using GuestAgent.Protocol;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// A guest that holds only Zaqar pre-signed URLs (auth.mode = presigned, minted by
/// <c>guestctl credentials mint</c>) on the keystone-authenticated Zaqar of the <see cref="KeystoneBed"/>:
/// the controller uses tenant A's keystone token, the guest never sees a token.
/// </summary>
public sealed class PreSignedGuestTests
{
    private static readonly ListOptions Everything = new() { Limit = 20, Echo = true, IncludeClaimed = true };
    private readonly KeystoneBed _bed = KeystoneBed.Shared;

    /// <summary>Runs the built guestctl credentials mint for tenant A's queues; returns the HOCON auth block.</summary>
    private async Task<string> MintAsync(string queue, string reply, bool viaShare)
    {
        var home = Directory.CreateTempSubdirectory("ga-mint-").FullName;
        var env = new Dictionary<string, string> { ["HOME"] = home };
        if (viaShare)
        {
            env["OS_AUTH_TOKEN"] = await _bed.TokenAsync(Tenant.A);
        }
        else
        {
            env["ZAQAR_SIGNED_URL_SECRET"] = _bed.Secret;
            env["ZAQAR_PROJECT"] = _bed.TenantA.ProjectId;
        }
        var (code, block, stderr) = await Guestctl.RunAsync(
            ["credentials", "mint", "--queue", queue, "--reply-queue", reply, "--expires-in", "1d", "--endpoint", _bed.ZaqarUrl], env);
        Directory.Delete(home, recursive: true);
        Assert.True(code == 0, $"guestctl credentials mint failed ({code}): {stderr}");
        Assert.DoesNotContain("token", block, StringComparison.OrdinalIgnoreCase);
        return block;
    }

    private TestTenant GuestTenant(string queue, string reply, string authBlock) =>
        new("t1", _bed.TenantA.ProjectId, queue, reply, ExtraConfig: authBlock);

    /// <summary>The binding the agent would read from this auth block (the same parser and checks).</summary>
    private TenantAuth Parse(string queue, string reply, string authBlock) => ZaqarTransport.AuthOf(Assert.Single(AgentSettings.Load(null, $$"""
        guest-agent {
          state-dir = "/tmp/ga-presigned"
          tenants.t1 {
            endpoint = "{{_bed.ZaqarUrl}}", project = "{{_bed.TenantA.ProjectId}}", command-queue = "{{queue}}", reply-queue = "{{reply}}"
            signing.allow-unsigned = true
            {{authBlock}}
          }
        }
        """).Tenants));

    /// <summary>A new command queue and reply queue of tenant A, and A's client.</summary>
    private async Task<(ZaqarClient A, string Queue, string Reply)> QueuesOfAAsync()
    {
        var a = _bed.Client(Tenant.A);
        var queue = ZaqarBed.NewQueue("ps-cmd");
        var reply = ZaqarBed.NewQueue("ps-rep");
        await a.CreateQueueAsync(queue);
        await a.CreateQueueAsync(reply);
        return (a, queue, reply);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Guest_with_only_presigned_urls_runs_a_signed_call_from_a_keystone_controller(bool viaShare)
    {
        var (a, queue, reply) = await QueuesOfAAsync();
        var block = await MintAsync(queue, reply, viaShare);
        var tenant = GuestTenant(queue, reply, block);
        using var agent = AgentProcess.Start(_bed.ZaqarUrl, [tenant]);
        Assert.DoesNotContain("token", File.ReadAllText(agent.ConfigPath), StringComparison.OrdinalIgnoreCase);
        var controller = new RawController(a, queue, reply, TestKeys.K1, [TestKeys.K1]);

        var cmd = await controller.SendAsync(controller.Exec(new ExecArgs { Shell = "echo hello-from-presigned-guest" }));
        var final = await controller.FinalAsync(cmd.Id, TimeSpan.FromSeconds(60));

        Assert.True(final.Status == ReplyStatus.Succeeded, $"{final.Status} {final.Error?.Code} {final.Error?.Message}\n{agent.Log}");
        Assert.Equal("hello-from-presigned-guest\n", final.ResultAs<ExecResult>()!.Stdout.Data);
        Assert.Equal(SignatureStatus.Valid, controller.SignatureOf(cmd.Id, final.Seq));
        // The guest deleted the command it claimed (DELETE .../messages/{id}?claim_id= with its URL).
        await E2EContext.WaitForAsync(() => a.GetQueueStatsAsync(queue).Result.Total == 0, "the command to be deleted by the guest");
    }

    [Fact]
    public async Task Guest_urls_reach_neither_tenant_B_nor_other_queues_of_A_nor_more_than_the_agent_needs()
    {
        var a = _bed.Client(Tenant.A);
        var b = _bed.Client(Tenant.B);
        var queue = ZaqarBed.NewQueue("ps-cmd");
        var reply = ZaqarBed.NewQueue("ps-rep");
        var otherOfA = ZaqarBed.NewQueue("ps-other");
        foreach (var q in new[] { queue, reply, otherOfA })
        {
            await a.CreateQueueAsync(q);
            await a.PostAsync(q, OutgoingMessage.Of("a-" + q));
        }
        // Tenant B has queues of the same names, and one of its own.
        var onlyB = ZaqarBed.NewQueue("ps-b");
        foreach (var q in new[] { queue, reply, onlyB })
        {
            await b.CreateQueueAsync(q);
            await b.PostAsync(q, OutgoingMessage.Of("b-" + q));
        }
        var auth = Parse(queue, reply, await MintAsync(queue, reply, viaShare: false));
        var cmdUrl = auth.CommandQueueUrl!;
        var repUrl = auth.ReplyQueueUrl!;
        var guest = _bed.PreSignedClient(cmdUrl, repUrl);
        var guestAsB = _bed.PreSignedClient(cmdUrl with { Project = _bed.TenantB.ProjectId }, repUrl with { Project = _bed.TenantB.ProjectId });

        Assert.Equal(["DELETE", "GET", "POST"], cmdUrl.Methods);
        Assert.Equal(["POST"], repUrl.Methods);
        var refused = new List<(string What, Func<Task> Call)>();
        foreach (var (who, client) in new[] { ("as project B", guestAsB), ("as project A", guest) })
        {
            foreach (var q in new[] { onlyB, otherOfA })
            {
                refused.Add(($"{who}: list {q}", () => client.ListAsync(q, Everything)));
                refused.Add(($"{who}: post {q}", () => client.PostAsync(q, OutgoingMessage.Of("intruder"))));
                refused.Add(($"{who}: claim {q}", () => client.ClaimAsync(q, limit: 20, ttlSeconds: 60, graceSeconds: 60)));
            }
        }
        foreach (var q in new[] { queue, reply })
        {
            refused.Add(($"as project B: list {q}", () => guestAsB.ListAsync(q, Everything)));
            refused.Add(($"as project B: post {q}", () => guestAsB.PostAsync(q, OutgoingMessage.Of("intruder"))));
            refused.Add(($"as project B: claim {q}", () => guestAsB.ClaimAsync(q, limit: 20, ttlSeconds: 60, graceSeconds: 60)));
            // Even on its own queues the guest may not inspect or manage them.
            refused.Add(($"stats {q}", () => guest.GetQueueStatsAsync(q)));
            refused.Add(($"delete queue {q}", () => guest.DeleteQueueAsync(q)));
            refused.Add(($"share {q}", () => guest.ShareAsync(q, ["messages"], ["GET"])));
        }
        refused.Add(("claim the reply queue", () => guest.ClaimAsync(reply, limit: 20, ttlSeconds: 60, graceSeconds: 60)));
        refused.Add(("read the reply queue", () => guest.ListAsync(reply, Everything)));
        foreach (var (what, call) in refused)
        {
            var ex = await Assert.ThrowsAsync<ZaqarException>(call);
            Assert.True(ex.StatusCode == 404, $"{what}: expected 404, got {ex.StatusCode}");
        }

        // What the agent needs does work: read (with every slot busy), claim and delete on the command queue,
        // post to the reply queue.
        Assert.Equal(["a-" + queue], (await guest.ListAsync(queue, Everything)).Messages.Select(m => m.Body.GetString()));
        var claim = await guest.ClaimAsync(queue, limit: 20, ttlSeconds: 60, graceSeconds: 60);
        Assert.Equal(["a-" + queue], claim.Messages.Select(m => m.Body.GetString()));
        await guest.DeleteAsync(queue, claim.Messages[0].Id, claim.Id);
        await guest.PostAsync(reply, OutgoingMessage.Of("reply"));

        Assert.Equal(new QueueStats(0, 0, 0), await a.GetQueueStatsAsync(queue));
        Assert.Equal(2, (await a.GetQueueStatsAsync(reply)).Total);
        Assert.Equal(new QueueStats(0, 1, 1), await a.GetQueueStatsAsync(otherOfA));
        foreach (var q in new[] { queue, reply, onlyB })
        {
            Assert.Equal(new QueueStats(0, 1, 1), await b.GetQueueStatsAsync(q));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_busy_presigned_guest_answers_a_ping_out_of_turn_only_if_its_url_allows_reading_the_queue(bool urlAllowsGet)
    {
        var (a, queue, reply) = await QueuesOfAAsync();
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        var commandUrl = _bed.Mint(Tenant.A, queue, tomorrow, ["messages", "claims"], urlAllowsGet ? ["GET", "POST", "DELETE"] : ["POST", "DELETE"]);
        var replyUrl = _bed.Mint(Tenant.A, reply, tomorrow, ["messages"], ["POST"]);
        var tenant = new TestTenant("t1", _bed.TenantA.ProjectId, queue, reply, MaxOperations: 1,
            ExtraConfig: Guestctl.PreSignedAuthBlock(commandUrl, replyUrl));
        using var agent = AgentProcess.Start(_bed.ZaqarUrl, [tenant]);
        var controller = new RawController(a, queue, reply, TestKeys.K1, [TestKeys.K1]);

        // The only slot is busy for 8 s.
        var busy = await controller.SendAsync(controller.Exec(new ExecArgs { Shell = "sleep 8" }));
        await controller.WaitForAsync(busy.Id, ReplyStatus.Accepted, E2EContext.Wait);
        var ping = await controller.SendAsync(controller.Call(new PingArgs()));

        if (urlAllowsGet)
        {
            Assert.Equal(ReplyStatus.Succeeded, (await controller.FinalAsync(ping.Id, E2EContext.Wait)).Status);
            Assert.DoesNotContain(await controller.SeenAsync(busy.Id), r => r.Final);
        }
        else
        {
            // Zaqar refuses the GET (404 for a URL not signed for it); the ping waits its turn, and nothing else breaks.
            await agent.WaitForLogAsync("without claiming was refused (HTTP 404)", E2EContext.Wait);
            Assert.Empty(await controller.SeenAsync(ping.Id));
            Assert.Equal(ReplyStatus.Succeeded, (await controller.FinalAsync(busy.Id, E2EContext.Wait)).Status);
            Assert.Equal(ReplyStatus.Succeeded, (await controller.FinalAsync(ping.Id, E2EContext.Wait)).Status);
        }
    }
}
