namespace GuestAgent.Blocks;

/// <summary>
/// A read-only view of one binding's configuration (HOCON), for <see cref="OperationBlock.ReadPolicy"/>.
/// Paths are relative to the binding (<c>file-roots</c>, <c>sysinfo.max-packages</c>). A block's own
/// settings live in a section named after it; the built-in blocks keep the keys they always had.
/// </summary>
public interface IBlockSettings
{
    /// <summary>The binding's (tenant's) name.</summary>
    string Tenant { get; }

    bool HasPath(string path);

    string? GetString(string path, string? absent = null);

    IReadOnlyList<string> GetStringList(string path);

    int GetInt(string path, int absent);

    bool GetBoolean(string path, bool absent);

    /// <summary>A size such as <c>10m</c> or <c>4096</c>, in bytes.</summary>
    long? GetBytes(string path);

    TimeSpan GetTimeSpan(string path, TimeSpan absent);
}

/// <summary>What the agent tells a block when it constructs it.</summary>
public interface IBlockHost
{
    /// <summary>The agent's name (<c>guest-agent.name</c>).</summary>
    string AgentName { get; }

    /// <summary>A directory for the block's own state, created for it, readable by the agent's account only.</summary>
    string StateDirectory { get; }

    /// <summary>Writes to the agent's log, under the block's name.</summary>
    void Log(BlockLogLevel level, string message);
}

public enum BlockLogLevel
{
    Debug,
    Information,
    Warning,
    Error,
}
