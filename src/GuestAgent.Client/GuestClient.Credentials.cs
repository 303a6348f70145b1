using GuestAgent.Protocol;

namespace GuestAgent.Client;

public sealed partial class GuestClient
{
    /// <summary>
    /// Hands a guest on pre-signed URLs (auth.mode = presigned) fresh ones before its current ones
    /// expire: a signed <c>credentials</c> call. The agent checks them against its binding, tries
    /// them on its queue service, keeps them across restarts and then switches; until then it keeps
    /// the old ones. The reply comes to the guest's own reply queue, so this client's
    /// <see cref="ReplyQueue"/> must be the binding's reply queue.
    /// </summary>
    /// <returns>When the URLs the agent now uses expire.</returns>
    /// <exception cref="GuestRejectedException">The agent refused the command (unsigned, op not allowed, reply_to not its reply queue).</exception>
    /// <exception cref="GuestCallFailedException">The renewal failed (invalid_credentials, credentials_refused, zaqar_unavailable, not_presigned); the old URLs stay in use.</exception>
    public async Task<CredentialsResult> RenewCredentialsAsync(PreSignedBlock? commandQueue, PreSignedBlock? replyQueue,
        CallOptions? options = null, CancellationToken ct = default)
    {
        if (commandQueue is null && replyQueue is null)
        {
            throw new ArgumentException("Give the command queue's URL, the reply queue's or both.");
        }
        var result = (await CallAsync(new CredentialsArgs(commandQueue, replyQueue), options, ct).ConfigureAwait(false))
            .EnsureSucceeded();
        return result.ResultAs<CredentialsResult>()
               ?? throw new GuestProtocolException($"credentials command {result.CommandId} succeeded without a result.", result.CommandId, Ops.Credentials);
    }
}
