namespace GuestAgent.Agent.Ledger;

/// <summary>
/// A count of operation slots shared between actors (the global cap is shared by every
/// tenant's ledger and poller). Thread-safe; pollers read <see cref="Free"/> to size claims.
/// </summary>
public sealed class OperationSlots(int capacity)
{
    private int _used;

    public int Capacity { get; } = capacity;
    public int Used => Volatile.Read(ref _used);
    public int Free => Math.Max(0, Capacity - Used);

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

    /// <summary>Forgets every holder (the only holder restarted and will take its slots again).</summary>
    public void Reset() => Interlocked.Exchange(ref _used, 0);

    public void Release()
    {
        if (Interlocked.Decrement(ref _used) < 0)
        {
            Interlocked.Exchange(ref _used, 0);
        }
    }
}
