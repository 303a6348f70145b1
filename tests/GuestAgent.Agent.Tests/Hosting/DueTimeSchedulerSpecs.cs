using System.Diagnostics;
using Akka.Actor;
using GuestAgent.Agent.Hosting;

namespace GuestAgent.Agent.Tests.Hosting;

/// <summary>
/// The agent's Akka scheduler: timers fire when due (not on the next tick of a wheel), a cancelled
/// one never fires, repeated ones keep their rate until cancelled, actors' own timers work on it,
/// and nothing is left scheduled once items have run out or been cancelled.
/// </summary>
public sealed class DueTimeSchedulerSpecs() : Akka.TestKit.Xunit2.TestKit(DueTimeScheduler.Hocon)
{
    private DueTimeScheduler Scheduler => Assert.IsType<DueTimeScheduler>(Sys.Scheduler);

    [Fact]
    public void A_short_timer_fires_when_due_not_on_a_second_tick()
    {
        var sw = Stopwatch.StartNew();
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(80), TestActor, "due", ActorRefs.NoSender);
        ExpectMsg("due", TimeSpan.FromSeconds(5));
        // Not before it was due; and well before the second Akka's 1 s wheel would have waited.
        Assert.InRange(sw.ElapsedMilliseconds, 75, 700);
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
        var sw = Stopwatch.StartNew();
        var cancelable = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100), TestActor, "tick", ActorRefs.NoSender);
        for (var i = 0; i < 5; i++)
        {
            ExpectMsg("tick", TimeSpan.FromSeconds(5));
        }
        // Five runs due at 50, 150 ... 450 ms: fixed rate, not drifting by each run's own delay.
        Assert.InRange(sw.ElapsedMilliseconds, 440, 1500);
        cancelable.Cancel();
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        AwaitCondition(() => Scheduler.Pending == 0, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Actions_run_when_due()
    {
        var ran = new TaskCompletionSource<long>();
        var sw = Stopwatch.StartNew();
        Sys.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(60), () => ran.TrySetResult(sw.ElapsedMilliseconds));
        Assert.InRange(await ran.Task.WaitAsync(TimeSpan.FromSeconds(5)), 55, 700);
    }

    [Fact]
    public void Actor_timers_and_receive_timeouts_work_on_it()
    {
        var actor = Sys.ActorOf(Props.Create(() => new TimerUser(TestActor)));
        ExpectMsg("single", TimeSpan.FromSeconds(5));
        ExpectMsg("periodic", TimeSpan.FromSeconds(5));
        ExpectMsg("periodic", TimeSpan.FromSeconds(5));
        actor.Tell("stop-periodic");
        ExpectMsg("idle", TimeSpan.FromSeconds(5));
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
