using Xunit;

namespace GuestAgent.Testing;

/// <summary>
/// A test of the longer mode (tools/test-long.sh sets <c>GUESTAGENT_LONG_TESTS=1</c>): it waits out
/// real outages for tens of seconds, too long for the default suite's budget, which lists it as
/// skipped and says how to run it.
/// </summary>
public sealed class LongFactAttribute : FactAttribute
{
    public const string Variable = "GUESTAGENT_LONG_TESTS";

    public LongFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Variable) != "1")
        {
            Skip = $"longer mode only: tools/test-long.sh (or {Variable}=1)";
        }
    }
}
