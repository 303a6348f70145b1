using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Transports.Zaqar.Credentials;

/// <summary>
/// The pre-signed URLs one binding uses now. Its Zaqar client reads them for every request
/// (<see cref="Zaqar"/>), so a renewal takes effect at the next claim, delete or reply post.
/// </summary>
public sealed class GuestCredentials
{
    private readonly object _gate = new();

    public GuestCredentials(PreSignedUrl commandQueue, PreSignedUrl replyQueue)
    {
        CommandQueue = commandQueue;
        ReplyQueue = replyQueue;
        Zaqar = new PreSignedCredentials([commandQueue, replyQueue]);
    }

    /// <summary>What the binding's Zaqar client authenticates with.</summary>
    public PreSignedCredentials Zaqar { get; }

    public PreSignedUrl CommandQueue { get; private set; }

    public PreSignedUrl ReplyQueue { get; private set; }

    /// <summary>When the first of the two URLs expires.</summary>
    public DateTimeOffset ExpiresAt
    {
        get
        {
            lock (_gate)
            {
                return CommandQueue.ExpiresAt < ReplyQueue.ExpiresAt ? CommandQueue.ExpiresAt : ReplyQueue.ExpiresAt;
            }
        }
    }

    public void Replace(PreSignedUrl commandQueue, PreSignedUrl replyQueue)
    {
        lock (_gate)
        {
            CommandQueue = commandQueue;
            ReplyQueue = replyQueue;
            Zaqar.Replace([commandQueue, replyQueue]);
        }
    }
}
