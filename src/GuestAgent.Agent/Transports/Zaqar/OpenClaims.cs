using System.Globalization;

namespace GuestAgent.Agent.Transports.Zaqar;

/// <summary>
/// The claims a binding's poller holds whose messages the ledger has not all answered, kept in
/// the state directory (<c>claims/TENANT</c>, a line "id expiry" each). An agent killed between a
/// claim and the recording of its commands leaves those messages hidden in Zaqar until the claim
/// expires (the claim TTL, minutes); the next start releases the claims listed here, so the
/// messages come back at once. Written without fsync: a process crash keeps the page cache, and
/// a lost list only means waiting for the TTL, as without it.
/// </summary>
public sealed class OpenClaims(string file, TimeProvider time)
{
    private readonly Dictionary<string, (int Unanswered, DateTimeOffset Expires)> _open = [];

    public static string PathFor(string stateDir, string tenant) => Path.Combine(stateDir, "claims", tenant);

    /// <summary>Claims listed by an earlier run that have not expired yet (unreadable lines are skipped).</summary>
    public IReadOnlyList<string> LeftByEarlierRun()
    {
        string[] lines;
        try
        {
            lines = File.Exists(file) ? File.ReadAllLines(file) : [];
        }
        catch (IOException)
        {
            return [];
        }
        var now = time.GetUtcNow();
        var ids = new List<string>();
        foreach (var line in lines)
        {
            var parts = line.Split(' ', 2);
            if (parts.Length == 2 && parts[0].Length > 0
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
                && DateTimeOffset.FromUnixTimeSeconds(expires) > now)
            {
                ids.Add(parts[0]);
            }
        }
        return ids;
    }

    /// <summary>A claim of <paramref name="messages"/> messages was taken; it lasts <paramref name="ttl"/>.</summary>
    public void Opened(string claimId, int messages, TimeSpan ttl)
    {
        _open[claimId] = (messages, time.GetUtcNow() + ttl);
        Write();
    }

    /// <summary>The ledger answered one message of <paramref name="claimId"/>.</summary>
    public void Answered(string claimId)
    {
        if (_open.TryGetValue(claimId, out var open))
        {
            if (open.Unanswered > 1)
            {
                _open[claimId] = open with { Unanswered = open.Unanswered - 1 };
                return;
            }
            _open.Remove(claimId);
            Write();
        }
    }

    /// <summary>Forgets every claim (those of an earlier run, once released).</summary>
    public void Clear()
    {
        _open.Clear();
        Write();
    }

    /// <exception cref="IOException">The list could not be written (the claims then simply expire).</exception>
    /// <exception cref="UnauthorizedAccessException">As for <see cref="IOException"/>.</exception>
    private void Write()
    {
        var now = time.GetUtcNow();
        foreach (var expired in _open.Where(o => o.Value.Expires <= now).Select(o => o.Key).ToList())
        {
            _open.Remove(expired);
        }
        if (_open.Count == 0)
        {
            if (File.Exists(file))
            {
                File.Delete(file);
            }
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var temp = file + ".tmp";
        File.WriteAllLines(temp, _open.Select(o => $"{o.Key} {o.Value.Expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}"));
        File.Move(temp, file, overwrite: true);
    }
}
