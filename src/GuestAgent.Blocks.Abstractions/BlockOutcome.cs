using GuestAgent.Protocol;

namespace GuestAgent.Blocks;

/// <summary>How an attempt ended.</summary>
public enum BlockEnd
{
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,

    /// <summary>
    /// A reattached run ended without anyone recording how (its supervisor was killed too): the
    /// agent treats it like an attempt interrupted by a crash, and the command's <c>on_interrupt</c> decides.
    /// </summary>
    Lost,
}

/// <summary>
/// The end of one attempt, as the final reply will carry it: a status, the op's typed result
/// (serialized with the protocol's JSON options), an error code and message when it did not
/// succeed, and the output streams whose bytes beyond the inline part go out as chunk replies.
/// </summary>
/// <param name="Outputs">Streams opened through <see cref="IBlockOutput"/>, by wire stream name.</param>
public sealed record BlockOutcome(BlockEnd End, object? Result, string? ErrorCode, string? ErrorMessage,
    IReadOnlyList<(string Stream, CapturedStream Captured)> Outputs)
{
    public static BlockOutcome Succeeded(object? result, params (string Stream, CapturedStream Captured)[] outputs) =>
        new(BlockEnd.Succeeded, result, null, null, outputs);

    /// <param name="code">A code the issuer can act on (<c>nonzero_exit</c>, <c>forbidden_path</c>, <c>io_error</c> ...).</param>
    public static BlockOutcome Failed(string code, string message, object? result = null, params (string Stream, CapturedStream Captured)[] outputs) =>
        new(BlockEnd.Failed, result, code, message, outputs);

    public static BlockOutcome TimedOut(string message, object? result = null, params (string Stream, CapturedStream Captured)[] outputs) =>
        new(BlockEnd.TimedOut, result, "timed_out", message, outputs);

    /// <summary>Stopped by its cancellation; the core words why (a cancel command or the agent stopping).</summary>
    public static BlockOutcome Cancelled(object? result = null, params (string Stream, CapturedStream Captured)[] outputs) =>
        new(BlockEnd.Cancelled, result, "cancelled", null, outputs);

    /// <summary>See <see cref="BlockEnd.Lost"/>; <paramref name="why"/> goes into the log and, if the command ends, its reply.</summary>
    public static BlockOutcome Lost(string why) => new(BlockEnd.Lost, null, "interrupted", why, []);
}
