using GuestAgent.Protocol;

namespace GuestAgent.Blocks;

/// <summary>One attempt of one command, as the core hands it to <see cref="OperationBlock.RunAsync"/>.</summary>
public sealed record BlockRun(Guid CommandId, string Op, OpArgs Args, int Attempt, string Tenant, object? Policy)
    : BlockCommand(CommandId, Op, Args, Attempt, Tenant, Policy)
{
    /// <summary>Where the run's output streams go: spooled whole, inline up to a cap, the rest as chunk replies.</summary>
    public required IBlockOutput Output { get; init; }

    /// <summary>Bytes of a stream that go inline in the final reply (the binding's default; an op may read its own cap from its args).</summary>
    public required int InlineCapBytes { get; init; }

    /// <summary>Size of a chunk reply's payload, for the chunk counts a result reports.</summary>
    public required int ChunkBytes { get; init; }

    /// <summary>The agent's clock.</summary>
    public required TimeProvider Time { get; init; }

    /// <summary>
    /// Fires just before the cancellation token when the agent stops following the run without
    /// wanting it ended (the agent stops, or its journal failed): a block that can reattach
    /// (<see cref="OperationBlock.ReattachAsync"/>) leaves its work running and returns at once;
    /// any other block just sees the cancellation.
    /// </summary>
    public CancellationToken Detaching { get; init; }

    /// <summary>
    /// For <see cref="OperationBlock.ReattachAsync"/>: a cancel of this attempt was acknowledged
    /// before the agent lost it, so its stop grace has already been given: end it at once.
    /// </summary>
    public bool CancelRequested { get; init; }

    /// <summary>Further services of the core, asked for by type (null when it offers none of that type).</summary>
    public IServiceProvider? Services { get; init; }
}

/// <summary>The output streams of a run.</summary>
public interface IBlockOutput
{
    /// <summary>
    /// Opens a stream (e.g. <c>stdout</c>, <c>report</c>) of at most <paramref name="inlineCapBytes"/>
    /// inline bytes: everything written is spooled to the state directory, and what is not inline is
    /// delivered in checksummed chunk replies after the final one is built. Name each stream once per run.
    /// </summary>
    Task<IOutputWriter> OpenAsync(string stream, int inlineCapBytes);
}

/// <summary>One output stream being written.</summary>
public interface IOutputWriter : IAsyncDisposable
{
    ValueTask WriteAsync(ReadOnlyMemory<byte> bytes);

    /// <summary>Closes the stream and describes it; put it in the outcome's <see cref="BlockOutcome.Outputs"/>.</summary>
    Task<CapturedStream> CompleteAsync();
}
