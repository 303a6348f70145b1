using GuestAgent.Client.Transport;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;

namespace GuestAgent.Client;

/// <summary>Settings of one <see cref="GuestClient"/>.</summary>
public sealed record GuestClientOptions
{
    /// <summary>
    /// How long a call waits for its final reply when <see cref="CallOptions.Timeout"/> is not
    /// given. For exec the wait is at least the command's own <c>timeout_s</c> + <c>kill_grace_s</c>
    /// + <see cref="ExecTimeoutMargin"/>, so a long run is not given up on before the guest does.
    /// </summary>
    public TimeSpan DefaultCallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Added to an exec's own limits when computing its default wait (queueing, reply latency).</summary>
    public TimeSpan ExecTimeoutMargin { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a command may wait in the command queue before it must not start: it becomes the
    /// command's <c>expires_at</c> (issued_at + this) and its message's time to live on the transport
    /// (rounded into what the transport supports, e.g. a minimum of 60 s).
    /// For signed commands the agent refuses more than its <c>signing.max-command-lifetime</c> (default 1 h).
    /// </summary>
    public TimeSpan CommandTimeToLive { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long replies received but not yet handled stay reserved for this client before the
    /// transport delivers them again (<see cref="ReceiveSettings.Lease"/>; a claim's TTL on a
    /// queue with claims). The transport checks it against its own limits when the client is created.
    /// </summary>
    public int ReplyClaimTtlSeconds { get; init; } = 60;

    /// <summary>
    /// How long a received reply is kept at least past its lease (<see cref="ReceiveSettings.Grace"/>;
    /// a claim's grace). The transport checks it against its own limits.
    /// </summary>
    public int ReplyClaimGraceSeconds { get; init; } = 60;

    /// <summary>Most messages taken from the reply queue at once (<see cref="ReceiveSettings.MaxMessages"/>; the transport may allow fewer).</summary>
    public int ReplyClaimLimit { get; init; } = 20;

    /// <summary>
    /// The guest's query queue, when its binding has one (an AMQP binding's <c>amqp.query-queue</c>):
    /// status, cancel and ping are sent there instead of to the command queue, so that they are
    /// answered even while every operation slot of the guest is busy. Null: everything goes to the
    /// command queue (over Zaqar the agent takes queries out of turn by itself).
    /// </summary>
    public string? QueryQueue { get; init; }

    /// <summary>
    /// With a watch on the reply queue (push over Zaqar's WebSocket): while at least this many calls
    /// wait for replies, announcements are turned off (the subscription is dropped) and the queue is
    /// polled at <see cref="MinPollInterval"/>; they are turned on again when at most a quarter of
    /// this many wait. Replies then stream in anyway, and announcing each one costs Zaqar a notifier
    /// post and every process on the way CPU (at 32 concurrent calls on a 2-core bed, about a third
    /// of the calls per second). 0: never off.
    /// </summary>
    public int PushPauseCalls { get; init; } = 16;

    /// <summary>Poll interval right after replies arrived (or a command was posted).</summary>
    public TimeSpan MinPollInterval { get; init; } = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// While a file put has chunks out, the reply queue is polled at most this long apart: each
    /// chunk's reply lets the next chunk go, and at <see cref="MinPollInterval"/> a 64 MiB put spent
    /// much of its time waiting for replies already posted. Push (a reply watch) makes it moot.
    /// </summary>
    public TimeSpan TransferPollInterval { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>For this long after a reply was taken the reply queue is polled at <see cref="MinPollInterval"/> (replies come in bursts).</summary>
    public TimeSpan BusyPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The idle poll interval doubles from <see cref="MinPollInterval"/> up to this.</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Longest back-off of the reply listener after transport errors (it starts at <see cref="MinPollInterval"/>
    /// and doubles). Short, because calls wait on it: a controller is one client, not a fleet of guests,
    /// and replies should flow again within seconds of the queue service coming back.
    /// </summary>
    public TimeSpan MaxErrorBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a call whose final reply has arrived waits for replies with lower seq still missing
    /// (chunks in flight) before failing, bounded by the call's own timeout.
    /// </summary>
    public TimeSpan MissingReplyGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Replies for command ids this client does not wait for are deleted once they are at least this
    /// old; younger ones are left under their claim, so that another client sharing the reply queue
    /// (e.g. a second guestctl) can take them when the claim expires. Zero (the default) deletes them
    /// at once: right when the client owns its reply queue, as a service should.
    /// </summary>
    public TimeSpan ForeignReplyGrace { get; init; } = TimeSpan.Zero;

    /// <summary>Told about every error of the reply listener (it carries on after each; see <see cref="GuestClient.Stats"/>).</summary>
    public Action<Exception>? OnListenerError { get; init; }

    /// <summary>
    /// Told about each message the reply listener deletes as not a reply or as an unverified one
    /// (see <see cref="DroppedMessage"/>), on the listener's thread; its exceptions are swallowed.
    /// Not told about an unverified rejection that ends a call with <see cref="GuestSigningMismatchException"/>:
    /// that call reports it. <see cref="ReplyListenerStats"/> counts them all.
    /// </summary>
    public Action<DroppedMessage>? OnDroppedMessage { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// The keys shared with the guest's agent (docs/protocol.md, "Signing"). When set, every command
    /// is signed with the first key, and only replies signed with one of these keys are accepted:
    /// unsigned or badly signed replies are dropped and counted (<see cref="ReplyListenerStats.Unverified"/>),
    /// so another guest of the same project cannot forge them. During a key rotation list the new
    /// key first and the old one after it. Null or empty: commands go unsigned (the agent must allow
    /// that) and replies are not checked.
    /// </summary>
    public IReadOnlyList<SigningKey>? SigningKeys { get; init; }

    internal bool Signs => SigningKeys is { Count: > 0 };

    /// <summary>How the reply listener receives; the transport checks them against its own limits.</summary>
    internal ReceiveSettings ReplyReceiveSettings =>
        new(ReplyClaimLimit, TimeSpan.FromSeconds(ReplyClaimTtlSeconds), TimeSpan.FromSeconds(ReplyClaimGraceSeconds));

    internal void Validate()
    {
        static void Positive(TimeSpan t, string name)
        {
            if (t <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(name, t, $"{name} must be positive.");
            }
        }
        Positive(DefaultCallTimeout, nameof(DefaultCallTimeout));
        Positive(CommandTimeToLive, nameof(CommandTimeToLive));
        Positive(MinPollInterval, nameof(MinPollInterval));
        Positive(TransferPollInterval, nameof(TransferPollInterval));
        Positive(MaxErrorBackoff, nameof(MaxErrorBackoff));
        if (MaxPollInterval < MinPollInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPollInterval), MaxPollInterval, "MaxPollInterval must not be below MinPollInterval.");
        }
        if (ExecTimeoutMargin < TimeSpan.Zero || MissingReplyGrace < TimeSpan.Zero || ForeignReplyGrace < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ExecTimeoutMargin), "Margins and graces must not be negative.");
        }
        if (PushPauseCalls < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(PushPauseCalls), PushPauseCalls, "PushPauseCalls must not be negative.");
        }
        if (ReplyClaimLimit < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ReplyClaimLimit), ReplyClaimLimit, "ReplyClaimLimit must be at least 1.");
        }
        if (SigningKeys is not null && SigningKeys.GroupBy(k => k.Id).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new ArgumentException($"Signing key id '{twice.Key}' is given twice.", nameof(SigningKeys));
        }
        if (ReplyClaimTtlSeconds < 1 || ReplyClaimGraceSeconds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ReplyClaimTtlSeconds), "The reply lease must be positive and its grace not negative.");
        }
    }
}

