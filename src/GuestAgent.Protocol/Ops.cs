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
}
