namespace GuestAgent.Zaqar;

/// <summary>
/// The pre-signed URLs a client currently holds. A guest's URLs expire, so whoever renews them
/// swaps the whole set at once (<see cref="Replace"/>); requests already under way keep the set
/// they started with, every later request uses the new one.
/// </summary>
public sealed class PreSignedCredentials
{
    private volatile IReadOnlyList<PreSignedUrl> _current;

    public PreSignedCredentials(IReadOnlyList<PreSignedUrl> urls) => _current = urls.ToArray();

    public IReadOnlyList<PreSignedUrl> Current => _current;

    public void Replace(IReadOnlyList<PreSignedUrl> urls) => _current = urls.ToArray();
}
