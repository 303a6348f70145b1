using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>
/// A controller written against the wire protocol alone (no SDK): posts commands, or any raw
/// body, and collects replies from its reply queue. Replies for other commands are kept for
/// later calls, so several commands can be in flight.
/// </summary>
/// <remarks>
/// Every JSON object it posts is signed with <see cref="Key"/> (unless it carries a <c>sig</c> already
/// or the key is null), so that tests of other things need not care about signing. Replies are kept
/// whether signed or not; <see cref="SignatureOf"/> tells how each one verified against <see cref="VerifyKeys"/>.
/// </remarks>
public sealed class RawController(ZaqarClient zaqar, string commandQueue, string replyQueue, SigningKey? key = null,
    IReadOnlyList<SigningKey>? verifyKeys = null)
{
    private readonly ConcurrentDictionary<Guid, ConcurrentDictionary<long, Reply>> _replies = new();
    private readonly ConcurrentDictionary<(Guid, long), SignatureStatus> _signatures = new();
    private readonly SemaphoreSlim _claiming = new(1, 1);

    public ZaqarClient Zaqar { get; } = zaqar;
    public string CommandQueue { get; } = commandQueue;
    public string ReplyQueue { get; } = replyQueue;

    /// <summary>The key commands are signed with; null: posted unsigned.</summary>
    public SigningKey? Key { get; } = key;

    public IReadOnlyList<SigningKey> VerifyKeys { get; } = verifyKeys ?? (key is null ? [] : [key]);

    public static RawController For(ZaqarBed bed, TestTenant tenant) =>
        new(bed.Client(tenant.Project), tenant.CommandQueue, tenant.ReplyQueue, tenant.Keys.FirstOrDefault(), tenant.Keys);

    /// <summary>The same queues, signing with another key (or none).</summary>
    public RawController WithKey(SigningKey? key) => new(Zaqar, CommandQueue, ReplyQueue, key, VerifyKeys);

    /// <summary>How reply (<paramref name="id"/>, <paramref name="seq"/>) verified, once it has arrived.</summary>
    public SignatureStatus? SignatureOf(Guid id, long seq) => _signatures.TryGetValue((id, seq), out var s) ? s : null;

    public Command Exec(ExecArgs args, CommandMode mode = CommandMode.Call, InterruptPolicy? onInterrupt = null, bool reply = true)
    {
        var now = DateTimeOffset.UtcNow;
        return mode == CommandMode.Call
            ? Command.Call(args, ReplyQueue, now, now.AddMinutes(10), onInterrupt ?? InterruptPolicy.Fail)
            : Command.Cast(args, now, now.AddMinutes(10), reply ? ReplyQueue : null, onInterrupt ?? InterruptPolicy.Rerun);
    }

    public Command Call(OpArgs args)
    {
        var now = DateTimeOffset.UtcNow;
        return Command.Call(args, ReplyQueue, now, now.AddMinutes(10));
    }

    public async Task<Command> SendAsync(Command command)
    {
        await PostRawAsync(JsonNode.Parse(command.ToJson()));
        return command;
    }

    public Task PostRawAsync(JsonNode? body) => Zaqar.PostAsync(CommandQueue, new OutgoingMessage(Signed(body), 600));

    /// <summary>Posts exactly <paramref name="body"/>, signed or not as it is.</summary>
    public Task PostExactAsync(JsonNode? body) => Zaqar.PostAsync(CommandQueue, new OutgoingMessage(body, 600));

    /// <summary><paramref name="body"/> with a signature by <see cref="Key"/> (a JSON-text string body is signed inside).</summary>
    public JsonNode? Signed(JsonNode? body)
    {
        if (Key is null)
        {
            return body;
        }
        if (body is JsonObject obj && !obj.ContainsKey(Signatures.Member))
        {
            return Signatures.Sign(JsonSerializer.SerializeToElement(obj), Key, Signatures.CommandDomain);
        }
        if (body is JsonValue v && v.TryGetValue<string>(out var text))
        {
            try
            {
                return JsonNode.Parse(text) is JsonObject inner ? JsonValue.Create(Signed(inner)!.ToJsonString()) : body;
            }
            catch (JsonException)
            {
                return body; // not JSON inside: nothing to sign
            }
        }
        return body;
    }

    /// <summary>Every reply of <paramref name="id"/> once the final one and all before it are in.</summary>
    public async Task<IReadOnlyList<Reply>> RepliesAsync(Guid id, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_replies.TryGetValue(id, out var got))
            {
                var final = got.Values.FirstOrDefault(r => r.Final);
                if (final is not null && Enumerable.Range(0, (int)final.Seq + 1).All(s => got.ContainsKey(s)))
                {
                    return got.Values.OrderBy(r => r.Seq).ToList();
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                var seen = got is null ? "none" : string.Join(", ", got.Values.OrderBy(r => r.Seq).Select(r => $"{r.Seq}:{r.Status}"));
                throw new TimeoutException($"no complete replies for {id} within {timeout} (got {seen})");
            }
            await PumpAsync();
        }
    }

    public async Task<Reply> FinalAsync(Guid id, TimeSpan timeout) => (await RepliesAsync(id, timeout))[^1];

    /// <summary>Replies seen so far for <paramref name="id"/> (after pumping once).</summary>
    public async Task<IReadOnlyList<Reply>> SeenAsync(Guid id)
    {
        await PumpAsync();
        return _replies.TryGetValue(id, out var got) ? got.Values.OrderBy(r => r.Seq).ToList() : [];
    }

    /// <summary>Waits for a reply of <paramref name="id"/> with the given status.</summary>
    public async Task<Reply> WaitForAsync(Guid id, ReplyStatus status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_replies.TryGetValue(id, out var got) && got.Values.FirstOrDefault(r => r.Status == status) is { } r)
            {
                return r;
            }
            await PumpAsync();
        }
        throw new TimeoutException($"no {status} reply for {id} within {timeout}");
    }

    private async Task PumpAsync()
    {
        await _claiming.WaitAsync();
        try
        {
            var claim = await Zaqar.ClaimAsync(ReplyQueue, 20, 60, 60);
            if (claim.IsEmpty)
            {
                await Task.Delay(100);
                return;
            }
            foreach (var m in claim.Messages)
            {
                if (ReplyParser.TryParse(m.Body, out var reply, out _) && reply is not null)
                {
                    if (_replies.GetOrAdd(reply.Id, _ => new()).TryAdd(reply.Seq, reply))
                    {
                        _signatures[(reply.Id, reply.Seq)] = Signatures.Verify(m.Body, Signatures.ReplyDomain, VerifyKeys).Status;
                    }
                }
                await Zaqar.DeleteAsync(ReplyQueue, m.Id, claim.Id);
            }
        }
        finally
        {
            _claiming.Release();
        }
    }
}
