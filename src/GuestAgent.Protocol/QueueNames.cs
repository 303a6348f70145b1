namespace GuestAgent.Protocol;

/// <summary>
/// Queue names the protocol accepts (e.g. <c>reply_to</c>): 1-64 ASCII letters, digits, '_' or '-'.
/// Zaqar itself also allows '.', but its Redis store splits keys on '.', so the protocol does not.
/// </summary>
public static class QueueNames
{
    public const int MaxLength = 64;

    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name)
        && name.Length <= MaxLength
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
}
