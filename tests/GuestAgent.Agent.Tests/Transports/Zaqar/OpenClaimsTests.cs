using GuestAgent.Agent.Transports.Zaqar;

namespace GuestAgent.Agent.Tests.Transports.Zaqar;

public sealed class OpenClaimsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ga-claims-").FullName;
    private readonly Clock _clock = new();

    private string File_ => OpenClaims.PathFor(_dir, "t1");

    [Fact]
    public void A_claim_stays_listed_until_the_ledger_answered_every_message_of_it()
    {
        var claims = new OpenClaims(File_, _clock);
        claims.Opened("c1", 2, TimeSpan.FromMinutes(2));
        claims.Opened("c2", 1, TimeSpan.FromMinutes(2));
        claims.Answered("c1");

        Assert.Equal(["c1", "c2"], new OpenClaims(File_, _clock).LeftByEarlierRun().Order());

        claims.Answered("c1");
        Assert.Equal(["c2"], new OpenClaims(File_, _clock).LeftByEarlierRun());
        claims.Answered("c2");
        Assert.False(File.Exists(File_));
    }

    [Fact]
    public void Expired_claims_and_unreadable_lines_are_not_released()
    {
        var claims = new OpenClaims(File_, _clock);
        claims.Opened("old", 1, TimeSpan.FromMinutes(2));
        claims.Opened("new", 1, TimeSpan.FromMinutes(10));
        File.AppendAllLines(File_, ["garbage", "x notanumber", " 123"]);

        _clock.Now += TimeSpan.FromMinutes(3);

        Assert.Equal(["new"], new OpenClaims(File_, _clock).LeftByEarlierRun());
    }

    [Fact]
    public void Clear_forgets_every_claim_and_no_list_reads_as_empty()
    {
        var claims = new OpenClaims(File_, _clock);
        Assert.Empty(claims.LeftByEarlierRun());
        claims.Opened("c1", 3, TimeSpan.FromMinutes(2));
        claims.Clear();

        Assert.Empty(new OpenClaims(File_, _clock).LeftByEarlierRun());
        Assert.False(File.Exists(File_));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
