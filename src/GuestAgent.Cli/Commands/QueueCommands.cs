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
        var queue = new Command("queue", "Zaqar queue operations, straight on Zaqar (no agent involved): ping, create, post, claim, stats, share.")
            .WithExitCodes(ExitCodes);
        Connection.AddTo(queue);

        var ping = new Command("ping", "Check that Zaqar and its storage answer.")
            .WithExitCodes("0 if Zaqar answers; 1 if it answers that it or its storage is not working; 125 if it cannot be reached, or on bad usage.");
        ping.Options.Add(Json);
        ping.SetAction(Guarded(async (r, ct) =>
        {
            var ok = await Client(r).PingAsync(ct);
            Print(r, new Dictionary<string, object?> { ["up"] = ok }, ok ? "zaqar is up" : "zaqar is not answering");
            return ok ? 0 : 1;
        }));

        var name = new Argument<string>("queue") { Description = "Queue name" };

        var create = new Command("create", "Create a queue.").WithExitCodes(ExitCodes);
        var maxClaims = new Option<int?>("--max-claim-count") { Description = "Dead-letter a message after this many claims" };
        var dlq = new Option<string?>("--dead-letter-queue") { Description = "Queue that receives dead letters" };
        var ttl = new Option<int?>("--default-ttl") { Description = "Default message TTL in seconds" };
        create.Arguments.Add(name);
        create.Options.Add(maxClaims);
        create.Options.Add(dlq);
        create.Options.Add(ttl);
        create.Options.Add(Json);
        create.SetAction(Guarded(async (r, ct) =>
        {
            var created = await Client(r).CreateQueueAsync(r.GetValue(name)!, new QueueOptions
            {
                MaxClaimCount = r.GetValue(maxClaims),
                DeadLetterQueue = r.GetValue(dlq),
                DefaultMessageTtlSeconds = r.GetValue(ttl),
            }, ct);
            Print(r, new Dictionary<string, object?> { ["queue"] = r.GetValue(name), ["created"] = created },
                created ? $"created {r.GetValue(name)}" : $"{r.GetValue(name)} already exists");
            return 0;
        }));

        var post = new Command("post", "Post one message (JSON body) and print its id.").WithExitCodes(ExitCodes);
        var body = new Argument<string>("json") { Description = "Message body as JSON" };
        post.Arguments.Add(name);
        post.Arguments.Add(body);
        post.Options.Add(Json);
        post.SetAction(Guarded(async (r, ct) =>
        {
            var id = await Client(r).PostAsync(r.GetValue(name)!, new OutgoingMessage(JsonNode.Parse(r.GetValue(body)!)), ct);
            Print(r, new Dictionary<string, object?> { ["id"] = id }, id);
            return 0;
        }));

        var claim = new Command("claim",
                "Claim messages, print them (one line each: id and body) and delete them (consume). With --json: " +
                "{\"messages\": [{\"id\", \"body\" (as Zaqar holds it, text), \"error\"}]}.")
            .WithExitCodes(ExitCodes);
        var limit = new Option<int>("--limit") { DefaultValueFactory = _ => 10, Description = "At most this many (1..20)" };
        var keep = new Option<bool>("--keep") { Description = "Release the claim instead of deleting the messages" };
        claim.Arguments.Add(name);
        claim.Options.Add(limit);
        claim.Options.Add(keep);
        claim.Options.Add(Json);
        claim.SetAction(Guarded(async (r, ct) =>
        {
            var zaqar = Client(r);
            var q = r.GetValue(name)!;
            var c = await zaqar.ClaimAsync(q, r.GetValue(limit), ct: ct);
            var json = r.GetValue(Json);
            var listed = new JsonArray();
            foreach (var m in c.Messages)
            {
                if (json)
                {
                    listed.Add(new JsonObject { ["id"] = m.Id, ["body"] = m.RawBody, ["error"] = m.BodyError });
                }
                else
                {
                    // Printed as Zaqar holds it even when it is not JSON (NaN, Infinity): the operator sees it and may delete it.
                    Console.WriteLine($"{m.Id} {m.RawBody}");
                    if (m.BodyError is { } error)
                    {
                        Console.Error.WriteLine($"message {m.Id}: {error}");
                    }
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
            if (json)
            {
                Console.WriteLine(new JsonObject { ["messages"] = listed }.ToJsonString());
            }
            else
            {
                Console.Error.WriteLine($"{c.Messages.Count} message(s)");
            }
            return 0;
        }));

        var stats = new Command("stats", "Show a queue's message counts (free, claimed, total).").WithExitCodes(ExitCodes);
        stats.Arguments.Add(name);
        stats.Options.Add(Json);
        stats.SetAction(Guarded(async (r, ct) =>
        {
            var s = await Client(r).GetQueueStatsAsync(r.GetValue(name)!, ct);
            Print(r, new Dictionary<string, object?> { ["queue"] = r.GetValue(name), ["free"] = s.Free, ["claimed"] = s.Claimed, ["total"] = s.Total },
                $"free {s.Free}, claimed {s.Claimed}, total {s.Total}");
            return 0;
        }));

        var share = new Command("share", "Get a pre-signed URL for a queue (prints its JSON).").WithExitCodes(ExitCodes);
        var paths = new Option<string[]>("--path") { DefaultValueFactory = _ => ["messages"], Description = "messages, claims (repeat)", AllowMultipleArgumentsPerToken = true };
        var methods = new Option<string[]>("--method") { DefaultValueFactory = _ => ["GET"], Description = "GET, POST, PATCH, DELETE (repeat)", AllowMultipleArgumentsPerToken = true };
        var hours = new Option<double>("--hours") { DefaultValueFactory = _ => 24, Description = "Valid for this many hours" };
        share.Arguments.Add(name);
        share.Options.Add(paths);
        share.Options.Add(methods);
        share.Options.Add(hours);
        share.Options.Add(Json);
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

    private const string ExitCodes = "0 on success; 125 if Zaqar refused the request or could not be reached, or on bad usage.";

    private static readonly Option<bool> Json = new("--json") { Description = "Print the result as one JSON object on stdout" };

    private static void Print(ParseResult r, Dictionary<string, object?> json, string text) =>
        Console.WriteLine(r.GetValue(Json) ? JsonSerializer.Serialize(json) : text);

    /// <summary>Zaqar's refusals, its unreadable answers and bad input as one line and exit 125, not a stack trace.</summary>
    private static Func<ParseResult, CancellationToken, Task<int>> Guarded(Func<ParseResult, CancellationToken, Task<int>> action) =>
        async (r, ct) =>
        {
            try
            {
                return await action(r, ct);
            }
            catch (ZaqarException e)
            {
                Console.Error.WriteLine($"guestctl: {Connection.Explain(e, r)}");
                return GuestCommands.ExitError;
            }
            catch (Exception e) when (e is ZaqarProtocolException or JsonException or ArgumentException)
            {
                Console.Error.WriteLine($"guestctl: {GuestCommands.Plain(e)}");
                return GuestCommands.ExitError;
            }
        };
}
