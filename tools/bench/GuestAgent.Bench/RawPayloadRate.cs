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
        var data = RandomNumberGenerator.GetBytes(chunkBytes);
        var body = JsonNode.Parse(Command.Call(new FilePutArgs
        {
            TransferId = Guid.NewGuid(),
            Path = "/srv/bench/file.bin",
            Size = (long)count * chunkBytes,
            Sha256 = new string('0', 64),
            ChunkBytes = chunkBytes,
            Index = 0,
            Count = count,
            DataB64 = Convert.ToBase64String(data),
        }, "bench-raw-replies", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddHours(1)).ToJson());

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
}
