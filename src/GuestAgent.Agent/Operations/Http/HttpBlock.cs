using GuestAgent.Agent.Blocks;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Operations.Http;

/// <summary>
/// The built-in <c>http</c> block: one HTTP request from the guest, to the binding's
/// <c>http-destinations</c> only (every redirect hop checked), the response body captured whole.
/// </summary>
public sealed class HttpBlock(GuestPlatform platform) : OperationBlock
{
    /// <summary>Error code of a hop whose host:port is not in the tenant's http-destinations.</summary>
    public const string ForbiddenDestination = "forbidden_destination";

    /// <summary>Error code of a request that could not be carried out (connection, TLS, protocol, redirects).</summary>
    public const string HttpError = "http_error";

    public override string Name => "http";

    public override IReadOnlyList<BlockOp> Ops { get; } = [new(Protocol.Ops.Http, StandardArgs.ReadHttpArgs)];

    /// <summary>Each of its ops enforces the timeout its args give (<c>timeout_s</c>), with its own cleanup.</summary>
    public override TimeSpan? TimeLimit(BlockCommand command) => null;

    /// <summary>The binding's <c>http-destinations</c>: where requests may go; empty, nowhere.</summary>
    public override object? ReadPolicy(IBlockSettings binding) => new HttpPolicy(ReadDestinations(binding));

    /// <summary>The binding's <c>http-destinations</c> (shared with the file block's URL transfers).</summary>
    public static IReadOnlyList<HttpDestination> ReadDestinations(IBlockSettings binding)
    {
        var destinations = new List<HttpDestination>();
        foreach (var entry in binding.GetStringList("http-destinations"))
        {
            destinations.Add(HttpDestination.TryParse(entry ?? "", out var error)
                ?? throw new BlockConfigException("http-destinations", $"'{entry}': {error}"));
        }
        return destinations;
    }

    public override async Task<BlockOutcome> RunAsync(BlockRun run, CancellationToken cancel)
    {
        HttpOutcome outcome;
        try
        {
            outcome = await HttpRunner.RunAsync(run.ArgsAs<HttpArgs>(), new HttpOptions
            {
                CommandId = run.CommandId,
                Attempt = run.Attempt,
                SpoolDirectory = ((SpoolOutput)run.Output).Directory,
                Files = platform.Files,
                DefaultInlineCapBytes = run.InlineCapBytes,
                AllowList = run.PolicyAs<HttpPolicy>().Destinations,
                TimeProvider = run.Time,
            }, cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            outcome = new HttpOutcome(HttpOutcomeKind.Failed, run.Attempt, TimeSpan.Zero, $"internal error: {e.Message}");
        }
        return ToOutcome(outcome, run.ChunkBytes);
    }

    internal static BlockOutcome ToOutcome(HttpOutcome o, int chunkBytes)
    {
        switch (o.Kind)
        {
            case HttpOutcomeKind.Forbidden:
                return BlockOutcome.Failed(ForbiddenDestination, o.Error ?? "destination not allowed");
            case HttpOutcomeKind.Failed:
                return BlockOutcome.Failed(HttpError, o.Error ?? "the request failed");
            case HttpOutcomeKind.TimedOut:
                return BlockOutcome.TimedOut(o.Error ?? "timed out");
            case HttpOutcomeKind.Cancelled:
                return BlockOutcome.Cancelled();
        }
        var body = o.Body!;
        return BlockOutcome.Succeeded(o.ToResult(body.ChunkCount(chunkBytes)), (ChunkStreams.Body, body));
    }
}

/// <summary>A binding's policy for the http block.</summary>
public sealed record HttpPolicy(IReadOnlyList<HttpDestination> Destinations);
