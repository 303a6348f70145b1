using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace GuestAgent.Agent.Hosting;

/// <summary>
/// Akka's scheduler on the runtime's timer queue: each scheduled item is a timer that fires when
/// it is due. Akka's own scheduler (a hashed wheel) wakes every tick whether anything is due or
/// not, and each tick woke a pool thread: once a second forever in every guest at the agent's
/// 1 s tick, with every timer rounded up to that second. Here an idle agent wakes only for what it
/// scheduled (the push ping, the safety poll, renewals), and a 50 ms wait is 50 ms.
/// Chosen by <c>akka.scheduler.implementation</c> (<see cref="AgentHost"/>).
/// </summary>
/// <remarks>
/// As Akka's: a repeated item runs at a fixed rate, never two of its runs at once; a cancelled one
/// never runs again; what is still scheduled when the actor system ends runs once then.
/// </remarks>
public sealed class DueTimeScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    /// <summary>The HOCON that makes an actor system use it.</summary>
    public static readonly string Hocon = $"akka.scheduler.implementation = \"{typeof(DueTimeScheduler).AssemblyQualifiedName}\"";

    // Strong references: a timer nobody references is collected and never fires.
    private readonly ConcurrentDictionary<Item, byte> _items = new();
    private readonly TimeProvider _time;
    private readonly long _origin;
    private volatile bool _stopped;

    public DueTimeScheduler(Config scheduler, ILoggingAdapter log) : this(scheduler, log, TimeProvider.System)
    {
    }

    /// <summary>On another clock (specs).</summary>
    internal DueTimeScheduler(Config scheduler, ILoggingAdapter log, TimeProvider time) : base(scheduler, log)
    {
        _time = time;
        _origin = time.GetTimestamp();
    }

    protected override DateTimeOffset TimeNow => DateTimeOffset.UtcNow;

    // Monotonic, from when the scheduler was made (Akka's own clock for this is internal to it); due times are on it too.
    public override TimeSpan MonotonicClock => _time.GetElapsedTime(_origin);

    public override TimeSpan HighResMonotonicClock => MonotonicClock;

    /// <summary>Items scheduled and not yet run out or cancelled (for specs).</summary>
    internal int Pending => _items.Count;

    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Schedule(delay, TimeSpan.Zero, new ScheduledTell(receiver, message, sender), cancelable);

    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message,
        IActorRef sender, ICancelable cancelable) =>
        Schedule(initialDelay, interval, new ScheduledTell(receiver, message, sender), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Schedule(delay, TimeSpan.Zero, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Schedule(delay, TimeSpan.Zero, action, cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Schedule(initialDelay, interval, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Schedule(initialDelay, interval, action, cancelable);

    private void Schedule(TimeSpan delay, TimeSpan interval, IRunnable action, ICancelable? cancelable)
    {
        if (_stopped || cancelable?.IsCancellationRequested == true)
        {
            return;
        }
        var item = new Item(this, action, cancelable, interval);
        _items[item] = 0;
        item.Start(delay);
    }

    /// <summary>Stops every timer and runs what was still scheduled once, as Akka's own scheduler does at shutdown.</summary>
    public void Dispose()
    {
        _stopped = true;
        foreach (var item in _items.Keys)
        {
            if (item.Stop() && !item.Cancelled)
            {
                item.RunQuietly();
            }
        }
        _items.Clear();
    }

    private void Forget(Item item) => _items.TryRemove(item, out _);

    private sealed class Item
    {
        private readonly DueTimeScheduler _scheduler;
        private readonly IRunnable _action;
        private readonly ICancelable? _cancelable;
        private readonly TimeSpan _interval;
        private readonly Lock _lock = new();
        private ITimer? _timer;
        private CancellationTokenRegistration _onCancel;
        private TimeSpan _due;
        private bool _done;

        public Item(DueTimeScheduler scheduler, IRunnable action, ICancelable? cancelable, TimeSpan interval)
        {
            _scheduler = scheduler;
            _action = action;
            _cancelable = cancelable;
            _interval = interval;
        }

        public bool Cancelled => _cancelable?.IsCancellationRequested == true;

        public void Start(TimeSpan delay)
        {
            if (_cancelable is not null)
            {
                // A cancelled item's timer goes at once (timeouts are mostly cancelled long before they are due).
                // Registered first: a token cancelled already runs Cancel here, and no timer is made.
                _onCancel = _cancelable.Token.Register(static s => ((Item)s!).Cancel(), this);
            }
            lock (_lock)
            {
                if (_done)
                {
                    return;
                }
                delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
                _due = _scheduler.MonotonicClock + delay;
                // Created stopped and armed under the lock, so a callback always finds _timer set.
                _timer = _scheduler._time.CreateTimer(static s => ((Item)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _timer.Change(delay, Timeout.InfiniteTimeSpan);
            }
        }

        private void Cancel()
        {
            if (Stop())
            {
                _scheduler.Forget(this);
            }
        }

        /// <summary>Ends the item; false when it had ended already.</summary>
        public bool Stop()
        {
            lock (_lock)
            {
                if (_done)
                {
                    return false;
                }
                _done = true;
                _timer?.Dispose();
            }
            _onCancel.Dispose();
            return true;
        }

        private void Fire()
        {
            lock (_lock)
            {
                if (_done)
                {
                    return;
                }
            }
            if (Cancelled || _scheduler._stopped)
            {
                Cancel();
                return;
            }
            RunQuietly();
            if (_interval <= TimeSpan.Zero)
            {
                Cancel();
                return;
            }
            lock (_lock)
            {
                if (_done)
                {
                    return;
                }
                // Fixed rate: the next run is due one interval after this one was due, at once if that has passed.
                _due += _interval;
                var wait = _due - _scheduler.MonotonicClock;
                _timer!.Change(wait < TimeSpan.Zero ? TimeSpan.Zero : wait, Timeout.InfiniteTimeSpan);
            }
        }

        public void RunQuietly()
        {
            try
            {
                _action.Run();
            }
            catch (SchedulerException)
            {
                // A terminated receiver.
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _scheduler.Log.Error(e, "a scheduled task failed");
            }
        }
    }

    /// <summary>
    /// A scheduled tell, the message as it was given (Akka's own scheduler wraps it in an internal
    /// type that only telemetry looks at; the actor unwraps it and sees the same message).
    /// </summary>
    private sealed class ScheduledTell(ICanTell receiver, object message, IActorRef sender) : IRunnable
    {
        public void Run() => receiver.Tell(message, sender);

        public void Execute() => Run();
    }
}
