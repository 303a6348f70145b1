using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// The transport floor of a file transfer: the same number of chunk-sized messages (real
/// file.put chunk commands of the largest size) posted with the same window of POSTs in flight,
/// claimed and deleted one by one as the agent does, with no agent. The file bytes moved per
/// second is what Zaqar alone allows.
/// </summary>
public static class RawPayloadRate
{
    public static async Task<double> MeasureMiBPerSecondAsync(ZaqarClient zaqar, long fileBytes, int window)
    {
        var queue = "bench-raw-" + Guid.NewGuid().ToString("N")[..8];
        var chunkBytes = ProtocolLimits.MaxChunkDataBytes();
        var count = (int)FilePutArgs.ExpectedCount(fileBytes, chunkBytes);
        var body = ChunkBody(count, chunkBytes, "bench-raw-replies");

        var sw = Stopwatch.StartNew();
        var posted = 0;
        var producer = Task.Run(async () =>
        {
            using var slots = new SemaphoreSlim(window);
            var posts = new List<Task>();
            for (var i = 0; i < count; i++)
            {
                await slots.WaitAsync();
                posts.Add(Task.Run(async () =>
                {
                    try
                    {
                        await zaqar.PostAsync(queue, new OutgoingMessage(body, 600));
                        Interlocked.Increment(ref posted);
                    }
                    finally
                    {
                        slots.Release();
                    }
                }));
            }
            await Task.WhenAll(posts);
        });
        var consumed = 0;
        while (consumed < count)
        {
            var claim = await zaqar.ClaimAsync(queue, 20, 60, 60);
            if (claim.Messages.Count == 0)
            {
                if (producer.IsFaulted)
                {
                    await producer;
                }
                await Task.Delay(10);
                continue;
            }
            foreach (var m in claim.Messages)
            {
                await zaqar.DeleteAsync(queue, m.Id, claim.Id);
                consumed++;
            }
        }
        await producer;
        return (double)fileBytes / (1024 * 1024) / sw.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// The floor of a put's own request pattern, with no agent: each chunk (the same commands as
    /// <see cref="MeasureMiBPerSecondAsync"/>) stays in the window until its reply is read, as a
    /// put's does. A consumer claims what waits (up to the window), deletes the batch in one
    /// request and posts one small reply per chunk (ten to a request); this process claims the
    /// replies, deletes them and frees their window places. Empty claims wait 2 ms on both sides
    /// (the agent and the SDK wait longer). What a put adds over this is the agent's and the SDK's own work.
    /// </summary>
    public static async Task<double> MeasureRoundTripFloorMiBPerSecondAsync(ZaqarClient zaqar, long fileBytes, int window)
    {
        var queue = "bench-rt-" + Guid.NewGuid().ToString("N")[..8];
        var replies = queue + "-replies";
        var chunkBytes = ProtocolLimits.MaxChunkDataBytes();
        var count = (int)FilePutArgs.ExpectedCount(fileBytes, chunkBytes);
        var body = ChunkBody(count, chunkBytes, replies);
        var reply = JsonNode.Parse("""{"kind":"final","status":"succeeded","result":{"written":true}}""");
        using var slots = new SemaphoreSlim(window);
        using var stop = new CancellationTokenSource();
        // Claims up to limit messages of q and deletes them in one request: their ids, none when nothing waited.
        async Task<IReadOnlyList<string>> TakeAsync(string q, int limit)
        {
            var claim = await zaqar.ClaimAsync(q, limit, 60, 60, stop.Token);
            var ids = claim.Messages.Select(m => m.Id).ToList();
            if (ids.Count > 0)
            {
                await (ids.Count == 1 ? zaqar.DeleteAsync(q, ids[0], claim.Id, stop.Token) : zaqar.DeleteManyAsync(q, ids, [claim.Id!], stop.Token));
            }
            return ids;
        }
        var sw = Stopwatch.StartNew();
        var producer = Task.Run(async () =>
        {
            var posts = new List<Task>();
            for (var i = 0; i < count; i++)
            {
                await slots.WaitAsync(stop.Token);
                posts.Add(zaqar.PostAsync(queue, new OutgoingMessage(body, 600)));
            }
            await Task.WhenAll(posts);
        });
        var consumer = Task.Run(async () =>
        {
            var done = 0;
            while (done < count)
            {
                var ids = await TakeAsync(queue, Math.Min(20, window));
                if (ids.Count == 0)
                {
                    await Task.Delay(2, stop.Token);
                    continue;
                }
                foreach (var batch in ids.Chunk(10))
                {
                    await zaqar.PostAsync(replies, [.. batch.Select(_ => new OutgoingMessage(reply, 600))], stop.Token);
                }
                done += ids.Count;
            }
        });
        var answered = 0;
        try
        {
            while (answered < count)
            {
                var ids = await TakeAsync(replies, 20);
                if (ids.Count == 0)
                {
                    foreach (var t in new[] { producer, consumer }.Where(t => t.IsFaulted))
                    {
                        await t;
                    }
                    await Task.Delay(2, stop.Token);
                    continue;
                }
                answered += ids.Count;
                slots.Release(ids.Count);
            }
            await Task.WhenAll(producer, consumer);
        }
        finally
        {
            await stop.CancelAsync();
        }
        return (double)fileBytes / (1024 * 1024) / sw.Elapsed.TotalSeconds;
    }

    /// <summary>A real file.put chunk command of the largest size, as a put's are.</summary>
    private static JsonNode? ChunkBody(int count, int chunkBytes, string replyTo) =>
        JsonNode.Parse(Command.Call(new FilePutArgs
        {
            TransferId = Guid.NewGuid(),
            Path = "/srv/bench/file.bin",
            Size = (long)count * chunkBytes,
            Sha256 = new string('0', 64),
            ChunkBytes = chunkBytes,
            Index = 0,
            Count = count,
            DataB64 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(chunkBytes)),
        }, replyTo, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddHours(1)).ToJson());
}
