namespace GuestAgent.Client.Transport;

/// <summary>What a failure means to the client's retries (see <see cref="IControllerTransport.Classify"/>).</summary>
public enum TransportErrorKind
{
    /// <summary>Not the transport's failure (a bug, a cancellation, a bad argument).</summary>
    NotTransport,

    /// <summary>Trying again later may succeed: no answer, the service busy or restarting.</summary>
    Transient,

    /// <summary>Trying again will not help: refused, forbidden, no such channel.</summary>
    Permanent,
}
