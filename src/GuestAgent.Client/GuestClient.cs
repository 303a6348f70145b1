using System.Text.Json.Nodes;
using GuestAgent.Client.Transport;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;

namespace GuestAgent.Client;

/// <summary>
/// Drives one guest's agent over a message transport (<see cref="IControllerTransport"/>): sends
/// commands to its command queue and collects the replies from this controller's reply queue.
/// Thread-safe; many calls may be in flight at once. One background listener per client (started
/// by the first command) receives from the reply queue and routes replies by command id; dispose
/// the client to stop it.
/// </summary>
/// <remarks>
/// Give each controller process (or each client) a reply queue of its own: the listener deletes
/// replies it has no waiter for (see <see cref="GuestClientOptions.ForeignReplyGrace"/> for
/// sharing one). Several <see cref="GuestClient"/>s, one per guest, may share a transport, but
/// not a reply queue.
/// </remarks>
public sealed partial class GuestClient : IAsyncDisposable
{
    private readonly IControllerTransport _transport;
    private readonly ReplyListener _listener;
    private readonly SemaphoreSlim _queueGate = new(1, 1);
    private volatile bool _queueReady;

    /// <summary>A client that sends and receives through <paramref name="transport"/>.</summary>
    /// <exception cref="ArgumentException">A queue name the transport or the protocol refuses, or the same queue twice.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Options out of range, the transport's own limits included.</exception>
    public GuestClient(IControllerTransport transport, string commandQueue, string replyQueue, GuestClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        transport.CheckChannelName(commandQueue);
        if (!QueueNames.IsValid(replyQueue))
        {
            throw new ArgumentException($"Invalid reply queue name '{replyQueue}': use 1-{QueueNames.MaxLength} ASCII letters, digits, '_' or '-'.", nameof(replyQueue));
        }
        if (commandQueue == replyQueue)
        {
            throw new ArgumentException("The reply queue must not be the guest's command queue.", nameof(replyQueue));
        }
        Options = options ?? new GuestClientOptions();
        Options.Validate();
        if (Options.QueryQueue is { } queries)
        {
            transport.CheckChannelName(queries);
            if (queries == commandQueue || queries == replyQueue)
            {
                throw new ArgumentException("The query queue must differ from the command queue and the reply queue.", nameof(options));
            }
        }
        transport.CheckReceiveSettings(Options.ReplyReceiveSettings);
        _transport = transport;
        CommandQueue = commandQueue;
        ReplyQueue = replyQueue;
        _listener = new ReplyListener(transport, replyQueue, Options, EnsureReplyQueueAsync);
    }

    /// <summary>What this client sends and receives through (its failures are classified by <see cref="IControllerTransport.Classify"/>).</summary>
    public IControllerTransport Transport => _transport;

    /// <summary>The guest's command queue.</summary>
    public string CommandQueue { get; }

    /// <summary>This controller's reply queue (the <c>reply_to</c> of its commands).</summary>
    public string ReplyQueue { get; }

    public GuestClientOptions Options { get; }

    /// <summary>What the reply listener has seen so far.</summary>
    public ReplyListenerStats Stats => _listener.Stats;

    /// <summary>Replies for command ids this client never waited for, deleted so far.</summary>
    public long UnknownReplies => _listener.Stats.Unknown;

    /// <summary>Messages on the reply queue that were not replies, deleted so far.</summary>
    public long InvalidMessages => _listener.Stats.Invalid;

    /// <summary>
    /// Sends a call and waits for its final reply (and every reply before it). A command that ends
    /// <c>rejected</c>, <c>failed</c>, <c>timed_out</c> ... is returned, not thrown: see
    /// <see cref="CallResult.Succeeded"/>.
    /// </summary>
    /// <exception cref="GuestTimeoutException">No complete set of replies within the timeout.</exception>
    /// <exception cref="GuestOutputException">Exec output is missing a chunk or does not verify.</exception>
    /// <exception cref="Exception">Sending the command failed: the transport's own exception (see <see cref="IControllerTransport.Classify"/>).</exception>
    public Task<CallResult> CallAsync(OpArgs args, CallOptions? options = null, CancellationToken ct = default) =>
        CallAsync(args, options, onReply: null, idleTimeout: null, ct);

