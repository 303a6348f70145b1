using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Metrics;

namespace GuestAgent.Agent.Tenancy;

/// <summary>
/// What the whole agent shares about its own life: the global operation slots, whether it is
/// draining for a shutdown (pollers then claim nothing new while running operations finish), and
/// its metrics.
/// </summary>
public sealed class AgentLifetime(int maxOperations)
{
    public AgentMetrics Metrics { get; init; } = new();

    /// <summary>
    /// The journal was created by this start (an empty state directory): no ledger has anything to
    /// recover, so no recovered command will hold a slot, and a binding's first claim may be sized
    /// and sent while its ledger is still recovering (its offers wait for the recovery).
    /// </summary>
    public bool JournalCreated { get; init; }

    private volatile bool _draining;

    public OperationSlots GlobalSlots { get; } = new(maxOperations);

    public bool Draining => _draining;

    /// <summary>Stops new claims and waits until no operation runs, or <paramref name="grace"/> passes.</summary>
    public async Task<bool> DrainAsync(TimeSpan grace, TimeProvider time, CancellationToken ct = default)
    {
        _draining = true;
        var deadline = time.GetUtcNow() + grace;
        while (GlobalSlots.Used > 0 && time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, ct);
        }
        return GlobalSlots.Used == 0;
    }
}
