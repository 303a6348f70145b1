using Akka.Actor;

namespace GuestAgent.Agent.Ledger;

/// <summary>
/// Wakes a receiver (poller, consumer) that waits for an operation slot: while it says it
/// <see cref="Wants"/> one, a slot given back in any of the watched <see cref="OperationSlots"/>
/// tells it <paramref name="wakeUp"/>, with at most one such message in its mailbox at a time.
/// The receiver calls <see cref="Woken"/> when it handles the message, and disposes this in PostStop.
/// </summary>
public sealed class SlotWaiter : IDisposable
{
    private readonly IDisposable[] _watches;
    private volatile bool _wants;
    private int _queued;

    public SlotWaiter(IActorRef receiver, object wakeUp, params OperationSlots[] slots)
    {
        _watches = [.. slots.Select(s => s.WhenFreed(() =>
        {
            if (_wants && Interlocked.Exchange(ref _queued, 1) == 0)
            {
                receiver.Tell(wakeUp);
            }
        }))];
    }

    /// <summary>Whether a freed slot should wake the receiver; set by it each time it looks at its slots.</summary>
    public bool Wants
    {
        get => _wants;
        set => _wants = value;
    }

    /// <summary>The wake-up has been taken from the mailbox: the next freed slot may send another.</summary>
    public void Woken() => Volatile.Write(ref _queued, 0);

    public void Dispose()
    {
        foreach (var w in _watches)
        {
            w.Dispose();
        }
    }
}
