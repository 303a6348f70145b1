using GuestAgent.Agent.Diagnosis;

namespace GuestAgent.Agent.Tests.Diagnosis;

/// <summary>The doctor's clock check: the skew read from a server's Date header, and what it says of it.</summary>
public sealed class ClockSkewTests
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(60);

    [Fact]
    public void A_guest_behind_the_server_has_a_positive_skew_measured_from_the_middle_of_the_round_trip()
    {
        // The server said 12:00:00 (so 12:00:00.0 .. 12:00:00.999) while the guest's clock went from 11:58:29.9 to 11:58:30.1.
        var sent = Noon.AddSeconds(-90.1);
        var skew = ClockSkew.Estimate(Noon, sent, sent.AddMilliseconds(200));
        Assert.Equal(90.5, skew.TotalSeconds, precision: 3);
        Assert.Equal(0.6, ClockSkew.Uncertainty(sent, sent.AddMilliseconds(200)).TotalSeconds, precision: 3);
    }

    [Fact]
    public void A_guest_ahead_of_the_server_has_a_negative_skew()
    {
        var sent = Noon.AddSeconds(40);
        Assert.Equal(-39.5, ClockSkew.Estimate(Noon, sent, sent).TotalSeconds, precision: 3);
    }

    [Fact]
    public void Skew_beyond_the_signed_commands_tolerance_fails_and_says_which_way_commands_break()
    {
        var behind = ClockSkew.Judge("t1", "Zaqar", TimeSpan.FromSeconds(90.4), TimeSpan.FromSeconds(0.6), Tolerance);
        Assert.Equal(CheckVerdict.Fail, behind.Verdict);
        Assert.Contains("90 s behind Zaqar's", behind.Detail);
        Assert.Contains("signed commands allow 60 s", behind.Detail);
        Assert.Contains("issued in the future", behind.Detail);
        Assert.Contains("timedatectl", behind.Fix);

        var ahead = ClockSkew.Judge("t1", "Zaqar", TimeSpan.FromSeconds(-75), TimeSpan.FromSeconds(0.6), Tolerance);
        Assert.Equal(CheckVerdict.Fail, ahead.Verdict);
        Assert.Contains("75 s ahead of Zaqar's", ahead.Detail);
        Assert.Contains("expired", ahead.Detail);
    }

    [Fact]
    public void Skew_past_half_the_tolerance_warns_and_small_skew_passes()
    {
        var close = ClockSkew.Judge("t1", "Zaqar", TimeSpan.FromSeconds(-40), TimeSpan.FromSeconds(0.6), Tolerance);
        Assert.Equal(CheckVerdict.Warn, close.Verdict);
        Assert.StartsWith("WARN  t1 clock: the guest's clock is 40 s ahead of Zaqar's", close.ToString());

        var fine = ClockSkew.Judge("t1", "Zaqar", TimeSpan.FromSeconds(0.4), TimeSpan.FromSeconds(0.6), Tolerance);
        Assert.Equal(CheckVerdict.Ok, fine.Verdict);
        Assert.Contains("within 1 s of Zaqar's", fine.Detail);
        Assert.Null(fine.Fix);
    }
}
