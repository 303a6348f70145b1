using GuestAgent.Protocol;
using Serilog;

namespace GuestAgent.Agent.Transports;

/// <summary>
/// Remembers which message a binding's receiver was judging when it failed, across the receiver's
/// restarts (one watch outlives the receiver actors made from the same props). Judging a message
/// turns every exception into that message's rejection; what still escapes (out of memory) restarts
/// the receiver, which gives back what it holds and would get the same message first again, forever,
/// with every later command of the tenant waiting behind it. Any transport's receiver uses it, with a
/// message id that is the same on every redelivery. A message that was in hand at <see cref="Limit"/>
/// restarts is dead-lettered instead: logged and removed, never judged again.
/// </summary>
/// <remarks>Touched only by the receiver, one instance after another: no locking.</remarks>
public sealed class PoisonWatch(int limit = 2)
{
    /// <summary>Suspects kept at most; a receiver that keeps failing on new messages has a bug no list cures.</summary>
    private const int MaxSuspects = 1000;

    private readonly Dictionary<string, int> _strikes = [];
    private string? _inHand;

    /// <summary>Restarts with the same message in hand after which it is dead-lettered.</summary>
    public int Limit { get; } = limit;

    /// <summary>The receiver starts judging <paramref name="messageId"/>.</summary>
    public void Judging(string messageId) => _inHand = messageId;

    /// <summary>The receiver is done judging (whatever the verdict).</summary>
    public void Judged() => _inHand = null;

    /// <summary>
    /// A message's verdict, never an exception: one message's fault must cost that message alone,
    /// never the receiver (a restart would get the same message first again). <paramref name="judge"/>
    /// reads the body and parses it; an exception from it is logged and becomes an internal_error
    /// rejection. Only what leaves the process in doubt (out of memory) escapes, with the message
    /// left in hand for <see cref="Restarted"/>.
    /// </summary>
    public (CommandParseResult Result, ReadOnlyMemory<byte> Raw) Judge(string messageId, Func<(CommandParseResult, ReadOnlyMemory<byte>)> judge, ILogger log, string queue)
    {
        Judging(messageId);
        (CommandParseResult, ReadOnlyMemory<byte>) verdict;
        try
        {
            verdict = judge();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log.Error(e, "judging message {MessageId} of {Queue} failed; it is rejected", messageId, queue);
            verdict = (CommandParseResult.Rejected(new CommandRejection(RejectCodes.InternalError,
                $"The agent failed while judging this message ({e.GetType().Name}: {e.Message}); nothing ran.", null, null, null)), ReadOnlyMemory<byte>.Empty);
        }
        Judged();
        return verdict;
    }

    /// <summary>
    /// Called by each new receiver: the message its predecessor died holding, with that message's
    /// count of such deaths; null when it died holding none (or this is the first receiver).
    /// </summary>
    public (string MessageId, int Strikes)? Restarted()
    {
        if (_inHand is not { } id)
        {
            return null;
        }
        _inHand = null;
        if (_strikes.Count >= MaxSuspects && !_strikes.ContainsKey(id))
        {
            _strikes.Clear();
        }
        var strikes = _strikes.GetValueOrDefault(id) + 1;
        _strikes[id] = strikes;
        return (id, strikes);
    }

    /// <summary>True when <paramref name="messageId"/> has failed the receiver <see cref="Limit"/> times.</summary>
    public bool IsPoison(string messageId, out int strikes) =>
        _strikes.TryGetValue(messageId, out strikes) && strikes >= Limit;
}
