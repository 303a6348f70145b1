namespace GuestAgent.Protocol.Tests;

public sealed class ReconnectBackoffTests
{
    [Fact]
    public void Waits_double_from_one_second_to_the_cap_each_within_twenty_percent_and_reset_starts_again()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromSeconds(5));
        double[] expected = [1, 2, 4, 5, 5];

        foreach (var seconds in expected)
        {
            var wait = backoff.Next();
            Assert.Equal(TimeSpan.FromSeconds(seconds), backoff.Current);
            Assert.InRange(wait.TotalSeconds, seconds * 0.8, seconds * 1.2);
        }
        backoff.Reset();
        backoff.Next();
        Assert.Equal(TimeSpan.FromSeconds(1), backoff.Current);
    }

    [Fact]
    public void A_cap_below_one_second_is_the_first_wait_too()
    {
        var backoff = new ReconnectBackoff(TimeSpan.FromMilliseconds(300));

        backoff.Next();

        Assert.Equal(TimeSpan.FromMilliseconds(300), backoff.Current);
    }
}
