using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Zaqar.Tests;

/// <summary>
/// Zaqar stores bodies a strict JSON reader refuses: NaN and Infinity (Python's json writes and reads
/// them) and nesting far deeper than 64 levels. Each such body is judged on its own: it never makes a
/// claim, a listing, a lookup or the queue's stats unreadable, and the good messages beside it arrive whole.
/// </summary>
public sealed class HostileBodyTests
{
    private static readonly string[] Hostile =
    [
        """{"v":1,"x":NaN}""",
        """{"x":[Infinity,-Infinity]}""",
        ZaqarBed.Nested(62),
        ZaqarBed.Nested(200),
        """{"s":"a \"body\": [NaN] inside a string"}""",
    ];

    private readonly ZaqarBed _bed = ZaqarBed.Shared;

    private async Task<(ZaqarClient Zaqar, string Queue, IReadOnlyList<string> Ids)> QueueWithHostileBodiesAsync()
    {
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue();
        var ids = await _bed.PostRawBodiesAsync(project, queue, ["""{"n":0}""", .. Hostile, """{"n":1}"""]);
        return (_bed.Client(project), queue, ids);
    }

    private static void AssertJudgedOneByOne(IReadOnlyList<string> ids, IReadOnlyList<QueueMessage> messages)
    {
        Assert.Equal(ids, messages.Select(m => m.Id));
        var byId = messages.ToDictionary(m => m.Id);
        Assert.Equal(0, byId[ids[0]].Body.GetProperty("n").GetInt32());
        Assert.Equal(1, byId[ids[^1]].Body.GetProperty("n").GetInt32());
        // NaN and Infinity are not JSON: kept as text, with the reason.
        Assert.NotNull(byId[ids[1]].BodyError);
        Assert.Equal("""{"v":1,"x":NaN}""", byId[ids[1]].RawBody.Replace(" ", ""));
        Assert.NotNull(byId[ids[2]].BodyError);
        Assert.Equal("""{"x":[Infinity,-Infinity]}""", byId[ids[2]].RawBody.Replace(" ", ""));
        // Deep bodies are JSON: read whole, whatever their depth.
        Assert.Null(byId[ids[3]].BodyError);
        Assert.Equal(ZaqarBed.Nested(62), byId[ids[3]].RawBody.Replace(" ", ""));
        Assert.Null(byId[ids[4]].BodyError);
        Assert.Equal(ZaqarBed.Nested(200), byId[ids[4]].RawBody.Replace(" ", ""));
        Assert.Equal("a \"body\": [NaN] inside a string", byId[ids[5]].Body.GetProperty("s").GetString());
    }

    [Fact]
    public async Task A_claim_with_NaN_and_deep_bodies_returns_every_message_each_judged_on_its_own()
    {
        var (zaqar, queue, ids) = await QueueWithHostileBodiesAsync();

        var claim = await zaqar.ClaimAsync(queue, limit: 20, ttlSeconds: 60, graceSeconds: 60);

        Assert.NotNull(claim.Id);
        AssertJudgedOneByOne(ids, claim.Messages);
        var info = await zaqar.GetClaimAsync(queue, claim.Id!);
        AssertJudgedOneByOne(ids, info!.Messages);
        // Every message can be answered and deleted: none stays to block the queue.
        foreach (var m in claim.Messages)
        {
            await zaqar.DeleteAsync(queue, m.Id, claim.Id);
        }
        Assert.Equal(0, (await zaqar.GetQueueStatsAsync(queue)).Total);
    }

    [Fact]
    public async Task Listing_lookup_and_stats_read_a_queue_whose_oldest_and_newest_bodies_are_not_json()
    {
        var project = ZaqarBed.NewProject();
        var queue = ZaqarBed.NewQueue();
        var ids = await _bed.PostRawBodiesAsync(project, queue, """{"x":NaN}""", ZaqarBed.Nested(300), """{"n":2}""", """[Infinity]""");
        var zaqar = _bed.Client(project);

        var stats = await zaqar.GetQueueStatsAsync(queue);
        var listed = new List<QueueMessage>();
        await foreach (var m in zaqar.ListAllAsync(queue, new ListOptions { Limit = 2, Echo = true }))
        {
            listed.Add(m);
        }
        var one = await zaqar.GetAsync(queue, ids[0]);
        var many = await zaqar.GetManyAsync(queue, ids);

        Assert.Equal(4, stats.Total);
        Assert.Equal(ids, listed.Select(m => m.Id));
        Assert.NotNull(one!.BodyError);
        Assert.Equal("""{"x":NaN}""", one.RawBody.Replace(" ", ""));
        Assert.Equal(ids.Order(), many.Select(m => m.Id).Order());
        Assert.Equal(2, many.Single(m => m.Id == ids[2]).Body.GetProperty("n").GetInt32());
        Assert.Equal(2, many.Count(m => m.BodyError is not null));
    }
}
