namespace GuestAgent.Protocol;

/// <summary>Operation names as they appear in a command's <c>op</c>.</summary>
public static class Ops
{
    public const string Exec = "exec";
    public const string Status = "status";
    public const string Cancel = "cancel";
    public const string Ping = "ping";
    public const string Http = "http";
    public const string FilePut = "file.put";
    public const string FileGet = "file.get";
    public const string Credentials = "credentials";

    /// <summary>
    /// Ops the agent implements: what it allows by default and what its <c>allowed-ops</c>
    /// configuration may name. Anything neither here nor in <see cref="Planned"/> is rejected with
    /// <see cref="RejectCodes.UnknownOp"/>.
    /// </summary>
    public static IReadOnlyList<string> Known { get; } = [Exec, Status, Cancel, Ping, Http, FilePut, FileGet, Credentials];

    /// <summary>
    /// Ops whose wire form is specified and parsed, but which the agent does not execute yet. They
    /// are deliberately not in <see cref="Known"/>: no agent allows them, so they are rejected as
    /// <see cref="RejectCodes.Forbidden"/> (rather than accepted and never run).
    /// </summary>
    public static IReadOnlyList<string> Planned { get; } = [];

    /// <summary>Whether <paramref name="op"/> is implemented by the agent (<see cref="Known"/>).</summary>
    public static bool IsKnown(string op) => Known.Contains(op, StringComparer.Ordinal);

    /// <summary>Whether the parser accepts <paramref name="op"/>: <see cref="Known"/> or <see cref="Planned"/>.</summary>
    public static bool IsParseable(string op) => IsKnown(op) || Planned.Contains(op, StringComparer.Ordinal);
}
