namespace GuestAgent.Soak;

internal static class Stats
{
    /// <summary>The nearest-rank percentile (p in 0..100) of <paramref name="values"/>; null when there are none.</summary>
    public static double? Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