    /// <summary>
    /// <see cref="CallAsync(OpArgs, CallOptions?, CancellationToken)"/> for long calls that report as
    /// they go (file transfers).
    /// </summary>
    /// <param name="onReply">
    /// Told about each new reply as it arrives, on the reply listener's thread (keep it short), so
    /// that progress can be shown before the call completes.
    /// </param>
    /// <param name="idleTimeout">
    /// When set, the call gives up only after this long without any new reply, instead of after
    /// <see cref="CallOptions.Timeout"/> in all: a download that keeps delivering chunks is never cut
    /// off for being big, and one that stalls is noticed as soon as it stalls.
    /// </param>
    internal async Task<CallResult> CallAsync(
        OpArgs args, CallOptions? options, Action<Reply>? onReply, TimeSpan? idleTimeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        options ??= new CallOptions();
        var now = Options.TimeProvider.GetUtcNow();
        var ttl = options.TimeToLive ?? Options.CommandTimeToLive;
        var command = Command.Call(args, ReplyQueue, now, now + ttl, options.OnInterrupt, options.CommandId);
        var timeout = options.Timeout ?? DefaultTimeout(args);

        var activity = new Activity(Options.TimeProvider);
        Action<Reply>? observe = idleTimeout is null ? onReply : reply =>
        {
            activity.Touch();
            onReply?.Invoke(reply);
        };
        var waiter = _listener.Register(command.Id, command.Op, observe);
        try
        {
            await PostAsync(command, ttl, ct).ConfigureAwait(false);
            var started = Options.TimeProvider.GetTimestamp();
            activity.Touch();
            try
            {
                if (idleTimeout is { } idle)
                {
                    await WaitWhileActiveAsync(waiter.Completed.Task, idle, activity, ct).ConfigureAwait(false);
                }
                else if (await Task.WhenAny(waiter.Completed.Task, waiter.FinalArrived.Task)
                    .WaitAsync(timeout, Options.TimeProvider, ct).ConfigureAwait(false) != waiter.Completed.Task)
                {
                    await waiter.FinalArrived.Task.ConfigureAwait(false); // rethrows a listener failure
                    // The final reply is in but an earlier one (a chunk) is not: give it a little longer.
                    var left = timeout - Options.TimeProvider.GetElapsedTime(started);
                    var grace = left < Options.MissingReplyGrace ? left : Options.MissingReplyGrace;
                    await waiter.Completed.Task.WaitAsync(grace > TimeSpan.Zero ? grace : TimeSpan.Zero, Options.TimeProvider, ct).ConfigureAwait(false);
                }
            }
            catch (TimeoutException)
            {
                var final = waiter.Final;
                throw new GuestTimeoutException(command.Id, command.Op, CommandQueue, ReplyQueue,
                    Options.TimeProvider.GetElapsedTime(started), waiter.AcceptedSeen, waiter.Count, final,
                    final is null ? [] : waiter.MissingSeqs, waiter.Unverified, waiter.LastUnverified);
            }
            var replies = await waiter.Completed.Task.ConfigureAwait(false);
            return CallResult.Create(command.Id, command.Op, replies);
        }
        finally
        {
            _listener.Unregister(waiter);
        }
    }

