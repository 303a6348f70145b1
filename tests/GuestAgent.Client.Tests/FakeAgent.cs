using System.Text.Json.Nodes;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Protocol.Signing;
using GuestAgent.Zaqar;

namespace GuestAgent.Client.Tests;

/// <summary>An agent's hand-made replies, under its name: what any stand-in for the agent answers with.</summary>
internal class AgentReplies(string name)
{
    public string Name { get; } = name;

    public Reply Reply(Command command, long seq, ReplyStatus status, ReplyError? error = null, Chunk? chunk = null) =>
        new(command.Id, seq, status, Name, DateTimeOffset.UtcNow, Error: error, Chunk: chunk);

    public Reply Reply<T>(Command command, long seq, ReplyStatus status, T result) =>
        GuestAgent.Protocol.Reply.WithResult(command.Id, seq, status, Name, DateTimeOffset.UtcNow, result);
}

/// <summary>
/// A stand-in for the agent: claims the command queue with its own Zaqar client and posts
/// hand-made replies, in whatever order and number a test wants.
/// </summary>
internal sealed partial class FakeAgent(ZaqarClient zaqar, string commandQueue, string name = "fake-vm") : AgentReplies(name)
{

    /// <summary>The next command on the queue (parsed and checked like the agent would), deleted from the queue.</summary>
    public async Task<Command> NextAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTimeOffset.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (DateTimeOffset.UtcNow < deadline)
        {
            Claim claim;
            try
            {
                claim = await zaqar.ClaimAsync(commandQueue, limit: 1, ttlSeconds: 60, graceSeconds: 60);
            }
            catch (ZaqarException e) when (e.IsTransient)
            {
                // A busy shared bed: a real agent would back off and try again, and so does this one.
                await Task.Delay(200);
                continue;
            }
            foreach (var m in claim.Messages)
            {
                await zaqar.DeleteAsync(commandQueue, m.Id, claim.Id);
                var parsed = CommandParser.Parse(m.Body, DateTimeOffset.UtcNow);
                Assert.True(parsed.IsAccepted, $"The client posted a command the agent would reject: {parsed.Rejection}");
                return parsed.Command!;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"No command on {commandQueue}.");
    }

    /// <summary>Posts the replies to the command's reply_to, one message each, in the order given.</summary>
    public async Task SendAsync(Command command, params Reply[] replies)
    {
        Assert.NotNull(command.ReplyTo);
        foreach (var reply in replies)
        {
            await Repeat(() => zaqar.PostAsync(command.ReplyTo!, new OutgoingMessage(JsonNode.Parse(reply.ToUtf8Bytes()), 600)));
        }
    }

    /// <summary>Posts the replies signed with <paramref name="key"/>, as an agent holding that key answers.</summary>
    public async Task SendSignedAsync(Command command, SigningKey key, params Reply[] replies)
    {
        Assert.NotNull(command.ReplyTo);
        foreach (var reply in replies)
        {
            await Repeat(() => zaqar.PostAsync(command.ReplyTo!, new OutgoingMessage(Signatures.SignReply(reply, key), 600)));
        }
    }

    /// <summary>Answers the next <paramref name="count"/> commands with <paramref name="answer"/>.</summary>
    public Task ServeAsync(int count, Func<Command, Reply[]> answer) => Task.Run(async () =>
    {
        for (var i = 0; i < count; i++)
        {
            var command = await NextAsync();
            await SendAsync(command, answer(command));
        }
    });

    public static PingResult Ping(string agent) => new("0.1.0", 42, OpCatalog.Standard.OpNames.Order().ToList(), "linux", "vm1.example", agent);
}
