namespace GuestAgent.Zaqar;

/// <summary>Settings of one <see cref="ZaqarClient"/>.</summary>
public sealed record ZaqarClientOptions
{
    /// <summary>Zaqar's base URL, e.g. http://127.0.0.1:8888 (without /v2).</summary>
    public required string Endpoint { get; init; }

    /// <summary>Stable per client across restarts (see <see cref="ClientIdentity"/>).</summary>
    public required Guid ClientId { get; init; }

    public required ZaqarAuth Auth { get; init; }

    /// <summary>Per-request timeout.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per call for failures worth retrying (1 = no retry).</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>First retry delay; doubles each time, with ±20 % jitter, up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Connections this process opens to the endpoint at most (clients of one endpoint with the
    /// same limit share them). Use 1 against a single-threaded Zaqar (the development
    /// zaqar-server): it serves one connection at a time, so a spare connection the pool opened
    /// but sends nothing on stalls it until the pool closes it (~1 s each time).
    /// </summary>
    public int MaxConnections { get; init; } = 64;
}
