using Xunit;

namespace GuestAgent.Testing;

/// <summary>
/// <see cref="LongFactAttribute"/> for theories: every case runs only in the longer mode
/// (tools/test-long.sh sets <c>GUESTAGENT_LONG_TESTS=1</c>) and is listed as skipped in the default suite.
/// </summary>
public sealed class LongTheoryAttribute : TheoryAttribute
{
    public LongTheoryAttribute()
    {
        if (Environment.GetEnvironmentVariable(LongFactAttribute.Variable) != "1")
        {
            Skip = $"longer mode only: tools/test-long.sh (or {LongFactAttribute.Variable}=1)";
        }
    }
}
