namespace GuestAgent.Client.Transport;

/// <summary>How a reply channel is read.</summary>
/// <param name="MaxMessages">Most messages taken by one receive.</param>
/// <param name="Lease">
/// How long received messages stay reserved for this receiver; one neither acknowledged nor
/// released by then is delivered again (the at-least-once the client deduplicates).
/// </param>
/// <param name="Grace">
/// How long a received message is kept at least past its lease, even when its own time to live
/// runs out sooner, so that a redelivery is still possible. Transports whose messages do not
/// expire ignore it.
/// </param>
public sealed record ReceiveSettings(int MaxMessages, TimeSpan Lease, TimeSpan Grace);
