namespace GuestAgent.Client;

/// <summary>
/// A message the reply listener deleted from the reply queue without handing it to any call:
/// it is not a v1 reply (not JSON, not an object, a wrong shape), or it answers one of this
/// client's commands but is not signed by one of <see cref="GuestClientOptions.SigningKeys"/>.
/// </summary>
/// <param name="MessageId">The transport's id of the message.</param>
/// <param name="Reason">Why it was dropped. Parts of it come from the message, which anyone with access to the queue could have posted.</param>
/// <param name="CommandId">The command id the message names, when it names one.</param>
/// <param name="Unverified">It is a reply to one of this client's commands that failed the signature check.</param>
public sealed record DroppedMessage(string MessageId, string Reason, Guid? CommandId = null, bool Unverified = false)
{
    public override string ToString() => $"message {MessageId}: {Reason}";
}
