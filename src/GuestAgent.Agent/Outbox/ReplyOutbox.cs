using System.Text.Json.Nodes;
using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Ledger;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Signing;
using GuestAgent.Zaqar;
using Serilog;

namespace GuestAgent.Agent.Outbox;

public static class OutboxProtocol
{
    /// <summary>
    /// Replies to post, in order; when <paramref name="HasFinal"/> the sender hears of the last one's delivery.
    /// With <paramref name="KeyId"/> (the key that signed the command) each reply is signed.
    /// </summary>
    public sealed record Deliver(Guid CommandId, string Queue, IReadOnlyList<Reply> Replies, bool HasFinal, string? KeyId = null);

    internal sealed record Posted(int Count);

    internal sealed record PostFailed(Exception Cause);

    internal sealed record Retry;
}

/// <summary>
/// Posts one tenant's replies until Zaqar takes them, in order, packing several into one POST
/// where they fit. Zaqar faults are retried with backoff for as long as it takes; what is still
/// here when the agent stops is posted again from the ledger after the restart.
/// </summary>
public sealed class ReplyOutbox : ReceiveActor, IWithTimers
{
    private sealed record Item(Guid CommandId, string Queue, OutgoingMessage Message, bool IsFinal, IActorRef Notify);

    private readonly LinkedList<Item> _pending = new();
    private readonly ZaqarClient _zaqar;
    private readonly ILogger _log;
    private readonly TimeSpan _maxBackoff;
    private TimeSpan _backoff = TimeSpan.Zero;
    private int _inFlight;

    public ReplyOutbox(TenantBinding binding, ZaqarClient zaqar, int replyTtlSeconds, TimeSpan maxBackoff)
    {
        _zaqar = zaqar;
        _maxBackoff = maxBackoff;
        _log = Serilog.Log.ForContext("Tenant", binding.Name).ForContext("SourceContext", "ReplyOutbox");

        Receive<OutboxProtocol.Deliver>(d =>
        {
            // The command's own key; if it left the configuration while the command was live
            // (rotation across a restart), the current key, which the controller also holds.
            var key = d.KeyId is null ? null : binding.SigningPolicy.Find(d.KeyId) ?? binding.SigningPolicy.Current;
            for (var i = 0; i < d.Replies.Count; i++)
            {
                var message = Encode(d.Replies[i], key, replyTtlSeconds);
                if (ZaqarClient.PostBodySize([message]) > ZaqarLimits.MaxPostBodyBytes)
                {
                    // Zaqar would refuse it every time, and every later reply of the tenant would wait behind it.
                    var size = ZaqarClient.PostBodySize([message]);
                    var reply = d.Replies[i];
                    _log.ForContext("CommandId", d.CommandId).Error(
                        "reply seq {Seq} ({Status}) is {Size} bytes, more than one Zaqar message takes; posting a failed reply in its place",
                        reply.Seq, reply.Status, size);
                    message = Encode(reply with
                    {
                        Status = reply.Status.IsFinal() ? ReplyStatus.Failed : ReplyStatus.Progress,
                        Result = null,
                        Chunk = null,
                        Error = new ReplyError("internal_error",
                            $"the agent's {reply.Status.ToString().ToLowerInvariant()} reply was {size} bytes, more than Zaqar takes " +
                            $"({ZaqarLimits.MaxPostBodyBytes}); it could not be posted (see the agent log)"),
                    }, key, replyTtlSeconds);
                }
                _pending.AddLast(new Item(d.CommandId, d.Queue, message, d.HasFinal && i == d.Replies.Count - 1, Sender));
            }
            Pump();
        });
        Receive<OutboxProtocol.Posted>(p =>
        {
            _inFlight = 0;
            _backoff = TimeSpan.Zero;
            for (var i = 0; i < p.Count; i++)
            {
                var item = _pending.First!.Value;
                _pending.RemoveFirst();
                if (item.IsFinal)
                {
                    item.Notify.Tell(new CommandLedgerProtocol.FinalReplyDelivered(item.CommandId));
                }
            }
            Pump();
        });
        Receive<OutboxProtocol.PostFailed>(f =>
        {
            var batch = _inFlight;
            _inFlight = 0;
            if (f.Cause is ZaqarException { IsTransient: false, StatusCode: >= 400 and < 500 } or ZaqarLimitException)
            {
                var why = f.Cause is ZaqarException z ? $"refused by Zaqar ({z.StatusCode})" : "larger than Zaqar takes";
                // Zaqar will never take it (queue name refused, no right to post there): retrying
                // would stop every later reply. Say so loudly and move on.
                for (var i = 0; i < batch; i++)
                {
                    var item = _pending.First!.Value;
                    _pending.RemoveFirst();
                    _log.ForContext("CommandId", item.CommandId).Error("reply to queue {Queue} {Why}: {Error}; dropped",
                        item.Queue, why, f.Cause.Message);
                    if (item.IsFinal)
                    {
                        item.Notify.Tell(new CommandLedgerProtocol.FinalReplyDelivered(item.CommandId));
                    }
                }
                Pump();
                return;
            }
            _backoff = _backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromTicks(Math.Min(_maxBackoff.Ticks, _backoff.Ticks * 2));
            _log.Warning("posting {Count} replies failed ({Error}); retrying in {Backoff}", batch, f.Cause.Message, _backoff);
            Timers.StartSingleTimer("retry", new OutboxProtocol.Retry(), _backoff);
        });
        Receive<OutboxProtocol.Retry>(_ => Pump());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private static OutgoingMessage Encode(Reply reply, SigningKey? key, int ttlSeconds) =>
        new(key is null ? JsonNode.Parse(reply.ToUtf8Bytes()) : Signatures.SignReply(reply, key), ttlSeconds);

    public static Props Props(TenantBinding binding, ZaqarClient zaqar, int replyTtlSeconds, TimeSpan maxBackoff) =>
        Akka.Actor.Props.Create(() => new ReplyOutbox(binding, zaqar, replyTtlSeconds, maxBackoff));

    private void Pump()
    {
        if (_inFlight > 0 || _pending.Count == 0 || Timers.IsTimerActive("retry"))
        {
            return;
        }
        var queue = _pending.First!.Value.Queue;
        var batch = new List<OutgoingMessage>();
        foreach (var item in _pending)
        {
            if (item.Queue != queue || batch.Count >= 20)
            {
                break;
            }
            batch.Add(item.Message);
            if (batch.Count > 1 && ZaqarClient.PostBodySize(batch) > ZaqarLimits.MaxPostBodyBytes)
            {
                batch.RemoveAt(batch.Count - 1);
                break;
            }
        }
        _inFlight = batch.Count;
        _zaqar.PostAsync(queue, batch).PipeTo(Self,
            success: _ => new OutboxProtocol.Posted(batch.Count),
            failure: ex => new OutboxProtocol.PostFailed(ex));
    }
}
