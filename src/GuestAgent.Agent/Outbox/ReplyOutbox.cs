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
                JsonNode? body = key is null ? JsonNode.Parse(d.Replies[i].ToUtf8Bytes()) : Signatures.SignReply(d.Replies[i], key);
                _pending.AddLast(new Item(d.CommandId, d.Queue, new OutgoingMessage(body, replyTtlSeconds),
                    d.HasFinal && i == d.Replies.Count - 1, Sender));
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
            if (f.Cause is ZaqarException { IsTransient: false } z && z.StatusCode is >= 400 and < 500)
            {
                // Zaqar will never take it (queue name refused, no right to post there): retrying
                // would stop every later reply. Say so loudly and move on.
                for (var i = 0; i < batch; i++)
                {
                    var item = _pending.First!.Value;
                    _pending.RemoveFirst();
                    _log.ForContext("CommandId", item.CommandId).Error("reply to queue {Queue} refused by Zaqar ({Status}): {Error}; dropped",
                        item.Queue, z.StatusCode, z.Message);
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