    /// <summary>
    /// Sends a cast and returns its id. With <see cref="CastOptions.WaitForAcceptance"/> it first
    /// waits for the agent's <c>accepted</c>.
    /// </summary>
    /// <exception cref="GuestRejectedException">The agent refused the command.</exception>
    /// <exception cref="GuestTimeoutException">No reply within the acceptance timeout.</exception>
    public async Task<Guid> CastAsync(OpArgs args, CastOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        options ??= new CastOptions();
        if (options.WaitForAcceptance && options.ReplyTo is not null && options.ReplyTo != ReplyQueue)
        {
            throw new ArgumentException("WaitForAcceptance uses the client's own reply queue; leave ReplyTo unset.", nameof(options));
        }
        var now = Options.TimeProvider.GetUtcNow();
        var ttl = options.TimeToLive ?? Options.CommandTimeToLive;
        var replyTo = options.WaitForAcceptance ? ReplyQueue : options.ReplyTo;
        var command = Command.Cast(args, now, now + ttl, replyTo, options.OnInterrupt, options.CommandId);
        if (!options.WaitForAcceptance)
        {
            await PostAsync(command, ttl, ct).ConfigureAwait(false);
            return command.Id;
        }

        var timeout = options.AcceptanceTimeout ?? Options.DefaultCallTimeout;
        var waiter = _listener.Register(command.Id, command.Op);
        try
        {
            await PostAsync(command, ttl, ct).ConfigureAwait(false);
            var started = Options.TimeProvider.GetTimestamp();
            Reply first;
            try
            {
                first = await waiter.FirstReply.Task.WaitAsync(timeout, Options.TimeProvider, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new GuestTimeoutException(command.Id, command.Op, CommandQueue, ReplyQueue,
                    Options.TimeProvider.GetElapsedTime(started), acceptedSeen: false, waiter.Count, null, [],
                    waiter.Unverified, waiter.LastUnverified);
            }
            // Any reply but a rejection means the agent took it (the accepted one may just be slower).
            return first.Status == ReplyStatus.Rejected
                ? throw new GuestRejectedException(command.Id, command.Op, first)
                : command.Id;
        }
        finally
        {
            _listener.Unregister(waiter);
        }
    }

    /// <summary>Where an earlier command stands.</summary>
    /// <exception cref="GuestCallFailedException">The status command itself did not succeed (e.g. rejected).</exception>
    public async Task<StatusResult> StatusAsync(Guid commandId, CallOptions? options = null, CancellationToken ct = default)
    {
        var result = (await CallAsync(new StatusArgs(commandId), options, ct).ConfigureAwait(false)).EnsureSucceeded();
        return result.ResultAs<StatusResult>()
               ?? throw new GuestProtocolException($"status command {result.CommandId} succeeded without a result.", result.CommandId, Ops.Status);
    }

    /// <summary>
    /// Asks the agent to stop an earlier command. Returns the cancel command's final reply as it is
    /// (its result, a <see cref="StatusResult"/>, describes the target as the cancel found it); the
    /// target itself then ends with its own <c>cancelled</c> reply.
    /// </summary>
    public async Task<Reply> CancelAsync(Guid commandId, CallOptions? options = null, CancellationToken ct = default) =>
        (await CallAsync(new CancelArgs(commandId), options, ct).ConfigureAwait(false)).Final;

    /// <summary>
    /// Sends an HTTP request from inside the guest (to a destination the agent allows) and waits
    /// for the response. Any HTTP status is a succeeded call (see <see cref="CallResult.Http"/> and
    /// <see cref="CallResult.Body"/>); a forbidden destination or a connection error ends
    /// <c>failed</c> (error codes <c>forbidden_destination</c>, <c>http_error</c>), returned, not thrown.
    /// </summary>
    /// <exception cref="GuestTimeoutException">No complete set of replies within the timeout.</exception>
    /// <exception cref="GuestOutputException">The body is missing a chunk or does not verify.</exception>
    public Task<CallResult> HttpAsync(HttpArgs args, CallOptions? options = null, CancellationToken ct = default) =>
        CallAsync(args, options, ct);

    /// <summary>Checks that the agent is alive and what it can do.</summary>
    /// <exception cref="GuestCallFailedException">The ping did not succeed.</exception>
    public async Task<PingResult> PingAsync(CallOptions? options = null, CancellationToken ct = default)
    {
        var result = (await CallAsync(new PingArgs(), options, ct).ConfigureAwait(false)).EnsureSucceeded();
        return result.ResultAs<PingResult>()
               ?? throw new GuestProtocolException($"ping command {result.CommandId} succeeded without a result.", result.CommandId, Ops.Ping);
    }

    /// <summary>
    /// Starts reading the reply queue now rather than with the first command, and returns once it is
    /// read and, over a transport that announces new replies (Zaqar's WebSocket, AMQP), once
    /// announcements come (true), or after <paramref name="pushWait"/> (default 5 s) without
    /// (false: replies are polled meanwhile, and announcements are used once they come). A
    /// controller that calls this before its first command does not pay for the reply queue's
    /// set-up in that command's latency.
    /// </summary>
    public async Task<bool> StartListeningAsync(TimeSpan? pushWait = null, CancellationToken ct = default)
    {
        await EnsureReplyQueueAsync(ct).ConfigureAwait(false);
        return await _listener.StartListeningAsync(pushWait ?? TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
    }

    /// <summary>Stops the reply listener; calls still waiting fail with <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync().ConfigureAwait(false);
        _queueGate.Dispose();
    }

    /// <summary>Waits for <paramref name="task"/> as long as replies keep coming at most <paramref name="idle"/> apart.</summary>
    /// <exception cref="TimeoutException">Nothing arrived for <paramref name="idle"/>.</exception>
    private async Task WaitWhileActiveAsync(Task task, TimeSpan idle, Activity activity, CancellationToken ct)
    {
        while (true)
        {
            var left = idle - activity.Since();
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException();
            }
            try
            {
                await task.WaitAsync(left, Options.TimeProvider, ct).ConfigureAwait(false);
                return;
            }
            catch (TimeoutException)
            {
                // A reply may have come meanwhile: measure again from the latest one.
            }
        }
    }

