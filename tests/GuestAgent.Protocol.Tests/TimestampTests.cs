namespace GuestAgent.Protocol.Tests;

public sealed class TimestampTests
{
    [Theory]
    [InlineData("2026-11-25T13:00:00Z", 0)]
    [InlineData("2026-11-25T13:00:00.5Z", 5_000_000)]
    [InlineData("2026-11-25T13:00:00.123456Z", 1_234_560)]
    [InlineData("2026-11-25T14:30:00+01:30", 0)]
    [InlineData("2026-11-25T08:00:00-05:00", 0)]
    [InlineData("2026-11-25T13:00:00+00:00", 0)]
    public void Rfc3339_forms_are_read_as_utc(string text, long ticks)
    {
        Assert.True(ProtocolJson.TryParseTimestamp(text, out var t));
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 13, 0, 0, TimeSpan.Zero).AddTicks(ticks), t);
        Assert.Equal(TimeSpan.Zero, t.Offset);
    }

    [Theory]
    [InlineData("2026-11-25T13:00:00")]
    [InlineData("2026-11-25")]
    [InlineData("2026-13-01T00:00:00Z")]
    [InlineData("2026-11-25T13:00:60Z")]
    [InlineData("2026-11-25T13:00:00+01:75")]
    [InlineData("2026-11-25T13:00:00+15:00")]
    [InlineData("٢٠٢٦-11-25T13:00:00Z")]
    [InlineData("")]
    [InlineData(null)]
    public void Non_rfc3339_or_zoneless_timestamps_are_refused(string? text) =>
        Assert.False(ProtocolJson.TryParseTimestamp(text, out _));

    [Fact]
    public void Timestamps_are_written_in_utc_with_z_and_no_needless_fraction()
    {
        var t = new DateTimeOffset(2026, 11, 25, 14, 0, 0, TimeSpan.FromHours(1));
        Assert.Equal("2026-11-25T13:00:00Z", ProtocolJson.FormatTimestamp(t));
        Assert.Equal("2026-11-25T13:00:00.25Z", ProtocolJson.FormatTimestamp(t.AddMilliseconds(250)));
    }
}
