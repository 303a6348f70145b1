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

    private static Command Chunk(int index, string replyTo = "replies-1")
    {
        var data = new byte[index == 2 ? 1 : 4];
        data[0] = 7;
        return Command.Call(new FilePutArgs
        {
            TransferId = Guid.NewGuid(), Path = "/srv/f.bin", Size = 9, Sha256 = new string('a', 64), ChunkBytes = 4,
            Index = index, Count = 3, DataB64 = Convert.ToBase64String(data), Mode = "0640",
        }, replyTo, T0, T0.AddHours(1), InterruptPolicy.Rerun);
    }

    [Fact]
    public void A_chunk_command_is_journaled_without_its_bytes_and_read_back_with_its_identity_but_marked_unrunnable()
    {
        var chunk = Chunk(1);
        var journaled = ChunkJournal.WithoutData(chunk.ToJson())!;
        Assert.DoesNotContain("data_b64", journaled);
        Assert.Contains("\"index\":1", journaled);

        // Live: the command as parsed from the queue, bytes and all; the journal's JSON has none.
        var live = new LedgerState();
        live.Apply(new ChunkCommandAcceptedV1(chunk.Id, journaled, "m1", T0), chunk);
        Assert.Same(chunk, live.Commands[chunk.Id].Command);
        Assert.True(live.Commands[chunk.Id].DataOmitted);

        // Recovered from the event, and from a snapshot: the same command, placeholder bytes, still marked.
        var recovered = new LedgerState();
        recovered.Apply(new ChunkCommandAcceptedV1(chunk.Id, journaled, "m1", T0));
        recovered.Apply(new CommandStartedV1(chunk.Id, 1, T0));
        var fromSnapshot = new LedgerState();
        fromSnapshot.Restore(recovered.ToSnapshot());
        foreach (var state in new[] { recovered, fromSnapshot })
        {
            var entry = state.Commands[chunk.Id];
            Assert.True(entry.DataOmitted);
            Assert.Equal(CommandPhase.Started, entry.Phase);
            Assert.Equal(journaled, entry.CommandJson);
            Assert.Equal(("replies-1", InterruptPolicy.Rerun), (entry.Command.ReplyTo, entry.Command.OnInterrupt));
            var args = Assert.IsType<FilePutArgs>(entry.Command.Args);
            Assert.Equal((1, 4, 3), (args.Index, args.ChunkBytes, args.Count));
            Assert.Equal(new byte[4], args.DecodeData());
        }
        Assert.True(fromSnapshot.ToSnapshot().Commands.Single().DataOmitted);
    }

    [Fact]
    public void The_last_and_an_empty_chunk_read_back_with_placeholders_of_their_own_length()
    {
        var last = Chunk(2);
        var state = new LedgerState();
        state.Apply(new ChunkCommandAcceptedV1(last.Id, ChunkJournal.WithoutData(last.ToJson())!, null, T0));
        Assert.Single(((FilePutArgs)state.Commands[last.Id].Command.Args).DecodeData());

        var empty = Command.Call(new FilePutArgs
        {
            TransferId = Guid.NewGuid(), Path = "/srv/empty", Size = 0, Sha256 = new string('b', 64), ChunkBytes = 4, Index = 0, Count = 1, DataB64 = "",
        }, "replies-1", T0, T0.AddHours(1));
        state.Apply(new ChunkCommandAcceptedV1(empty.Id, ChunkJournal.WithoutData(empty.ToJson())!, null, T0));
        Assert.Empty(((FilePutArgs)state.Commands[empty.Id].Command.Args).DecodeData());
    }
}
