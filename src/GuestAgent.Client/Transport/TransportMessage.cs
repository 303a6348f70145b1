using System.Text.Json;

namespace GuestAgent.Client.Transport;

/// <summary>
/// A message received from a reply channel, reserved for its receiver until it is acknowledged
/// (handled: gone for good) or released (left for another receiver, or a later receive).
/// </summary>
public abstract class TransportMessage
{
    protected TransportMessage(string id, JsonElement body, string? bodyError, TimeSpan age)
    {
        Id = id;
        Body = body;
        BodyError = bodyError;
        Age = age;
    }

    /// <summary>The transport's id of the message.</summary>
    public string Id { get; }

    /// <summary>The JSON body; <see cref="JsonValueKind.Undefined"/> when it could not be read (<see cref="BodyError"/> says why).</summary>
    public JsonElement Body { get; }

    /// <summary>Why <see cref="Body"/> could not be read; null when it could.</summary>
    public string? BodyError { get; }

    /// <summary>How long the message has been on the channel.</summary>
    public TimeSpan Age { get; }

    /// <summary>Removes the message from the channel: it was handled (or is not worth keeping).</summary>
    public abstract Task AcknowledgeAsync(CancellationToken ct);

    /// <summary>Gives the message up unhandled, so that it is delivered again, to this receiver or another.</summary>
    public abstract Task ReleaseAsync(CancellationToken ct);
}