    /// <summary>When the last reply of a call arrived (for <see cref="WaitWhileActiveAsync"/>).</summary>
    private sealed class Activity(TimeProvider time)
    {
        private long _last = time.GetTimestamp();

        public void Touch() => Interlocked.Exchange(ref _last, time.GetTimestamp());

        public TimeSpan Since() => time.GetElapsedTime(Interlocked.Read(ref _last));
    }

    private TimeSpan DefaultTimeout(OpArgs args)
    {
        if (args is ExecArgs exec)
        {
            var run = TimeSpan.FromSeconds(exec.TimeoutSeconds + exec.KillGraceSeconds) + Options.ExecTimeoutMargin;
            return run > Options.DefaultCallTimeout ? run : Options.DefaultCallTimeout;
        }
        if (args is HttpArgs http)
        {
            var run = TimeSpan.FromSeconds(http.TimeoutSeconds) + Options.ExecTimeoutMargin;
            return run > Options.DefaultCallTimeout ? run : Options.DefaultCallTimeout;
        }
        return Options.DefaultCallTimeout;
    }

    /// <summary>A file put is under way until disposed: its chunks' replies are polled for quickly.</summary>
    internal IDisposable TransferUnderWay() => _listener.TransferUnderWay();

    private async Task PostAsync(Command command, TimeSpan ttl, CancellationToken ct)
    {
        if (command.ReplyTo == ReplyQueue)
        {
            // The reply queue exists and is being read before the agent can answer.
            await EnsureReplyQueueAsync(ct).ConfigureAwait(false);
            _listener.EnsureStarted();
        }
        JsonNode body = Options.Signs ? Signatures.SignCommand(command, Options.SigningKeys![0]) : JsonNode.Parse(command.ToUtf8Bytes())!;
        var queue = Options.QueryQueue is { } queries && Ops.IsQuery(command.Op) ? queries : CommandQueue;
        await _transport.SendAsync(queue, body, ttl, ct).ConfigureAwait(false);
        _listener.Wake();
    }

    private async Task EnsureReplyQueueAsync(CancellationToken ct)
    {
        if (_queueReady)
        {
            return;
        }
        await _queueGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!_queueReady)
            {
                await _transport.EnsureReplyChannelAsync(ReplyQueue, ct).ConfigureAwait(false);
                _queueReady = true;
            }
        }
        finally
        {
            _queueGate.Release();
        }
    }
}
