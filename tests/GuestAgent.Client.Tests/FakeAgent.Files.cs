using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Zaqar;

namespace GuestAgent.Client.Tests;

/// <summary>What the fake agent does with one file.put chunk instead of answering it normally.</summary>
internal sealed record PutFault(string Kind, string? Code = null)
{
    /// <summary>Answer <c>interrupted</c> without keeping the chunk (the agent stopped mid-chunk).</summary>
    public static PutFault Interrupt { get; } = new("interrupt");

    /// <summary>Keep the chunk but post no reply at all (the replies were lost).</summary>
    public static PutFault NoReply { get; } = new("no_reply");

    /// <summary>Answer <c>failed</c> with this error code, keeping nothing.</summary>
    public static PutFault Fail(string code) => new("fail", code);
}

/// <summary>
/// The file side of the fake agent: a guest file system in memory and file.put / file.get answered as
/// docs/protocol.md specifies (accepted, then the result; chunk replies of stream "file" for a read),
/// with hooks to break things. Every command it sees is logged.
/// </summary>
internal sealed class FakeFiles
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Transfer> _transfers = [];
    private readonly List<FilePutArgs> _puts = [];
    private readonly List<FileGetArgs> _gets = [];

    /// <summary>The guest's files.</summary>
    public Dictionary<string, byte[]> Content { get; } = [];

    /// <summary>Chunk size of file.get replies.</summary>
    public int GetChunkBytes { get; set; } = 1000;

    /// <summary>Bytes of a read that go inline in the final reply.</summary>
    public int GetInlineCap { get; set; } = 100;

    /// <summary>How many missing indexes a file.put answer lists (the spec's 1,000, smaller to test paging).</summary>
    public int MissingListed { get; set; } = FilePutResult.MaxMissingListed;

    /// <summary>Reject every file.put as <c>forbidden</c>, as an agent without it does.</summary>
    public bool RejectPut { get; set; }

    /// <summary>Given a chunk and how many times its index came before, what to do instead of answering normally (null: answer).</summary>
    public Func<FilePutArgs, int, PutFault?>? PutFault { get; set; }

    /// <summary>Changes a file.get chunk before it is sent (e.g. to corrupt it).</summary>
    public Func<Chunk, Chunk>? MutateGetChunk { get; set; }

    /// <summary>Changes a file.get result before it is sent.</summary>
    public Func<FileGetResult, FileGetResult>? MutateGetResult { get; set; }

    /// <summary>Every file.put chunk command seen, in order.</summary>
    public IReadOnlyList<FilePutArgs> Puts
    {
        get
        {
            lock (_lock)
            {
                return _puts.ToList();
            }
        }
    }

    public IReadOnlyList<FileGetArgs> Gets
    {
        get
        {
            lock (_lock)
            {
                return _gets.ToList();
            }
        }
    }

    public void ClearLog()
    {
        lock (_lock)
        {
            _puts.Clear();
            _gets.Clear();
        }
    }

    /// <summary>Indexes the agent holds of a transfer (empty when it has none).</summary>
    public IReadOnlySet<int> Held(Guid transferId)
    {
        lock (_lock)
        {
            return _transfers.TryGetValue(transferId, out var t) ? t.Chunks.Keys.ToHashSet() : [];
        }
    }

    public Reply[] Answer(AgentReplies agent, Command c)
    {
        lock (_lock)
        {
            return c.Args switch
            {
                FilePutArgs put => Put(agent, c, put),
                FileGetArgs get => Get(agent, c, get),
                _ => [agent.Reply(c, 0, ReplyStatus.Rejected, error: new ReplyError(RejectCodes.UnknownOp, $"the fake serves files only, not {c.Op}"))],
            };
        }
    }

    private Reply[] Put(AgentReplies agent, Command c, FilePutArgs a)
    {
        var before = _puts.Count(p => p.TransferId == a.TransferId && p.Index == a.Index);
        _puts.Add(a);
        if (RejectPut)
        {
            return [agent.Reply(c, 0, ReplyStatus.Rejected, error: new ReplyError(RejectCodes.Forbidden, "op file.put is not allowed for this tenant"))];
        }
        Reply Failed(string code, string message) => agent.Reply(c, 1, ReplyStatus.Failed, error: new ReplyError(code, message));
        var accepted = agent.Reply(c, 0, ReplyStatus.Accepted);
        var fault = PutFault?.Invoke(a, before);
        switch (fault?.Kind)
        {
            case "interrupt":
                return [accepted, agent.Reply(c, 1, ReplyStatus.Interrupted, error: new ReplyError("interrupted", "the agent stopped while the command ran"))];
            case "fail":
                return [accepted, Failed(fault.Code!, $"injected {fault.Code}")];
        }

        if (!_transfers.TryGetValue(a.TransferId, out var t))
        {
            if (Content.ContainsKey(a.Path) && !a.Overwrite)
            {
                return [accepted, Failed("exists", $"{a.Path} exists and overwrite is false")];
            }
            t = new Transfer(a);
            _transfers.Add(a.TransferId, t);
        }
        var f = t.First;
        if (f.Path != a.Path || f.Size != a.Size || f.Sha256 != a.Sha256 || f.ChunkBytes != a.ChunkBytes || f.Count != a.Count
            || f.Mode != a.Mode || f.Owner != a.Owner || f.Group != a.Group || f.Overwrite != a.Overwrite)
        {
            return [accepted, Failed("transfer_mismatch", $"chunk {a.Index} disagrees with transfer {a.TransferId}")];
        }
        if (!t.Complete)
        {
            t.Chunks.TryAdd(a.Index, a.DecodeData());
            if (t.Chunks.Count == a.Count)
            {
                var whole = Enumerable.Range(0, a.Count).SelectMany(i => t.Chunks[i]).ToArray();
                var sha = Convert.ToHexStringLower(SHA256.HashData(whole));
                if (sha != a.Sha256)
                {
                    _transfers.Remove(a.TransferId);
                    return [accepted, Failed("checksum_mismatch", $"the chunks hash to {sha}, not {a.Sha256}")];
                }
                Content[a.Path] = whole;
                t.Complete = true;
            }
        }
        if (fault?.Kind == "no_reply")
        {
            return [];
        }
        var missing = Enumerable.Range(0, a.Count).Where(i => !t.Chunks.ContainsKey(i)).Take(MissingListed).ToList();
        var result = new FilePutResult(a.TransferId, t.Chunks.Count, a.Count, missing, t.Complete, a.Path,
            t.Complete ? a.Size : null, t.Complete ? a.Sha256 : null);
        return [accepted, agent.Reply(c, 1, ReplyStatus.Succeeded, result)];
    }

    private Reply[] Get(AgentReplies agent, Command c, FileGetArgs a)
    {
        _gets.Add(a);
        var accepted = agent.Reply(c, 0, ReplyStatus.Accepted);
        if (!Content.TryGetValue(a.Path, out var content))
        {
            return [accepted, agent.Reply(c, 1, ReplyStatus.Failed, error: new ReplyError("not_found", $"{a.Path} does not exist"))];
        }
        if (a.Offset > content.Length)
        {
            return [accepted, agent.Reply(c, 1, ReplyStatus.Failed,
                error: new ReplyError("invalid_offset", $"offset {a.Offset} is past the end of {a.Path} ({content.Length} bytes)"))];
        }
        var data = content.AsMemory((int)a.Offset);
        var inline = Math.Min(GetInlineCap, data.Length);
        var chunks = Chunker.Split(data, GetChunkBytes, ChunkStreams.File, inline).Select(ch => MutateGetChunk?.Invoke(ch) ?? ch).ToList();
        var result = new FileGetResult(a.Path, content.Length, a.Offset, data.Length, "0644",
            Convert.ToHexStringLower(SHA256.HashData(content)), StreamOutput.From(data.Span, inline, chunks.Count));
        result = MutateGetResult?.Invoke(result) ?? result;
        return
        [
            accepted,
            .. chunks.Select((ch, i) => agent.Reply(c, 1 + i, ReplyStatus.Progress, chunk: ch)),
            agent.Reply(c, 1 + chunks.Count, ReplyStatus.Succeeded, result),
        ];
    }

    private sealed class Transfer(FilePutArgs first)
    {
        public FilePutArgs First { get; } = first;
        public Dictionary<int, byte[]> Chunks { get; } = [];
        public bool Complete { get; set; }
    }
}

