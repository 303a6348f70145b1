namespace GuestAgent.Protocol;

/// <summary>Operation names as they appear in a command's <c>op</c>.</summary>
public static class Ops
{
    public const string Exec = "exec";
    public const string Status = "status";
    public const string Cancel = "cancel";
    public const string Ping = "ping";
    public const string Http = "http";

    /// <summary>Ops this library can parse; anything else is rejected with <see cref="RejectCodes.UnknownOp"/>.</summary>
    public static IReadOnlyList<string> Known { get; } = [Exec, Status, Cancel, Ping, Http];

    public static bool IsKnown(string op) => Known.Contains(op, StringComparer.Ordinal);
}
