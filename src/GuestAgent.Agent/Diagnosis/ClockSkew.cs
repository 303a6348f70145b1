namespace GuestAgent.Agent.Diagnosis;

/// <summary>How far the guest's clock is from a server's, read from the server's Date header.</summary>
public static class ClockSkew
{
    /// <summary>
    /// The server's clock minus the guest's: positive when the guest is behind. The Date header is
    /// truncated to the second, so the server's time was somewhere in [date, date + 1 s) while the
    /// request was out; the estimate takes the middle of both ranges.
    /// </summary>
    public static TimeSpan Estimate(DateTimeOffset serverDate, DateTimeOffset sentAt, DateTimeOffset receivedAt) =>
        serverDate + TimeSpan.FromMilliseconds(500) - (sentAt + (receivedAt - sentAt) / 2);

    /// <summary>How far off the estimate may be: half a second of the Date header's resolution and half the round trip.</summary>
    public static TimeSpan Uncertainty(DateTimeOffset sentAt, DateTimeOffset receivedAt) =>
        TimeSpan.FromMilliseconds(500) + (receivedAt - sentAt) / 2;

    /// <summary>
    /// The doctor's line on <paramref name="skew"/> against <paramref name="tolerance"/>, the skew the
    /// agent allows a signed command's issued_at and expires_at: beyond it every command is refused
    /// (issued in the future, or expired); beyond half of it a warning, since the controller's clock
    /// is off from the server's too and the two add up.
    /// </summary>
    public static DoctorCheck Judge(string binding, string server, TimeSpan skew, TimeSpan uncertainty, TimeSpan tolerance)
    {
        var seconds = Math.Abs(skew.TotalSeconds);
        var where = seconds < 1 ? $"within 1 s of {server}'s" : $"{seconds:0} s {(skew > TimeSpan.Zero ? "behind" : "ahead of")} {server}'s";
        var detail = $"the guest's clock is {where} (measured to ±{uncertainty.TotalSeconds:0.0} s; signed commands allow {tolerance.TotalSeconds:0} s)";
        var fix = "set the guest's clock right and keep it so (timedatectl set-ntp true; chrony or systemd-timesyncd)";
        if (seconds > tolerance.TotalSeconds)
        {
            return new DoctorCheck(binding, "clock", CheckVerdict.Fail,
                detail + (skew > TimeSpan.Zero
                    ? ": a command signed now looks issued in the future and is rejected"
                    : ": a command signed now looks expired, or about to, and is rejected"), fix);
        }
        if (seconds > tolerance.TotalSeconds / 2)
        {
            return new DoctorCheck(binding, "clock", CheckVerdict.Warn,
                detail + ": the controller's own error adds to it, and commands start failing as expired", fix);
        }
        return new DoctorCheck(binding, "clock", CheckVerdict.Ok, detail);
    }
}
