using Akka.Actor;

namespace GuestAgent.Agent.Hosting;

/// <summary>
/// A one-shot wait on the runtime's timer queue that tells an actor a message when it ends, for an
/// actor that restarts one wait often (the outbox's linger, the AMQP consumer's slot re-check):
/// starting it again replaces the wait; disposing it ends it. A message already sent is not taken
/// back: its handler must bear a late one.
/// </summary>
public sealed class ShortTimer(IActorRef receiver, object message, TimeProvider time) : IDisposable
{
    private ITimer? _timer;

    public void Start(TimeSpan delay)
    {
        _timer?.Dispose();
        _timer = time.CreateTimer(_ => receiver.Tell(message, ActorRefs.NoSender), null, delay, Timeout.InfiniteTimeSpan);
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _timer = null;
    }
}
