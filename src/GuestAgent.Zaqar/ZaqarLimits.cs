namespace GuestAgent.Zaqar;

/// <summary>
/// Zaqar 15's limits. The minimums are hard-coded in the server; the maximums are its
/// defaults (<c>[transport]</c> in zaqar.conf). The client checks them before sending so a
/// caller gets a clear error instead of a 400 after a round trip.
/// </summary>
public static class ZaqarLimits
{
    /// <summary>Largest accepted POST body (the whole request body, not one message).</summary>
    public const int MaxPostBodyBytes = 262_144;
    public const int MinClaimLimit = 1;
    public const int MaxClaimLimit = 20;
    public const int MaxPageSize = 20;
    public const int MinClaimTtlSeconds = 60;
    public const int MaxClaimTtlSeconds = 43_200;
    public const int MinClaimGraceSeconds = 60;
    public const int MaxClaimGraceSeconds = 43_200;
    public const int MinMessageTtlSeconds = 60;
    public const int MaxMessageTtlSeconds = 1_209_600;
    public const int MaxQueueNameLength = 64;

    internal static void CheckRange(string what, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            throw new ArgumentOutOfRangeException(what, value, $"Zaqar accepts {what} from {min} to {max}; got {value}.");
        }
    }

    /// <summary>
    /// Queue names: letters, digits, '_' and '-', at most 64. Zaqar also allows '.', but its
    /// Redis store splits keys on '.', so the client refuses it.
    /// </summary>
    public static void CheckQueueName(string queue)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        if (queue.Length > MaxQueueNameLength || !queue.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
        {
            throw new ArgumentException(
                $"Invalid queue name '{queue}': use 1-{MaxQueueNameLength} ASCII letters, digits, '_' or '-'.", nameof(queue));
        }
    }
}