/// <summary>Per-call settings of <see cref="GuestClient.CallAsync"/>.</summary>
public sealed record CallOptions
{
    /// <summary>How long to wait for the final reply; see <see cref="GuestClientOptions.DefaultCallTimeout"/>.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Overrides <see cref="GuestClientOptions.CommandTimeToLive"/> for this command.</summary>
    public TimeSpan? TimeToLive { get; init; }

    public InterruptPolicy OnInterrupt { get; init; } = InterruptPolicy.Fail;

    /// <summary>
    /// The command id; a new one when null. Re-sending a command with the same id is idempotent
    /// on the agent (it does not run twice), which is how a caller retries safely.
    /// </summary>
    public Guid? CommandId { get; init; }
}

/// <summary>Per-cast settings of <see cref="GuestClient.CastAsync"/>.</summary>
public sealed record CastOptions
{
    /// <summary>
    /// Ask for replies on this client's reply queue and wait for the agent's <c>accepted</c> (or
    /// <c>rejected</c>, which throws <see cref="GuestRejectedException"/>). Later replies of the
    /// cast are deleted from the reply queue as they arrive.
    /// </summary>
    public bool WaitForAcceptance { get; init; }

    /// <summary>How long to wait for the acceptance; <see cref="GuestClientOptions.DefaultCallTimeout"/> when null.</summary>
    public TimeSpan? AcceptanceTimeout { get; init; }

    /// <summary>
    /// Replies go to this queue (not read by this client). Not allowed together with
    /// <see cref="WaitForAcceptance"/>, which uses the client's own reply queue.
    /// </summary>
    public string? ReplyTo { get; init; }

    /// <summary>Overrides <see cref="GuestClientOptions.CommandTimeToLive"/> for this command.</summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>
    /// What the agent does with the cast when it restarts while running it: run it again (the
    /// protocol's default for casts) or end it <c>interrupted</c> so that it never runs twice.
    /// </summary>
    public InterruptPolicy OnInterrupt { get; init; } = Command.DefaultInterruptPolicy(CommandMode.Cast);

    public Guid? CommandId { get; init; }
}
