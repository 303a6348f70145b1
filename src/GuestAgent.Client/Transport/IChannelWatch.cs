namespace GuestAgent.Client.Transport;

/// <summary>
/// A transport's announcements that a reply channel may have something new (push), so that the
/// reply listener receives then instead of polling on a schedule. Only ever a hint: what the
/// listener handles is what the next receive returns, checked as always. Made by
/// <see cref="IControllerTransport.WatchReplyChannel"/>; disposed by the listener when it stops.
/// </summary>
public interface IChannelWatch : IAsyncDisposable
{
    /// <summary>
    /// True while new messages are announced: the listener then receives on each announcement, and
    /// otherwise only every <see cref="SafetyPollInterval"/>. False (still connecting, or lost): it
    /// polls as it does without a watch.
    /// </summary>
    bool IsLive { get; }

    /// <summary>How often the listener receives anyway while <see cref="IsLive"/>: an announcement can be lost.</summary>
    TimeSpan SafetyPollInterval { get; }

    /// <summary>
    /// Completes at the next announcement, or when <see cref="IsLive"/> changes (coming up, the
    /// listener receives at once what waited before). The listener takes it before receiving, so
    /// that nothing announced during a receive is missed.
    /// </summary>
    Task Changed { get; }

    /// <summary>Announcements so far.</summary>
    long Announcements { get; }

    /// <summary>
    /// Whether announcements are wanted now. With many calls in flight replies stream in anyway and
    /// the listener polls at its fastest; announcing each one then only costs the server (Zaqar's
    /// notifier posts every message to the WebSocket server). A watch that can, stops (not
    /// <see cref="IsLive"/>) while unwanted and comes back when wanted again; the default ignores it.
    /// </summary>
    void SetWanted(bool wanted)
    {
    }
}
