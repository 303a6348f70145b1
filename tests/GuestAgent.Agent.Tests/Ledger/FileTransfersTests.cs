using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;

namespace GuestAgent.Agent.Tests.Ledger;

public sealed class FileTransfersTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static TransferOpenedV1 Opened(Guid id, int count = 5) =>
        new(Guid.NewGuid(), id, "/srv/f", "/srv/f", "/srv/.f.part", 5000, new string('a', 64), 1000, count, null, null, null, false, T0);

    [Theory]
    [InlineData(new int[0], "")]
    [InlineData(new[] { 3 }, "3")]
    [InlineData(new[] { 0, 1, 2, 4, 6, 7 }, "0-2,4,6-7")]
    [InlineData(new[] { 9, 1, 0, 2 }, "0-2,9")]
    public void Held_indexes_are_kept_as_ranges_and_read_back(int[] held, string text)
    {
        Assert.Equal(text, Ranges.Encode(held));
        Assert.Equal(held.Order(), Ranges.Decode(text));
    }

    [Fact]
    public void Stored_chunks_survive_a_snapshot_and_progress_lists_the_missing_ones()
    {
        var state = new LedgerState();
        var id = Guid.NewGuid();
        state.Apply(Opened(id));
        foreach (var i in new[] { 0, 1, 3 })
        {
            state.Apply(new TransferChunkStoredV1(Guid.NewGuid(), id, i, T0.AddSeconds(i)));
        }

        var restored = new LedgerState();
        restored.Restore(state.ToSnapshot());

        var t = restored.Transfers.Find(id)!;
        Assert.Equal(3, t.Received.Count);
        Assert.Equal(T0.AddSeconds(3), t.LastProgressAt);
        var progress = t.Progress();
        Assert.Equal([2, 4], progress.Missing);
        Assert.False(progress.Complete);
    }

    [Fact]
    public void Completed_transfer_answers_complete_until_the_dedup_window_passes_and_a_discarded_one_is_gone()
    {
        var state = new LedgerState();
        var done = Guid.NewGuid();
        var dropped = Guid.NewGuid();
        state.Apply(Opened(done, count: 1));
        state.Apply(new TransferChunkStoredV1(Guid.NewGuid(), done, 0, T0));
        state.Apply(new TransferCompletedV1(Guid.NewGuid(), done, 5000, new string('a', 64), T0));
        state.Apply(Opened(dropped));
        state.Apply(new TransferDiscardedV1(Guid.Empty, dropped, "idle", T0));

        var progress = state.Transfers.Find(done)!.Progress();
        Assert.True(progress.Complete);
        Assert.Equal(5000, progress.Bytes);
        Assert.Null(state.Transfers.Find(dropped));

        state.Prune(T0.AddHours(1), TimeSpan.FromHours(2));
        Assert.NotNull(state.Transfers.Find(done));
        state.Prune(T0.AddHours(3), TimeSpan.FromHours(2));
        Assert.Null(state.Transfers.Find(done));
    }

    [Fact]
    public void Snapshot_from_before_file_transfers_restores_with_none()
    {
        var state = new LedgerState();
        state.Apply(Opened(Guid.NewGuid()));

        state.Restore(new LedgerSnapshotV1([], []));

        Assert.Equal(0, state.Transfers.Count);
    }
}
