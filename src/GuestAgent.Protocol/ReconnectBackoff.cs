namespace GuestAgent.Protocol;

/// <summary>
/// How long a side of a link waits before it connects again: 1 s after the first loss, doubling to
/// <see cref="Max"/> while losses follow, each wait jittered by ±20 % so that many agents or
/// controllers that lost one server do not all come back at the same instant. Not thread-safe: one
/// owner (an actor, one loop).
/// </summary>
public sealed class ReconnectBackoff(TimeSpan max)
{
    public static readonly TimeSpan First = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait (before jitter).</summary>
    public TimeSpan Max { get; } = max;

    /// <summary>The wait the last <see cref="Next"/> was based on (before jitter); zero after a <see cref="Reset"/>.</summary>
    public TimeSpan Current { get; private set; } = TimeSpan.Zero;

    /// <summary>The wait before the next try, and the step after it longer.</summary>
    public TimeSpan Next()
    {
        Current = Current == TimeSpan.Zero ? (First < Max ? First : Max) : TimeSpan.FromTicks(Math.Min(Max.Ticks, Current.Ticks * 2));
        return TimeSpan.FromTicks((long)(Current.Ticks * (0.8 + Random.Shared.NextDouble() * 0.4)));
    }

    /// <summary>The link is up (and stayed up): the next loss starts again from <see cref="First"/>.</summary>
    public void Reset() => Current = TimeSpan.Zero;
}
