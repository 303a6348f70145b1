namespace GuestAgent.Protocol;

/// <summary>
/// The standard ops' names as they appear in a command's <c>op</c>. Which ops an agent runs is
/// its block registry's answer (the blocks it loaded, and its core ops), not this list's.
/// </summary>
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
    /// The queries: status, cancel and ping, which an agent answers from its own state at once, even
    /// when every operation slot is busy (and which may go to a binding's query queue).
    /// </summary>
    public static bool IsQuery(string op) => op is Status or Cancel or Ping;
}
