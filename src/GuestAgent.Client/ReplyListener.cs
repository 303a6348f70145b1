using System.Collections.Concurrent;
using System.Text.Json;
using GuestAgent.Client.Transport;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;

namespace GuestAgent.Client;

/// <summary>
/// The one loop per <see cref="GuestClient"/> that receives from its reply queue, parses each
/// message, hands replies to the waiter of their command id and acknowledges (deletes) the
/// message. It never stops on an error: transport failures are counted and backed off from
/// (growing to <see cref="GuestClientOptions.MaxErrorBackoff"/>); any but a transient one (e.g.
/// refused credentials) also fails the calls waiting at that moment, so they do not sit out their timeouts.
/// When the transport can watch the reply queue (<see cref="IControllerTransport.WatchReplyChannel"/>,
/// e.g. push over a socket), it receives on each announcement instead of polling, with a slow
/// safety-net receive, and polls as without a watch whenever the watch is down.
/// </summary>
internal sealed class ReplyListener : IAsyncDisposable
{
    private const int FinishedCapacity = 4096;

    /// <summary>
    /// After an announcement, an empty receive is tried again this much later (once per delay): a
    /// transport may announce a message a few milliseconds before it is stored (Zaqar does).
    /// </summary>
    private static readonly TimeSpan[] AnnouncedRetryDelays = [TimeSpan.FromMilliseconds(3), TimeSpan.FromMilliseconds(12)];

    private readonly IControllerTransport _transport;
    private readonly string _queue;
    private readonly GuestClientOptions _options;
    private readonly ReceiveSettings _receive;
    private readonly Func<CancellationToken, Task> _ensureQueue;
    private readonly ConcurrentDictionary<Guid, ReplyWaiter> _waiters = new();
    private readonly Lock _finishedLock = new();
    private readonly HashSet<Guid> _finished = [];
    private readonly Queue<Guid> _finishedOrder = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _startLock = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set once the loop has received once and its watch, if the transport has one, is live (true) or not (false).</summary>
    private readonly TaskCompletionSource<bool> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private bool _disposed;
    private bool _watchStarted;
    private IChannelWatch? _watch;

    private long _unverified;
    private long _routed, _duplicates, _ignored, _late, _unknown, _deferred, _invalid, _deleteFailures, _errors;
    private Exception? _lastError;
    private string? _lastInvalid;

    public ReplyListener(IControllerTransport transport, string queue, GuestClientOptions options, Func<CancellationToken, Task> ensureQueue)
    {
        _transport = transport;
        _queue = queue;
        _options = options;
        _receive = options.ReplyReceiveSettings;
        _ensureQueue = ensureQueue;
    }

    public ReplyListenerStats Stats => new(
        Interlocked.Read(ref _routed), Interlocked.Read(ref _duplicates), Interlocked.Read(ref _ignored),
        Interlocked.Read(ref _late), Interlocked.Read(ref _unknown), Interlocked.Read(ref _deferred),
        Interlocked.Read(ref _invalid), Interlocked.Read(ref _deleteFailures), Interlocked.Read(ref _errors),
        _loop is { IsCompleted: false }, Volatile.Read(ref _lastError), Volatile.Read(ref _lastInvalid), Interlocked.Read(ref _unverified),
        _watch?.Announcements ?? 0, _watch?.IsLive ?? false);

    /// <summary>Registers interest in a command's replies; do it before posting the command.</summary>
    /// <param name="onAdded">Told about each new reply as it arrives (see <see cref="ReplyWaiter"/>).</param>
    public ReplyWaiter Register(Guid commandId, string op, Action<Reply>? onAdded = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var waiter = new ReplyWaiter(commandId, op, onAdded);
        if (!_waiters.TryAdd(commandId, waiter))
        {
            throw new InvalidOperationException($"Command {commandId} is already being waited for by this client.");
        }
        return waiter;
    }

    /// <summary>Stops routing to the waiter; its later replies are deleted as late.</summary>
    public void Unregister(ReplyWaiter waiter)
    {
        // Into "finished" first, so a reply arriving in between is never taken for an unknown one.
        lock (_finishedLock)
        {
            if (_finished.Add(waiter.CommandId))
            {
                _finishedOrder.Enqueue(waiter.CommandId);
                if (_finishedOrder.Count > FinishedCapacity)
                {
                    _finished.Remove(_finishedOrder.Dequeue());
                }
            }
        }
        _waiters.TryRemove(new KeyValuePair<Guid, ReplyWaiter>(waiter.CommandId, waiter));
    }

