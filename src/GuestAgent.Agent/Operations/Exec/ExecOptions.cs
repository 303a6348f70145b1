namespace GuestAgent.Agent.Operations.Exec;

/// <summary>How the agent runs one attempt of an <c>exec</c> command (everything not in the command's own args).</summary>
public sealed record ExecOptions
{
    /// <summary>Environment variable that tells the child which attempt this is (1 for the first run).</summary>
    public const string AttemptVariable = "GUESTAGENT_ATTEMPT";

    /// <summary>Environment variable that tells the child the id of its command.</summary>
    public const string CommandIdVariable = "GUESTAGENT_COMMAND_ID";

    public const int DefaultInlineCap = 64 * 1024;

    /// <summary>The command being run; exported as <see cref="CommandIdVariable"/> and used to name the run's files.</summary>
    public required Guid CommandId { get; init; }

    /// <summary>1 for the first run; exported as <see cref="AttemptVariable"/>.</summary>
    public int Attempt { get; init; } = 1;

    /// <summary>Directory where the full stdout and stderr of the run are written; created when missing.</summary>
    public required string SpoolDirectory { get; init; }

    /// <summary>Working directory when the command names none (and base of a relative <c>cwd</c>); the agent's own when null.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Bytes of each stream kept in memory (inline) when the command's <c>output_cap_bytes</c> is null.</summary>
    public int DefaultInlineCapBytes { get; init; } = DefaultInlineCap;

    /// <summary>Fires when the agent stops following the run without wanting it ended: the runner returns and leaves the run to its supervisor.</summary>
    public CancellationToken Detaching { get; init; }

    /// <summary>For a reattach: a cancel was acknowledged before the agent lost the run; kill it at once.</summary>
    public bool KillAtOnce { get; init; }

    /// <summary>Who the command runs as and what it may start (the tenant binding's exec block).</summary>
    public Configuration.ExecPolicy Policy { get; init; } = Configuration.ExecPolicy.Unrestricted;

    /// <summary>The tenant binding, for messages.</summary>
    public string Tenant { get; init; } = "";

    /// <summary>Clock for the timeout, the kill grace period and the reported duration.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
