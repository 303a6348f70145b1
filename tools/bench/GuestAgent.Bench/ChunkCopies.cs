using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// What a file.put chunk costs in memory and time on the two code paths that need no server: the
/// controller writing its Zaqar post (the command as the SDK hands it to the transport, a node read
/// from its bytes) and the agent parsing the command (signature, fields, the data decoded). A chunk
/// of the largest size is about a third of a megabyte of JSON, so each whole copy of it shows here
/// as that much more allocated per chunk. Allocation is exact; the times move with the machine.
/// </summary>
public static class ChunkCopies
{
    public static void Run(int chunks)
    {
        var key = new SigningKey("bench", RandomNumberGenerator.GetBytes(32));
        var data = RandomNumberGenerator.GetBytes(ProtocolLimits.MaxChunkDataBytes());
        var now = DateTimeOffset.UtcNow;
        var args = new FilePutArgs
        {
            TransferId = Guid.NewGuid(), Path = "/srv/bench/file", Size = data.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(data)),
            ChunkBytes = data.Length, Index = 0, Count = 1, DataB64 = Convert.ToBase64String(data),
        };
        var command = Command.Call(args, "bench-replies", now, now.AddMinutes(10));
        var signed = Signatures.SignCommand(command, key);
        var wire = System.Text.Encoding.UTF8.GetBytes(signed.ToJsonString(ProtocolJson.Options));
        var policy = new SigningPolicy([key], AllowUnsigned: false, SigningPolicy.DefaultMaxLifetime);

        Measure("controller: the command's Zaqar post written", chunks, () => ZaqarClient.PostBodySize([new OutgoingMessage(JsonNode.Parse(wire), 300)]));
        Measure("agent: the command parsed, checked and its data decoded", chunks, () =>
        {
            var parsed = CommandParser.Parse(wire, now, null, policy);
            return parsed.IsAccepted ? ((FilePutArgs)parsed.Command.Args).DecodeData().Length : throw new InvalidOperationException(parsed.Rejection.Message);
        });
        Console.WriteLine($"chunk: {data.Length} bytes of data, {wire.Length} bytes of JSON");
    }

    private static void Measure(string what, int chunks, Func<int> once)
    {
        for (var i = 0; i < 20; i++)
        {
            once();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < chunks; i++)
        {
            once();
        }
        sw.Stop();
        var kib = (GC.GetAllocatedBytesForCurrentThread() - allocated) / 1024.0 / chunks;
        Console.WriteLine($"{what}: {kib:F0} KiB allocated per chunk, {sw.Elapsed.TotalMilliseconds * 1000 / chunks:F0} us per chunk ({chunks} chunks)");
        Results.Emit("file", "guest-agent", "a largest file.put chunk (no server): " + what + ", allocated", "KiB", kib);
    }
}
