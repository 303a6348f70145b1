using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Zaqar;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// `guestctl queue ...`: direct Zaqar queue operations, for operators checking a deployment
/// (is Zaqar reachable, what is waiting in a guest's queue, minting a guest's pre-signed URL).
/// </summary>
public static class QueueCommands
{
    private static readonly ZaqarConnection Connection = new(recursive: true);

    public static Command Build()
    {
        var queue = new Command("queue", "Zaqar queue operations.");
        Connection.AddTo(queue);

        var ping = new Command("ping", "Check that Zaqar and its storage answer.");
        ping.SetAction(Guarded(async (r, ct) =>
        {
            var ok = await Client(r).PingAsync(ct);
            Console.WriteLine(ok ? "zaqar is up" : "zaqar is not answering");
            return ok ? 0 : 1;
        }));

        var name = new Argument<string>("queue") { Description = "Queue name" };

        var create = new Command("create", "Create a queue.");
        var maxClaims = new Option<int?>("--max-claim-count") { Description = "Dead-letter a message after this many claims" };
        var dlq = new Option<string?>("--dead-letter-queue") { Description = "Queue that receives dead letters" };
        var ttl = new Option<int?>("--default-ttl") { Description = "Default message TTL in seconds" };
        create.Arguments.Add(name);
        create.Options.Add(maxClaims);
        create.Options.Add(dlq);
        create.Options.Add(ttl);
        create.SetAction(Guarded(async (r, ct) =>
        {
            var created = await Client(r).CreateQueueAsync(r.GetValue(name)!, new QueueOptions
            {
                MaxClaimCount = r.GetValue(maxClaims),
                DeadLetterQueue = r.GetValue(dlq),
                DefaultMessageTtlSeconds = r.GetValue(ttl),
            }, ct);
            Console.WriteLine(created ? $"created {r.GetValue(name)}" : $"{r.GetValue(name)} already exists");
            return 0;
        }));

        var post = new Command("post", "Post one message (JSON body).");
        var body = new Argument<string>("json") { Description = "Message body as JSON" };
        post.Arguments.Add(name);
        post.Arguments.Add(body);
        post.SetAction(Guarded(async (r, ct) =>
        {
            var id = await Client(r).PostAsync(r.GetValue(name)!, new OutgoingMessage(JsonNode.Parse(r.GetValue(body)!)), ct);
            Console.WriteLine(id);
            return 0;
        }));

        var claim = new Command("claim", "Claim messages, print them and delete them (consume).");
        var limit = new Option<int>("--limit") { DefaultValueFactory = _ => 10, Description = "At most this many (1..20)" };
        var keep = new Option<bool>("--keep") { Description = "Release the claim instead of deleting the messages" };
        claim.Arguments.Add(name);
        claim.Options.Add(limit);
        claim.Options.Add(keep);
        claim.SetAction(Guarded(async (r, ct) =>
        {
            var zaqar = Client(r);
            var q = r.GetValue(name)!;
            var c = await zaqar.ClaimAsync(q, r.GetValue(limit), ct: ct);
            foreach (var m in c.Messages)
            {
                // Printed as Zaqar holds it even when it is not JSON (NaN, Infinity): the operator sees it and may delete it.
                Console.WriteLine($"{m.Id} {m.RawBody}");
                if (m.BodyError is { } error)
                {
                    Console.Error.WriteLine($"message {m.Id}: {error}");
                }
                if (!r.GetValue(keep))
                {
                    await zaqar.DeleteAsync(q, m.Id, c.Id, ct);
                }
            }
            if (r.GetValue(keep) && c.Id is not null)
            {
                await zaqar.ReleaseClaimAsync(q, c.Id, ct);
            }
            Console.Error.WriteLine($"{c.Messages.Count} message(s)");
            return 0;
        }));

        var stats = new Command("stats", "Show a queue's message counts.");
        stats.Arguments.Add(name);
        stats.SetAction(Guarded(async (r, ct) =>
        {
            var s = await Client(r).GetQueueStatsAsync(r.GetValue(name)!, ct);
            Console.WriteLine($"free {s.Free}, claimed {s.Claimed}, total {s.Total}");
            return 0;
        }));

        var share = new Command("share", "Get a pre-signed URL for a queue (prints its JSON).");
        var paths = new Option<string[]>("--path") { DefaultValueFactory = _ => ["messages"], Description = "messages, claims (repeat)", AllowMultipleArgumentsPerToken = true };
        var methods = new Option<string[]>("--method") { DefaultValueFactory = _ => ["GET"], Description = "GET, POST, PATCH, DELETE (repeat)", AllowMultipleArgumentsPerToken = true };
        var hours = new Option<double>("--hours") { DefaultValueFactory = _ => 24, Description = "Valid for this many hours" };
        share.Arguments.Add(name);
        share.Options.Add(paths);
        share.Options.Add(methods);
        share.Options.Add(hours);
        share.SetAction(Guarded(async (r, ct) =>
        {
            var url = await Client(r).ShareAsync(r.GetValue(name)!, r.GetValue(paths)!, r.GetValue(methods)!,
                DateTimeOffset.UtcNow.AddHours(r.GetValue(hours)), ct);
            Console.WriteLine(JsonSerializer.Serialize(JsonNode.Parse(url.ToJson()), new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }));

        foreach (var c in new[] { ping, create, post, claim, stats, share })
        {
            queue.Subcommands.Add(c);
        }
        return queue;
    }

    private static ZaqarClient Client(ParseResult r) => Connection.Client(r);

    /// <summary>Zaqar's refusals, its unreadable answers and bad input as one line and exit 125, not a stack trace.</summary>
    private static Func<ParseResult, CancellationToken, Task<int>> Guarded(Func<ParseResult, CancellationToken, Task<int>> action) =>
        async (r, ct) =>
        {
            try
            {
                return await action(r, ct);
            }
            catch (Exception e) when (e is ZaqarException or ZaqarProtocolException or JsonException or ArgumentException)
            {
                Console.Error.WriteLine($"guestctl: {e.Message}");
                return GuestCommands.ExitError;
            }
        };
}
