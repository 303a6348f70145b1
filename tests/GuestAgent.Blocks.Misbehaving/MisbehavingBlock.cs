using System.Text.Json;
using System.Text.Json.Serialization;
using GuestAgent.Protocol;
using static GuestAgent.Protocol.Args.ArgsReader;

namespace GuestAgent.Blocks.Misbehaving;

/// <summary>Arguments of <c>misbehave</c>: how to go wrong.</summary>
public sealed record MisbehaveArgs : OpArgs
{
    [JsonIgnore]
    public override string Op => MisbehavingBlock.OpName;

    /// <summary>
    /// <c>ok</c>, <c>throw</c>, <c>hang</c> (until cancelled), <c>ignore-cancel</c> (never stops),
    /// <c>garbage</c> (a result that is no JSON), <c>no-outcome</c> (null), <c>throw-in-refusal</c>,
    /// <c>throw-in-read</c> (the args reader throws something other than a rejection).
    /// </summary>
    public required string How { get; init; }

    public static MisbehaveArgs Read(JsonElement args, ProtocolLimits limits)
    {
        var how = ReadString(Required(args, "how", "args.how"), "args.how");
        return how == "throw-in-read" ? throw new InvalidOperationException("the misbehave reader broke") : new MisbehaveArgs { How = how };
    }
}

/// <summary>The block; its timeout is two seconds, so a hang is over quickly.</summary>
public sealed class MisbehavingBlock : OperationBlock
{
    public const string OpName = "misbehave";

    public override string Name => "misbehave";

    public override IReadOnlyList<BlockOp> Ops { get; } = [new(OpName, MisbehaveArgs.Read)];

    public override TimeSpan? TimeLimit(BlockCommand command) => TimeSpan.FromSeconds(2);

    public override string? Refusal(BlockCommand command) =>
        command.ArgsAs<MisbehaveArgs>().How == "throw-in-refusal" ? throw new InvalidOperationException("the misbehave policy broke") : null;

    public override async Task<BlockOutcome> RunAsync(BlockRun run, CancellationToken cancel)
    {
        switch (run.ArgsAs<MisbehaveArgs>().How)
        {
            case "throw":
                throw new InvalidOperationException("misbehave threw on purpose");
            case "hang":
                await Task.Delay(Timeout.InfiniteTimeSpan, cancel).ConfigureAwait(false);
                return BlockOutcome.Succeeded(null);
            case "ignore-cancel":
                await Task.Delay(TimeSpan.FromSeconds(60), CancellationToken.None).ConfigureAwait(false);
                return BlockOutcome.Succeeded(null);
            case "garbage":
                return BlockOutcome.Succeeded(new { value = double.NaN });
            case "no-outcome":
                return null!;
            default:
                return BlockOutcome.Succeeded(new { fine = true, attempt = run.Attempt });
        }
    }
}
