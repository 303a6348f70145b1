using Akka.Actor;

namespace GuestAgent.Agent.Hosting;

/// <summary>
/// A one-shot wait on the runtime's timer queue that tells an actor a message when it ends. Akka's
/// scheduler ticks once a second (<see cref="AgentHost"/>: a finer tick wakes an idle agent for
/// nothing), so an actor's waits shorter than that use this. Starting it again replaces the wait;
/// disposing it ends it. A message already sent is not taken back: its handler must bear a late one.
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
