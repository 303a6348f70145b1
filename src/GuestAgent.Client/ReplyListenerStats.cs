namespace GuestAgent.Client;

/// <summary>Counters of a client's reply listener, since the client was created.</summary>
/// <param name="Routed">Replies handed to a waiting call or cast.</param>
/// <param name="Duplicates">Replies whose (id, seq) had been seen already (the transport delivers at least once); dropped.</param>
/// <param name="Ignored">Replies that contradict a final reply already received (a higher seq or a second final); dropped.</param>
/// <param name="Late">Replies for commands this client stopped waiting for (done, timed out, or casts past acceptance); deleted.</param>
/// <param name="Unknown">Replies for command ids this client never waited for (e.g. an earlier run's); deleted.</param>
/// <param name="Deferred">Unknown replies younger than <see cref="GuestClientOptions.ForeignReplyGrace"/>, left for another client.</param>
/// <param name="Invalid">Messages that are not v1 replies (garbage, commands on the wrong queue); deleted.</param>
/// <param name="DeleteFailures">Reply messages whose delete failed (they come back and are deduplicated).</param>
/// <param name="Errors">Failed claims of the reply queue (the listener backs off and carries on).</param>
/// <param name="LastError">The listener's last error, if any.</param>
/// <param name="LastInvalidReason">Why the last invalid (or unverified) message was refused.</param>
/// <param name="Unverified">
/// Replies to this client's commands that were unsigned or badly signed while <see cref="GuestClientOptions.SigningKeys"/>
/// are set (forged, or the agent has other keys: <see cref="LastInvalidReason"/> says which); deleted, never handed on.
/// </param>
/// <param name="Announcements">
/// Times the transport announced that the reply queue may have something new (push; see
/// <see cref="Transport.IChannelWatch"/>); each only made the listener receive sooner.
/// </param>
/// <param name="PushLive">Whether the transport is announcing new replies right now; false: the listener polls.</param>
public sealed record ReplyListenerStats(
    long Routed,
    long Duplicates,
    long Ignored,
    long Late,
    long Unknown,
    long Deferred,
    long Invalid,
    long DeleteFailures,
    long Errors,
    bool Running,
    Exception? LastError,
    string? LastInvalidReason,
    long Unverified = 0,
    long Announcements = 0,
    bool PushLive = false);
