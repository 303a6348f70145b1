using GuestAgent.Protocol;

namespace GuestAgent.Client;

internal enum AddOutcome
{
    Added,

    /// <summary>Same (id, seq) seen before.</summary>
    Duplicate,

    /// <summary>Contradicts the final reply already received (a later seq, or a second final); dropped.</summary>
    Ignored,
}

/// <summary>
/// Collects one command's replies: deduplicated by seq, complete when the final reply with seq n
/// and every seq 0..n-1 are in. Fed by the listener loop, awaited by the caller; thread-safe.
/// </summary>
/// <param name="onAdded">
/// Told about each new (not duplicate) reply as it is added, on the listener's thread, so that a
/// long call (a file transfer's chunk stream) can show progress before it completes. Its
/// exceptions are swallowed: a faulty observer must not stop the listener.
/// </param>
internal sealed class ReplyWaiter(Guid commandId, string op, Action<Reply>? onAdded = null)
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<long, Reply> _replies = [];
    private long? _finalSeq;
    private int _unverified;
    private string? _lastUnverified;

    public Guid CommandId { get; } = commandId;
    public string Op { get; } = op;

    /// <summary>Every reply 0..final, in seq order.</summary>
    public TaskCompletionSource<IReadOnlyList<Reply>> Completed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The final reply, maybe before the replies before it.</summary>
    public TaskCompletionSource<Reply> FinalArrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The first reply of any kind.</summary>
    public TaskCompletionSource<Reply> FirstReply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool AcceptedSeen { get; private set; }

    /// <summary>Replies for this command that did not verify and were dropped (see <see cref="NoteUnverified"/>).</summary>
    public int Unverified => Volatile.Read(ref _unverified);

    /// <summary>Why the last of them was dropped.</summary>
    public string? LastUnverified => Volatile.Read(ref _lastUnverified);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _replies.Count;
            }
        }
    }

    public Reply? Final
    {
        get
        {
            lock (_lock)
            {
                return _finalSeq is { } f ? _replies[f] : null;
            }
        }
    }

    /// <summary>Seqs below the final one that have not arrived; empty while the final one has not.</summary>
    public IReadOnlyList<long> MissingSeqs
    {
        get
        {
            lock (_lock)
            {
                if (_finalSeq is not { } f)
                {
                    return [];
                }
                var missing = new List<long>();
                for (long s = 0; s < f && missing.Count < 50; s++)
                {
                    if (!_replies.ContainsKey(s))
                    {
                        missing.Add(s);
                    }
                }
                return missing;
            }
        }
    }

    public AddOutcome Add(Reply reply)
    {
        IReadOnlyList<Reply>? complete = null;
        var final = false;
        lock (_lock)
        {
            if (_replies.ContainsKey(reply.Seq))
            {
                return AddOutcome.Duplicate;
            }
            if (_finalSeq is { } f && (reply.Seq > f || reply.Final))
            {
                return AddOutcome.Ignored;
            }
            _replies.Add(reply.Seq, reply);
            AcceptedSeen |= reply.Status == ReplyStatus.Accepted;
            if (reply.Final)
            {
                _finalSeq = reply.Seq;
                final = true;
                // Anything numbered after the final reply contradicts it.
                foreach (var later in _replies.Keys.Where(k => k > reply.Seq).ToList())
                {
                    _replies.Remove(later);
                }
            }
            if (_finalSeq is { } n && _replies.Count == n + 1)
            {
                complete = _replies.Values.ToList();
            }
        }
        if (onAdded is not null)
        {
            try
            {
                onAdded(reply);
            }
            catch (Exception)
            {
                // An observer's failure is its own business; routing goes on.
            }
        }
        FirstReply.TrySetResult(reply);
        if (final)
        {
            FinalArrived.TrySetResult(reply);
        }
        if (complete is not null)
        {
            Completed.TrySetResult(complete);
        }
        return AddOutcome.Added;
    }

    /// <summary>Records a reply for this command that was dropped unverified, so that a timeout can say so.</summary>
    public void NoteUnverified(string reason)
    {
        Volatile.Write(ref _lastUnverified, reason);
        Interlocked.Increment(ref _unverified);
    }

    public void Fail(Exception error)
    {
        Completed.TrySetException(error);
        FinalArrived.TrySetException(error);
        FirstReply.TrySetException(error);
        // Nobody may be awaiting all three; observe them so none is reported as unobserved.
        _ = Completed.Task.Exception;
        _ = FinalArrived.Task.Exception;
        _ = FirstReply.Task.Exception;
    }
}
