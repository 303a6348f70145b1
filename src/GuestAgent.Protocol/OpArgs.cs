using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GuestAgent.Protocol;

/// <summary>The op-specific <c>args</c> of a command; one subtype per op.</summary>
public abstract record OpArgs
{
    /// <summary>The <c>op</c> these arguments belong to.</summary>
    [JsonIgnore]
    public abstract string Op { get; }

    /// <summary>The <c>args</c> object of the wire form.</summary>
    public JsonElement ToJsonElement() => JsonSerializer.SerializeToElement(this, GetType(), ProtocolJson.Options);
}

/// <summary>
/// Arguments of <c>exec</c>: run a program (<see cref="Argv"/>, no shell involved) or a shell
/// script (<see cref="Shell"/>, run with <c>/bin/sh -c</c>); exactly one of the two.
/// </summary>
public sealed record ExecArgs : OpArgs
{
    public const double DefaultTimeoutSeconds = 300;
    public const double DefaultKillGraceSeconds = 5;

    [JsonIgnore]
    public override string Op => Ops.Exec;

    /// <summary>Program and arguments, passed to execve as they are.</summary>
    public IReadOnlyList<string>? Argv { get; init; }

    /// <summary>A script for <c>/bin/sh -c</c>.</summary>
    public string? Shell { get; init; }

    /// <summary>Variables added to (or replacing those in) the agent's environment.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }

    public string? Cwd { get; init; }

    /// <summary>Standard input as text (sent as UTF-8); at most one of this and <see cref="StdinB64"/>.</summary>
    public string? Stdin { get; init; }

    /// <summary>Standard input as base64, for bytes that are not text.</summary>
    [JsonPropertyName("stdin_b64")]
    public string? StdinB64 { get; init; }

    /// <summary>Wall-clock limit of the run; on expiry the process gets SIGTERM, then SIGKILL after <see cref="KillGraceSeconds"/>.</summary>
    [JsonPropertyName("timeout_s")]
    public double TimeoutSeconds { get; init; } = DefaultTimeoutSeconds;

    /// <summary>User to run as; the agent's own user when null.</summary>
    public string? RunAs { get; init; }

    [JsonPropertyName("kill_grace_s")]
    public double KillGraceSeconds { get; init; } = DefaultKillGraceSeconds;

    /// <summary>
    /// How many bytes of each stream go inline in the final reply; the rest follows in chunk
    /// replies. Null leaves it to the agent (as much as fits in one message).
    /// </summary>
    public int? OutputCapBytes { get; init; }

    /// <summary>The bytes to feed to standard input, or null for none (stdin is then empty).</summary>
    public byte[]? DecodeStdin() =>
        StdinB64 is not null ? Convert.FromBase64String(StdinB64)
        : Stdin is not null ? Encoding.UTF8.GetBytes(Stdin)
        : null;
}

/// <summary>Arguments of <c>status</c>: which earlier command to report on.</summary>
public sealed record StatusArgs(Guid CommandId) : OpArgs
{
    [JsonIgnore]
    public override string Op => Ops.Status;
}

/// <summary>Arguments of <c>cancel</c>: which earlier command to stop.</summary>
public sealed record CancelArgs(Guid CommandId) : OpArgs
{
    [JsonIgnore]
    public override string Op => Ops.Cancel;
}

/// <summary>Arguments of <c>ping</c>: none.</summary>
public sealed record PingArgs : OpArgs
{
    [JsonIgnore]
    public override string Op => Ops.Ping;
}
