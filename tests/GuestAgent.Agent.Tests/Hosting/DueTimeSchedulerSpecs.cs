using Akka.Actor;
using GuestAgent.Agent.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace GuestAgent.Agent.Tests.Hosting;

/// <summary>
/// The agent's Akka scheduler: timers fire when due (not on the next tick of a wheel), a cancelled
/// one never fires, repeated ones keep their rate until cancelled, actors' own timers work on it,
/// and nothing is left scheduled once items have run out or been cancelled.
/// </summary>
public sealed class DueTimeSchedulerSpecs() : Akka.TestKit.Xunit2.TestKit(DueTimeScheduler.Hocon)
{
    private DueTimeScheduler Scheduler => Assert.IsType<DueTimeScheduler>(Sys.Scheduler);

    /// <summary>One on a clock the spec moves: due times are exact whatever the machine's load.</summary>
    private DueTimeScheduler OnClock(FakeTimeProvider time) => new(Sys.Settings.Config, Sys.Log, time);

    [Fact]
    public void A_short_timer_fires_when_due_not_on_a_second_tick()
    {
        var time = new FakeTimeProvider();
        using var scheduler = OnClock(time);
        ((IScheduler)scheduler).ScheduleTellOnce(TimeSpan.FromMilliseconds(80), TestActor, "due", ActorRefs.NoSender);
        time.Advance(TimeSpan.FromMilliseconds(79));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        // At 80 ms, not at the next second a 1 s wheel would have waited for.
        time.Advance(TimeSpan.FromMilliseconds(1));
        ExpectMsg("due", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_cancelled_timer_never_fires_and_is_forgotten()
    {
        var cancelable = Sys.Scheduler.ScheduleTellOnceCancelable(TimeSpan.FromMilliseconds(200), TestActor, "cancelled", ActorRefs.NoSender);
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(400), TestActor, "kept", ActorRefs.NoSender);
        cancelable.Cancel();
        ExpectMsg("kept", TimeSpan.FromSeconds(5));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        AwaitCondition(() => Scheduler.Pending == 0, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_repeated_timer_keeps_its_rate_until_cancelled()
    {
        var time = new FakeTimeProvider();
        using var scheduler = OnClock(time);
        var cancelable = new Cancelable((IScheduler)scheduler);
        ((IScheduler)scheduler).ScheduleTellRepeatedly(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100), TestActor, "tick", ActorRefs.NoSender, cancelable);
        time.Advance(TimeSpan.FromMilliseconds(50));
        ExpectMsg("tick", TimeSpan.FromSeconds(5));
        // Runs due at 150, 250 ... ms: fixed rate, each one interval after the last was due.
        for (var i = 0; i < 4; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(99));
            ExpectNoMsg(TimeSpan.FromMilliseconds(50));
            time.Advance(TimeSpan.FromMilliseconds(1));
            ExpectMsg("tick", TimeSpan.FromSeconds(5));
        }
        cancelable.Cancel();
        time.Advance(TimeSpan.FromMilliseconds(300));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.Equal(0, scheduler.Pending);
    }

    [Fact]
    public void Actions_run_when_due()
    {
        var time = new FakeTimeProvider();
        using var scheduler = OnClock(time);
        var runs = 0;
        ((IScheduler)scheduler).Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(60), () => Interlocked.Increment(ref runs));
        time.Advance(TimeSpan.FromMilliseconds(59));
        Assert.Equal(0, Volatile.Read(ref runs));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, Volatile.Read(ref runs));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, Volatile.Read(ref runs));
    }

    [Fact]
    public void Actor_timers_and_receive_timeouts_work_on_it()
    {
        var actor = Sys.ActorOf(Props.Create(() => new TimerUser(TestActor)));
        // Due 70 ms apart: a loaded machine may deliver them in one tick, in either order.
        ExpectMsgAllOf(TimeSpan.FromSeconds(5), "single", "periodic");
        ExpectMsg("periodic", TimeSpan.FromSeconds(5));
        actor.Tell("stop-periodic");
        // A tick the actor passed on before it took the stop may still be on its way (a loaded
        // machine can run the spec's thread late); none may come after the idle timeout has fired.
        var late = 0;
        string next;
        while ((next = ExpectMsg<string>(TimeSpan.FromSeconds(5))) == "periodic" && late < 2)
        {
            late++;
        }
        Assert.Equal("idle", next);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Many_timers_cancelled_early_leave_nothing_scheduled()
    {
        var cancelables = Enumerable.Range(0, 10_000)
            .Select(_ => Sys.Scheduler.ScheduleTellOnceCancelable(TimeSpan.FromMinutes(5), TestActor, "never", ActorRefs.NoSender))
            .ToList();
        Assert.True(Scheduler.Pending >= 10_000);
        cancelables.ForEach(c => c.Cancel());
        Assert.Equal(0, Scheduler.Pending);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    private sealed class TimerUser : ReceiveActor, IWithTimers
    {
        public ITimerScheduler Timers { get; set; } = null!;

        public TimerUser(IActorRef probe)
        {
            Receive<string>(m => m == "single" || m == "periodic", m => probe.Tell(m));
            Receive<string>(m => m == "stop-periodic", _ =>
            {
                Timers.Cancel("periodic");
                Context.SetReceiveTimeout(TimeSpan.FromMilliseconds(150));
            });
            Receive<ReceiveTimeout>(_ =>
            {
                probe.Tell("idle");
                Context.SetReceiveTimeout(null);
            });
        }

        protected override void PreStart()
        {
            Timers.StartSingleTimer("single", "single", TimeSpan.FromMilliseconds(50));
            Timers.StartPeriodicTimer("periodic", "periodic", TimeSpan.FromMilliseconds(120), TimeSpan.FromMilliseconds(100));
        }
    }
}
