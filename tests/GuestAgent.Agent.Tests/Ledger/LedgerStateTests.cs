using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Tests.Ledger;

public sealed class LedgerStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static (Guid Id, string Json) NewCommand()
    {
        var cmd = Command.Cast(new ExecArgs { Argv = ["true"] }, T0, T0.AddHours(1));
        return (cmd.Id, cmd.ToJson());
    }

    [Fact]
    public void Command_moves_through_its_phases_and_is_remembered_after_its_reply()
    {
        var state = new LedgerState();
        var (id, json) = NewCommand();
        var outcome = new OutcomeV1("succeeded", "{}", null, null, []);

        state.Apply(new CommandAcceptedV1(id, json, "m1", T0));
        Assert.Equal(CommandPhase.Accepted, state.Commands[id].Phase);
        state.Apply(new CommandStartedV1(id, 1, T0));
        Assert.Equal((CommandPhase.Started, 1), (state.Commands[id].Phase, state.Commands[id].Attempt));
        state.Apply(new CommandCompletedV1(id, outcome, T0));
        Assert.Equal(CommandPhase.Finished, state.Commands[id].Phase);
        state.Apply(new CommandRepliedV1(id, T0.AddMinutes(1)));

        Assert.False(state.Commands.ContainsKey(id));
        Assert.True(state.Knows(id));
        Assert.Equal("succeeded", state.Seen[id].FinalStatus);
    }

    [Fact]
    public void Snapshot_round_trip_keeps_live_commands_and_the_dedup_window()
    {
        var state = new LedgerState();
        var (running, runningJson) = NewCommand();
        var (done, doneJson) = NewCommand();
        state.Apply(new CommandAcceptedV1(running, runningJson, "m1", T0));
        state.Apply(new CommandStartedV1(running, 2, T0));
        state.Apply(new CommandAcceptedV1(done, doneJson, "m2", T0));
        state.Apply(new CommandCompletedV1(done, new OutcomeV1("failed", null, "nonzero_exit", "exit 1", []), T0));
        state.Apply(new CommandRepliedV1(done, T0));
        state.Apply(new CommandRejectedV1(Guid.NewGuid(), null, "expired", "late", T0));

        var restored = new LedgerState();
        restored.Restore(state.ToSnapshot());

        Assert.Equal(CommandPhase.Started, restored.Commands[running].Phase);
        Assert.Equal(2, restored.Commands[running].Attempt);
        Assert.Equal("failed", restored.Seen[done].FinalStatus);
        Assert.Equal(2, restored.Seen.Count);
    }

    [Fact]
    public void Ids_older_than_the_dedup_window_are_forgotten_and_newer_ones_kept()
    {
        var state = new LedgerState();
        var old = Guid.NewGuid();
        var recent = Guid.NewGuid();
        state.Apply(new CommandRejectedV1(old, null, "expired", "x", T0));
        state.Apply(new CommandRejectedV1(recent, null, "expired", "x", T0.AddHours(20)));

        var pruned = state.Prune(T0.AddHours(25), TimeSpan.FromHours(24));

        Assert.Equal(1, pruned);
        Assert.False(state.Knows(old));
        Assert.True(state.Knows(recent));
    }
}