    public void EnsureStarted()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_loop is not null)
        {
            return;
        }
        lock (_startLock)
        {
            _loop ??= Task.Run(() => RunAsync(_stop.Token));
        }
    }

    /// <summary>
    /// Starts the loop and returns once it has received from the queue once and, with a transport
    /// that announces, once announcements are live (true), or when <paramref name="pushWait"/>
    /// has passed without (false: the listener polls meanwhile).
    /// </summary>
    public async Task<bool> StartListeningAsync(TimeSpan pushWait, CancellationToken ct)
    {
        EnsureStarted();
        var live = await _listening.Task.WaitAsync(ct).ConfigureAwait(false);
        if (live || _watch is null)
        {
            return live;
        }
        var until = _options.TimeProvider.GetTimestamp();
        while (!_watch.IsLive && _options.TimeProvider.GetElapsedTime(until) < pushWait)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), _options.TimeProvider, ct).ConfigureAwait(false);
        }
        return _watch.IsLive;
    }

    /// <summary>File puts under way: while there are any, polling waits at most <see cref="GuestClientOptions.TransferPollInterval"/>.</summary>
    private int _transfers;

    /// <summary>Marks a file put under way until disposed (<see cref="GuestClientOptions.TransferPollInterval"/>).</summary>
    public IDisposable TransferUnderWay()
    {
        Interlocked.Increment(ref _transfers);
        Wake();
        return new TransferMark(this);
    }

    private sealed class TransferMark(ReplyListener listener) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref listener._transfers);
            }
        }
    }

    /// <summary>Cuts the current idle wait short: a command was just posted.</summary>
    public void Wake() => Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _listening.TrySetCanceled();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopping
            }
        }
        if (_watch is { } watch)
        {
            // After the loop, its only user, has ended.
            await watch.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var waiter in _waiters.Values)
        {
            waiter.Fail(new ObjectDisposedException(nameof(GuestClient), $"The GuestClient was disposed while command {waiter.CommandId} waited for replies."));
        }
        _waiters.Clear();
        _stop.Dispose();
    }

    /// <summary>Announcements are turned off while many calls wait (see <see cref="GuestClientOptions.PushPauseCalls"/>).</summary>
    private bool _announcementsOff;

    private bool WantAnnouncements()
    {
        var pause = _options.PushPauseCalls;
        if (pause > 0)
        {
            var waiting = _waiters.Count;
            _announcementsOff = _announcementsOff ? waiting > pause / 4 : waiting >= pause;
        }
        return !_announcementsOff;
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var idle = _options.MinPollInterval;
        var lastTaken = DateTimeOffset.MinValue;
        var failures = 0;
        // With a watch: completes at its next announcement after the last one acted on.
        Task? announced = null;
        var emptyRetries = 0;
        var wasLive = false;
        while (!stop.IsCancellationRequested)
        {
            IReadOnlyList<TransportMessage> received;
            try
            {
                await _ensureQueue(stop).ConfigureAwait(false);
                if (!_watchStarted)
                {
                    // Once the queue exists: a watch may create it otherwise, without the transport's queue options.
                    _watchStarted = true;
                    _watch = _transport.WatchReplyChannel(_queue);
                }
                if (_watch is { } watch)
                {
                    watch.SetWanted(WantAnnouncements());
                    // Taken before receiving, so that an announcement made during the receive is not missed.
                    if (announced is null)
                    {
                        announced = watch.Changed;
                    }
                    else if (announced.IsCompleted)
                    {
                        announced = watch.Changed;
                        emptyRetries = AnnouncedRetryDelays.Length;
                    }
                }
                received = await _transport.ReceiveAsync(_queue, _receive, stop).ConfigureAwait(false);
                failures = 0;
                _listening.TrySetResult(_watch?.IsLive ?? false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                failures++;
                Report(e);
                if (_transport.Classify(e) != TransportErrorKind.Transient)
                {
                    FailWaiters(e);
                    _listening.TrySetException(e);
                }
                var backoff = TimeSpan.FromMilliseconds(Math.Min(
                    _options.MaxErrorBackoff.TotalMilliseconds,
                    _options.MinPollInterval.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 20))));
                await DelayAsync(backoff, wakeable: false, stop).ConfigureAwait(false);
                continue;
            }

            var deferredOnly = true;
            if (received.Count > 0)
            {
                try
                {
                    deferredOnly = await ProcessAsync(received, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    // Routing is in memory and deletes catch their own errors: this is a bug, but the loop carries on.
                    Report(e);
                }
            }
            if (!deferredOnly)
            {
                idle = _options.MinPollInterval;
                lastTaken = _options.TimeProvider.GetUtcNow();
                emptyRetries = 0;
                if (received.Count < _receive.MaxMessages && _watch is { IsLive: true } pushing && announced is { IsCompleted: false })
                {
                    // Nothing was left behind, and whatever came since is announced: receiving again
                    // now would come back empty, one more request on a server that may serve one at a time.
                    await DelayAsync(pushing.SafetyPollInterval, wakeable: false, stop, announced).ConfigureAwait(false);
                }
                continue;
            }
            if (emptyRetries > 0)
            {
                // A transport may announce a message just before it is stored: look again a moment later.
                await DelayAsync(AnnouncedRetryDelays[^emptyRetries], wakeable: false, stop).ConfigureAwait(false);
                emptyRetries--;
                continue;
            }
            if (_watch is { IsLive: true } live)
            {
                // Announcements bring replies; polling is only a safety net, and posting a command needs no wake-up.
                wasLive = true;
                await DelayAsync(live.SafetyPollInterval, wakeable: false, stop, announced).ConfigureAwait(false);
                continue;
            }
            if (wasLive)
            {
                // The watch went down: poll as without it at once, from the fastest interval.
                wasLive = false;
                idle = _options.MinPollInterval;
            }
            var wait = Volatile.Read(ref _transfers) > 0 && _options.TransferPollInterval < idle ? _options.TransferPollInterval : idle;
            var woken = await DelayAsync(wait, wakeable: true, stop, announced).ConfigureAwait(false);
            // Replies come in bursts (a file's chunks, the steps of a script): right after one
            // was taken, keep polling fast instead of backing off between them.
            var busy = _options.TimeProvider.GetUtcNow() - lastTaken < _options.BusyPeriod;
            idle = woken || busy ? _options.MinPollInterval
                : TimeSpan.FromTicks(Math.Min(_options.MaxPollInterval.Ticks, idle.Ticks * 2));
        }
    }

    /// <summary>Routes and acknowledges received messages; true when none was taken (all left for others).</summary>
    private async Task<bool> ProcessAsync(IReadOnlyList<TransportMessage> received, CancellationToken stop)
    {
        var toDelete = new List<TransportMessage>();
        var released = new List<Task>();
        foreach (var message in received)
        {
            bool delete;
            try
            {
                delete = Route(message);
            }
            catch (Exception e)
            {
                // A bug met by one message must not keep the others received with it from their waiters,
                // nor bring this one back again and again: it goes, and says why.
                Report(e);
                Drop(message, $"cannot be handled ({e.GetType().Name}: {e.Message})", null);
                delete = true;
            }
            if (delete)
            {
                toDelete.Add(message);
            }
            else
            {
                released.Add(ReleaseAsync(message, stop));
            }
        }
        await Task.WhenAll(released.Append(DeleteAllAsync(toDelete, stop))).ConfigureAwait(false);
        return toDelete.Count == 0;
    }

    /// <summary>In one request where the transport can (a file's chunk replies come many to a receive), else one by one.</summary>
    private async Task DeleteAllAsync(IReadOnlyList<TransportMessage> messages, CancellationToken stop)
    {
        if (messages.Count == 0)
        {
            return;
        }
        try
        {
            if (await _transport.TryAcknowledgeManyAsync(messages, stop).ConfigureAwait(false))
            {
                return;
            }
        }
        catch (Exception e) when (_transport.Classify(e) != TransportErrorKind.NotTransport)
        {
            Report(e);
        }
        await Task.WhenAll(messages.Select(m => DeleteAsync(m, stop))).ConfigureAwait(false);
    }

    /// <summary>Hands a message to its waiter; true when it is to be deleted.</summary>
    private bool Route(TransportMessage message)
    {
        if (message.Body.ValueKind == JsonValueKind.Undefined)
        {
            // The transport holds a body that is not JSON (e.g. NaN, Infinity) and says why.
            Drop(message, message.BodyError ?? "no body", null);
            return true;
        }
        if (!ReplyParser.TryParse(message.Body, out var reply, out var error))
        {
            Drop(message, error, NamedCommandId(message.Body));
            return true;
        }
        if (_waiters.TryGetValue(reply.Id, out var waiter))
        {
            // Checked only for replies this client would act on: a shared queue may carry replies
            // to other clients, signed with keys this one does not hold.
            if (_options.Signs && Signatures.Verify(message.Body, Signatures.ReplyDomain, _options.SigningKeys!) is { IsValid: false } check)
            {
                Unverified(message, reply, check, waiter);
                return true;
            }
            switch (waiter.Add(reply))
            {
                case AddOutcome.Added:
                    Interlocked.Increment(ref _routed);
                    break;
                case AddOutcome.Duplicate:
                    Interlocked.Increment(ref _duplicates);
                    break;
                default:
                    Interlocked.Increment(ref _ignored);
                    break;
            }
            return true;
        }
        bool finished;
        lock (_finishedLock)
        {
            finished = _finished.Contains(reply.Id);
        }
        if (finished)
        {
            Interlocked.Increment(ref _late);
            return true;
        }
        if (message.Age < _options.ForeignReplyGrace)
        {
            Interlocked.Increment(ref _deferred);
            return false;
        }
        Interlocked.Increment(ref _unknown);
        return true;
    }

    /// <summary>A message that is no reply: counted, kept as the last reason, and told to <see cref="GuestClientOptions.OnDroppedMessage"/>.</summary>
    private void Drop(TransportMessage message, string reason, Guid? commandId)
    {
        Interlocked.Increment(ref _invalid);
        var dropped = new DroppedMessage(message.Id, reason, commandId);
        Volatile.Write(ref _lastInvalid, dropped.ToString());
        Tell(dropped);
    }

    /// <summary>
    /// A reply to a waiting command that did not verify: never handed on. When it is a rejection
    /// of the command's signature and nothing verified has come for the command, the waiter fails
    /// at once with a diagnosis rather than sitting out its timeout. A forger could end a call
    /// early this way, but anyone who can post to the reply queue can also delete its replies;
    /// what a forger cannot do is make a call return a result of their choosing.
    /// </summary>
    private void Unverified(TransportMessage message, Reply reply, SignatureCheck check, ReplyWaiter waiter)
    {
        Interlocked.Increment(ref _unverified);
        var what = reply.Error is { } e ? $" ({reply.Status} {e.Code}: {e.Message})" : $" ({reply.Status})";
        var dropped = new DroppedMessage(message.Id, $"reply {reply.Id} seq {reply.Seq}{what} dropped: {check.Status}: {check.Message}",
            reply.Id, Unverified: true);
        Volatile.Write(ref _lastInvalid, dropped.ToString());
        waiter.NoteUnverified(dropped.ToString());
        // After a verified reply the agent has plainly taken the signature: a later claim otherwise is forged.
        if (reply.Status == ReplyStatus.Rejected && GuestSigningMismatchException.IsSigningCode(reply.Error?.Code) && waiter.Count == 0)
        {
            waiter.Fail(new GuestSigningMismatchException(waiter.CommandId, waiter.Op, _options.SigningKeys![0].Id, reply, check));
            return;
        }
        Tell(dropped);
    }

    private void Tell(DroppedMessage dropped)
    {
        try
        {
            _options.OnDroppedMessage?.Invoke(dropped);
        }
        catch (Exception)
        {
            // A faulty handler must not stop the listener.
        }
    }

    /// <summary>The command id a message that is no valid reply names, if it names one.</summary>
    private static Guid? NamedCommandId(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
        && Guid.TryParse(id.GetString(), out var guid) ? guid : null;

    private async Task DeleteAsync(TransportMessage message, CancellationToken stop)
    {
        try
        {
            await message.AcknowledgeAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (_transport.Classify(e) != TransportErrorKind.NotTransport)
        {
            // The message comes back when its lease runs out; its (id, seq) is then a duplicate.
            Interlocked.Increment(ref _deleteFailures);
            Report(e);
        }
    }

    /// <summary>Leaves a message for another client sharing the queue; if that fails, its lease runs out all the same.</summary>
    private async Task ReleaseAsync(TransportMessage message, CancellationToken stop)
    {
        try
        {
            await message.ReleaseAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (_transport.Classify(e) != TransportErrorKind.NotTransport)
        {
            Report(e);
        }
    }

    private void Report(Exception e)
    {
        Interlocked.Increment(ref _errors);
        Volatile.Write(ref _lastError, e);
        try
        {
            _options.OnListenerError?.Invoke(e);
        }
        catch (Exception)
        {
            // A faulty handler must not stop the listener.
        }
    }

    private void FailWaiters(Exception cause)
    {
        foreach (var waiter in _waiters.Values)
        {
            waiter.Fail(new GuestClientException(
                $"The reply listener cannot claim replies from queue '{_queue}' for {waiter.Op} command {waiter.CommandId}: {cause.Message}",
                waiter.CommandId, waiter.Op, cause));
        }
    }

    /// <summary>
    /// Waits <paramref name="delay"/>; true when <see cref="Wake"/> or <paramref name="announced"/>
    /// (the watch's next announcement) cut it short.
    /// </summary>
    private async Task<bool> DelayAsync(TimeSpan delay, bool wakeable, CancellationToken stop, Task? announced = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var sleep = Task.Delay(delay, _options.TimeProvider, cts.Token);
        var wake = wakeable ? Volatile.Read(ref _wake).Task : Task.Delay(Timeout.Infinite, cts.Token);
        var first = await Task.WhenAny(sleep, wake, announced ?? Task.Delay(Timeout.Infinite, cts.Token)).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        return first != sleep && !stop.IsCancellationRequested;
    }
}
