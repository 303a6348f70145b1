using System.Text.Json.Nodes;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Zaqar.Tests;

public sealed class MessageTests
{
    private readonly ZaqarBed _bed = ZaqarBed.Shared;

    [Fact]
    public async Task Batch_post_returns_ids_in_order_and_listing_pages_through_all_of_them()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var batch = Enumerable.Range(0, 25).Select(i => OutgoingMessage.Of(new { n = i }, ttlSeconds: 300)).ToList();

        var ids = await zaqar.PostAsync(queue, batch);

        Assert.Equal(25, ids.Distinct().Count());
        var listed = new List<QueueMessage>();
        await foreach (var m in zaqar.ListAllAsync(queue, new ListOptions { Limit = 7, Echo = true }))
        {
            listed.Add(m);
        }
        Assert.Equal(ids, listed.Select(m => m.Id));
        Assert.Equal(Enumerable.Range(0, 25), listed.Select(m => m.Body.GetProperty("n").GetInt32()));
        Assert.All(listed, m => Assert.Equal(300, m.TtlSeconds));
    }

    [Fact]
    public async Task Listing_hides_own_messages_unless_echo_is_asked()
    {
        var project = ZaqarBed.NewProject();
        var poster = _bed.Client(project);
        var other = _bed.Client(project);
        var queue = ZaqarBed.NewQueue();
        await poster.PostAsync(queue, OutgoingMessage.Of("mine"));

        Assert.Empty((await poster.ListAsync(queue)).Messages);
        Assert.Single((await poster.ListAsync(queue, new ListOptions { Echo = true })).Messages);
        Assert.Single((await other.ListAsync(queue)).Messages);
    }

    [Fact]
    public async Task Listing_with_claimed_messages_includes_them()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        await zaqar.PostAsync(queue, [OutgoingMessage.Of(1), OutgoingMessage.Of(2)]);
        await zaqar.ClaimAsync(queue, limit: 1, ttlSeconds: 60, graceSeconds: 60);

        var unclaimed = await zaqar.ListAsync(queue, new ListOptions { Echo = true });
        var all = await zaqar.ListAsync(queue, new ListOptions { Echo = true, IncludeClaimed = true });

        Assert.Single(unclaimed.Messages);
        Assert.Equal(2, all.Messages.Count);
    }

    [Fact]
    public async Task Get_by_id_and_by_ids_return_bodies_and_unknown_ids_are_absent()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var body = new JsonObject { ["op"] = "exec", ["argv"] = new JsonArray("echo", "ü ✓") };
        var ids = await zaqar.PostAsync(queue, [new OutgoingMessage(body), OutgoingMessage.Of(2)]);

        var one = await zaqar.GetAsync(queue, ids[0]);
        var many = await zaqar.GetManyAsync(queue, [ids[0], ids[1], Guid.NewGuid().ToString()]);

        Assert.NotNull(one);
        Assert.Equal("ü ✓", one.Body.GetProperty("argv")[1].GetString());
        Assert.Equal(ids.Order(), many.Select(m => m.Id).Order());
        Assert.Null(await zaqar.GetAsync(queue, Guid.NewGuid().ToString()));
        Assert.Empty(await zaqar.GetManyAsync(queue, [Guid.NewGuid().ToString()]));
    }

    [Fact]
    public async Task Unclaimed_message_is_deleted_without_claim_id()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var id = await zaqar.PostAsync(queue, OutgoingMessage.Of("x"));

        await zaqar.DeleteAsync(queue, id);

        Assert.Null(await zaqar.GetAsync(queue, id));
    }

    [Fact]
    public async Task Oversize_post_is_refused_before_it_is_sent_and_the_largest_legal_one_is_taken()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var empty = ZaqarClient.PostBodySize([OutgoingMessage.Of("")]);
        var exactFit = OutgoingMessage.Of(new string('a', ZaqarLimits.MaxPostBodyBytes - empty));
        var oneTooMany = OutgoingMessage.Of(new string('a', ZaqarLimits.MaxPostBodyBytes - empty + 1));
        Assert.Equal(ZaqarLimits.MaxPostBodyBytes, ZaqarClient.PostBodySize([exactFit]));
        var before = zaqar.RequestsSent;

        var ex = await Assert.ThrowsAsync<ZaqarLimitException>(() => zaqar.PostAsync(queue, oneTooMany));

        Assert.Contains("262144", ex.Message);
        Assert.Equal(before, zaqar.RequestsSent);
        var id = await zaqar.PostAsync(queue, exactFit);
        Assert.Equal(ZaqarLimits.MaxPostBodyBytes - empty, (await zaqar.GetAsync(queue, id))!.Body.GetString()!.Length);
    }

    [Fact]
    public async Task Base64_and_markup_characters_travel_unescaped_so_a_body_costs_its_own_size()
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());
        var queue = ZaqarBed.NewQueue();
        var payload = Convert.ToBase64String(Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray()) + "<&>'+/=";
        var empty = ZaqarClient.PostBodySize([OutgoingMessage.Of("")]);

        Assert.Equal(empty + payload.Length, ZaqarClient.PostBodySize([OutgoingMessage.Of(payload)]));
        var id = await zaqar.PostAsync(queue, OutgoingMessage.Of(payload));
        Assert.Equal(payload, (await zaqar.GetAsync(queue, id))!.Body.GetString());
    }

    [Theory]
    [InlineData(59)]
    [InlineData(1_209_601)]
    public async Task Message_ttl_outside_zaqar_range_is_refused_before_sending(int ttl)
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => zaqar.PostAsync(ZaqarBed.NewQueue(), OutgoingMessage.Of(1, ttl)));

        Assert.Equal(0, zaqar.RequestsSent);
    }

    [Theory]
    [InlineData("has.dot")]
    [InlineData("has space")]
    [InlineData("")]
    public async Task Bad_queue_names_are_refused_before_sending(string queue)
    {
        var zaqar = _bed.Client(ZaqarBed.NewProject());

        await Assert.ThrowsAnyAsync<ArgumentException>(() => zaqar.PostAsync(queue, OutgoingMessage.Of(1)));

        Assert.Equal(0, zaqar.RequestsSent);
    }
}
