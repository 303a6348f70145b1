namespace GuestAgent.Agent.Ledger;

/// <summary>
/// A count of operation slots shared between actors (the global cap is shared by every
/// tenant's ledger and poller). Thread-safe; pollers read <see cref="Free"/> to size claims.
/// A tenant's slots start closed (<paramref name="open"/> false) and read no free slot until its
/// ledger has recovered and taken the slots its recovered commands hold (<see cref="Open"/>):
/// a claim sized before that would add to them and break the cap.
/// </summary>
public sealed class OperationSlots(int capacity, bool open = true)
{
    private int _used;
    private volatile bool _open = open;
    private readonly Lock _listenersLock = new();
    private Action[] _listeners = [];

    public int Capacity { get; } = capacity;
    public int Used => Volatile.Read(ref _used);

    /// <summary>Slots free to claim for: none while closed.</summary>
    public int Free => _open ? Unused : 0;

    /// <summary>Slots nobody holds, open or closed.</summary>
    public int Unused => Math.Max(0, Capacity - Used);

    /// <summary>False from a holder's (re)start until it has counted what it holds.</summary>
    public bool IsOpen => _open;

    /// <summary>Whether the slots have been open at least once (a holder finished counting its slots).</summary>
    public bool HasOpened => _hasOpened;

    private volatile bool _hasOpened = open;

    /// <summary>The holder has counted its slots: claims may be sized from them again.</summary>
    public void Open()
    {
        _open = true;
        _hasOpened = true;
        Freed();
    }

    /// <summary>
    /// Calls <paramref name="listener"/> whenever a slot may have become free (given back, or the
    /// slots opened), on the thread that freed it: a receiver waiting for a slot takes the next
    /// command then, not at its next look. Keep it cheap (tell an actor). Disposing stops it.
    /// </summary>
    public IDisposable WhenFreed(Action listener)
    {
        lock (_listenersLock)
        {
            _listeners = [.. _listeners, listener];
        }
        return new Subscription(this, listener);
    }

    private void Freed()
    {
        foreach (var listener in Volatile.Read(ref _listeners))
        {
            listener();
        }
    }

    private sealed class Subscription(OperationSlots slots, Action listener) : IDisposable
    {
        public void Dispose()
        {
            lock (slots._listenersLock)
            {
                slots._listeners = [.. slots._listeners.Where(l => l != listener)];
            }
        }
    }

    public bool TryAcquire()
    {
        while (true)
        {
            var used = Volatile.Read(ref _used);
            if (used >= Capacity)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _used, used + 1, used) == used)
            {
                return true;
            }
        }
    }

    /// <summary>Takes a slot even past the cap (commands recovered after a restart are already owed one).</summary>
    public void ForceAcquire() => Interlocked.Increment(ref _used);

    /// <summary>
    /// Forgets every holder (the only holder restarted and will take its slots again), and closes
    /// the slots until it has (<see cref="Open"/>).
    /// </summary>
    public void Reset()
    {
        _open = false;
        Interlocked.Exchange(ref _used, 0);
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _used) < 0)
        {
            Interlocked.Exchange(ref _used, 0);
        }
        Freed();
    }
}
