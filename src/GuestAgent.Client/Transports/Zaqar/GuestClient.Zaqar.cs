using GuestAgent.Client.Transports.Zaqar;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Client;

/// <summary>
/// Where a <see cref="GuestClient"/> is composed with Zaqar for its callers (guestctl among them):
/// the rest of the client knows only <see cref="Transport.IControllerTransport"/>.
/// </summary>
public sealed partial class GuestClient
{
    /// <summary>A client over Zaqar: the same as <c>new GuestClient(new ZaqarTransport(zaqar), ...)</c>.</summary>
    public GuestClient(ZaqarClient zaqar, string commandQueue, string replyQueue, GuestClientOptions? options = null)
        : this(new ZaqarTransport(zaqar ?? throw new ArgumentNullException(nameof(zaqar))), commandQueue, replyQueue, options)
    {
    }

    /// <summary>
    /// <see cref="RenewCredentialsAsync(PreSignedBlock?, PreSignedBlock?, CallOptions?, CancellationToken)"/>
    /// with the pre-signed URLs as the Zaqar client makes them.
    /// </summary>
    public Task<CredentialsResult> RenewCredentialsAsync(PreSignedUrl? commandQueue, PreSignedUrl? replyQueue,
        CallOptions? options = null, CancellationToken ct = default) =>
        RenewCredentialsAsync(ToBlock(commandQueue), ToBlock(replyQueue), options, ct);

    private static PreSignedBlock? ToBlock(PreSignedUrl? url) =>
        url is null ? null : new PreSignedBlock(url.Paths, url.Methods, url.Expires, url.Signature, url.Project);
}
