namespace GuestAgent.Agent.Diagnosis;

/// <summary>How one check of <c>guest-agent doctor</c> came out.</summary>
public enum CheckVerdict
{
    Ok,

    /// <summary>Works now, but something is close to breaking it (a clock drifting off, URLs about to expire).</summary>
    Warn,

    Fail,

    /// <summary>Could not be checked without side effects, or depends on a check that failed.</summary>
    NotChecked,
}

/// <summary>One line of <c>guest-agent doctor</c>: which binding, what was checked, how it came out, and what to do.</summary>
/// <param name="Binding">The tenant binding, or null for checks of the whole agent (its configuration).</param>
/// <param name="What">What was checked, in a word or two: endpoint, credentials, reply queue, clock.</param>
/// <param name="Fix">What the operator does about a failure or warning; null when nothing is to be done.</param>
public sealed record DoctorCheck(string? Binding, string What, CheckVerdict Verdict, string Detail, string? Fix = null)
{
    public static DoctorCheck Ok(string binding, string what, string detail) => new(binding, what, CheckVerdict.Ok, detail);

    public static DoctorCheck Fail(string binding, string what, string detail, string fix) => new(binding, what, CheckVerdict.Fail, detail, fix);

    /// <summary>A check not made because one it depends on failed.</summary>
    public static DoctorCheck Skipped(string binding, string what, string because) => new(binding, what, CheckVerdict.NotChecked, "not checked: " + because);

    public override string ToString()
    {
        var label = Verdict switch
        {
            CheckVerdict.Ok => "OK",
            CheckVerdict.Warn => "WARN",
            CheckVerdict.Fail => "FAIL",
            _ => "SKIP",
        };
        var where = Binding is null ? What : $"{Binding} {What}";
        return Fix is null ? $"{label,-4}  {where}: {Detail}" : $"{label,-4}  {where}: {Detail}. Fix: {Fix}";
    }
}