internal sealed partial class FakeAgent
{
    /// <summary>The guest files and file-op log of <see cref="ServeFilesAsync"/>.</summary>
    public FakeFiles Files { get; } = new();

    /// <summary>
    /// Answers file.put and file.get commands (others are rejected) until <paramref name="ct"/> is
    /// cancelled, several per claim. Commands are checked by the real parser, as the agent would.
    /// </summary>
    public Task ServeFilesAsync(CancellationToken ct) => Task.Run(async () =>
    {
        while (!ct.IsCancellationRequested)
        {
            Claim claim;
            try
            {
                claim = await zaqar.ClaimAsync(commandQueue, limit: 10, ttlSeconds: 60, graceSeconds: 60, ct);
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (ZaqarException e) when (e.IsTransient)
            {
                await Task.Delay(200, CancellationToken.None);
                continue;
            }
            if (claim.IsEmpty)
            {
                try
                {
                    await Task.Delay(20, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            foreach (var m in claim.Messages)
            {
                await Repeat(() => zaqar.DeleteAsync(commandQueue, m.Id, claim.Id));
                var parsed = CommandParser.Parse(m.Body, DateTimeOffset.UtcNow);
                Assert.True(parsed.IsAccepted, $"The client posted a command the agent would reject: {parsed.Rejection}");
                var command = parsed.Command!;
                foreach (var reply in Files.Answer(this, command))
                {
                    // A reply posted twice is harmless (the client drops the duplicate (id, seq)), one lost is not.
                    await Repeat(() => zaqar.PostAsync(command.ReplyTo!, new OutgoingMessage(JsonNode.Parse(reply.ToUtf8Bytes()), 600)));
                }
            }
        }
    }, CancellationToken.None);

    /// <summary>Repeats a Zaqar request after transient failures (the bed's single-threaded server drops some), as the agent's outbox does.</summary>
    private static async Task Repeat(Func<Task> request)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await request();
                return;
            }
            catch (ZaqarException e) when (e.IsTransient && attempt < 5)
            {
                await Task.Delay(100 * attempt);
            }
        }
    }
}
