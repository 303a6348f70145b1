using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;

namespace GuestAgent.Blocks;

/// <summary>
/// A set of ops the agent can run, written by the team that owns them. The agent's core handles
/// the queue, signing, the journal, slots, timeouts and cancellation, output spooling and chunked
/// replies; a block only reads its arguments and policy and does the work.
/// <para>
/// One instance serves every binding and command: keep no per-command state in fields.
/// A block is constructed with no arguments, or with an <see cref="IBlockHost"/>.
/// </para>
/// </summary>
public abstract class OperationBlock
{
    /// <summary>The name configuration uses for the block (<c>guest-agent.blocks.load</c>, a binding's <c>blocks</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The ops the block adds, each with the reader of its <c>args</c>. Op names are unique across the agent.</summary>
    public abstract IReadOnlyList<BlockOp> Ops { get; }

    /// <summary>
    /// Reads the block's policy for one binding, once, when the agent starts: what the binding
    /// allows of it (paths, users, destinations ...). The object comes back in every
    /// <see cref="BlockCommand"/> of that binding. Throw <see cref="BlockConfigException"/> for a
    /// bad value: the agent does not start, and says which key is wrong.
    /// </summary>
    public virtual object? ReadPolicy(IBlockSettings binding) => null;

    /// <summary>
    /// Judges a command when it is offered, before it is accepted: a sentence saying why the
    /// binding's policy refuses it (the issuer gets <c>rejected</c>, <c>forbidden</c>), or null.
    /// Must be quick and must not touch the network: it runs on the ledger's thread.
    /// </summary>
    public virtual string? Refusal(BlockCommand command) => null;

    /// <summary>How long an attempt may run when the block does not say: five minutes.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long one attempt of <paramref name="command"/> may run: the core cancels it then and
    /// reports <c>timed_out</c>, and abandons a run that has not stopped a few seconds later. Null:
    /// the block enforces a timeout of its own (read from the command's args).
    /// </summary>
    public virtual TimeSpan? TimeLimit(BlockCommand command) => DefaultTimeout;

    /// <summary>
    /// Runs one attempt. Cancellation means a cancel command, the <see cref="TimeLimit"/> or the agent
    /// stopping: stop promptly and return <see cref="BlockOutcome.Cancelled"/> (a run that ignores
    /// it is abandoned after a grace period and reported cancelled or timed out). An exception ends the command <c>failed</c>
    /// (<c>internal_error</c>), never the agent.
    /// </summary>
    public abstract Task<BlockOutcome> RunAsync(BlockRun run, CancellationToken cancel);

    /// <summary>
    /// The agent stopped following an attempt of <paramref name="command"/> (a crash, a kill, a
    /// stop, its journal failing) before it ended. Either the attempt outlived the agent and can be
    /// followed (<see cref="InterruptMeaning.Reattachable"/>), or clean up what it may have left
    /// (processes, partial files) and say whether it may have taken effect:
    /// <see cref="InterruptMeaning.NoEffect"/> lets the agent run it again whatever the command's
    /// <c>on_interrupt</c>. The core asks with the attempt's <see cref="BlockRun"/> (where its output went).
    /// </summary>
    public virtual InterruptMeaning Interrupted(BlockCommand command) => InterruptMeaning.MayHaveTakenEffect;

    /// <summary>
    /// Follows an attempt that outlived the agent (<see cref="Interrupted"/> said
    /// <see cref="InterruptMeaning.Reattachable"/>) to its end, under the same attempt number: the
    /// outcome it had if it has ended, else the one it will have. Timeout and cancellation apply as
    /// in <see cref="RunAsync"/>, the timeout counted from the attempt's original start. A run that
    /// vanished without a trace of how it ended is <see cref="BlockOutcome.Lost"/>.
    /// </summary>
    public virtual Task<BlockOutcome> ReattachAsync(BlockRun run, CancellationToken cancel) =>
        Task.FromResult(BlockOutcome.Lost($"block '{Name}' cannot reattach to a run"));
}

/// <summary>One op of a block: its name on the wire and the reader of its arguments.</summary>
/// <param name="Name">The <c>op</c> of a command, e.g. <c>sysinfo</c>; letters, digits, '.', '_' and '-'.</param>
/// <param name="ReadArgs">Reads the command's <c>args</c> object (use <see cref="ArgsReader"/>; throw <see cref="ArgsRejectedException"/>).</param>
public sealed record BlockOp(string Name, OpArgsReader ReadArgs);

/// <summary>What an interrupted attempt may have done.</summary>
public enum InterruptMeaning
{
    /// <summary>It may have changed the guest: the command's <c>on_interrupt</c> decides between a rerun and <c>interrupted</c>.</summary>
    MayHaveTakenEffect,

    /// <summary>It changed nothing (a read-only op): it is run again, up to the agent's max-attempts.</summary>
    NoEffect,

    /// <summary>
    /// It outlived the agent and its outcome can still be had (it is still running, or it ended and
    /// how was recorded): the agent follows it with <see cref="OperationBlock.ReattachAsync"/> instead
    /// of running it again or reporting it interrupted.
    /// </summary>
    Reattachable,
}

/// <summary>A command a block is asked about.</summary>
/// <param name="Attempt">The attempt being (or last) run; 0 before the first.</param>
/// <param name="Policy">What <see cref="OperationBlock.ReadPolicy"/> returned for the binding.</param>
public record BlockCommand(Guid CommandId, string Op, OpArgs Args, int Attempt, string Tenant, object? Policy)
{
    /// <summary>The policy as the block's own type.</summary>
    public T PolicyAs<T>() where T : class =>
        Policy as T ?? throw new InvalidOperationException($"the policy of tenant {Tenant} is not a {typeof(T).Name}");

    /// <summary>The arguments as the op's own type.</summary>
    public T ArgsAs<T>() where T : OpArgs =>
        Args as T ?? throw new InvalidOperationException($"the args of {Op} are a {Args.GetType().Name}, not a {typeof(T).Name}");
}

/// <summary>A bad value in a block's configuration.</summary>
/// <param name="Key">The key, relative to the binding (e.g. <c>sysinfo.max-packages</c>).</param>
public sealed class BlockConfigException(string key, string message) : Exception(message)
{
    public string Key { get; } = key;
}
