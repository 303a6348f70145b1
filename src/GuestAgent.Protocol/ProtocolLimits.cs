namespace GuestAgent.Protocol;

/// <summary>Bounds the parser enforces, and the arithmetic of fitting data into one Zaqar message.</summary>
public sealed record ProtocolLimits
{
    /// <summary>Zaqar's default cap on a whole POST body (<c>{"messages":[...]}</c>), in bytes.</summary>
    public const int ZaqarMaxPostBodyBytes = 262_144;

    /// <summary>
    /// Bytes reserved for everything in a chunk-carrying post except the base64 data: the Zaqar
    /// post wrapper and the reply envelope. The envelope needs about 500 bytes; the rest is margin
    /// for agent and stream names of up to 64 characters even if every character were escaped.
    /// </summary>
    public const int ChunkEnvelopeReserveBytes = 4_096;

    /// <summary>Agent names longer than this would eat into <see cref="ChunkEnvelopeReserveBytes"/>.</summary>
    public const int MaxAgentNameLength = 64;

    public static ProtocolLimits Default { get; } = new();

    /// <summary>Largest raw command body accepted; Zaqar's own post limit by default.</summary>
    public int MaxCommandBytes { get; init; } = 256 * 1024;

    /// <summary>Upper bound of <c>args.timeout_s</c> of exec.</summary>
    public double MaxTimeoutSeconds { get; init; } = 86_400;

    /// <summary>Upper bound of <c>args.kill_grace_s</c> of exec.</summary>
    public double MaxKillGraceSeconds { get; init; } = 600;

    /// <summary>How far the guest's clock may disagree with the issuer's before a command counts as expired.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Raw bytes of stream data that fit in one chunk reply posted as a single Zaqar message of at
    /// most <paramref name="maxMessageBytes"/> (the whole POST body). Base64 turns 3 bytes into 4
    /// characters; the result is a multiple of 3 so that only the last chunk of a stream is padded.
    /// This assumes the poster writes base64 unescaped (System.Text.Json's default encoder would turn
    /// each '+' into six bytes); <see cref="ProtocolJson.Options"/> does.
    /// </summary>
    public static int MaxChunkDataBytes(int maxMessageBytes = ZaqarMaxPostBodyBytes)
    {
        var forBase64 = maxMessageBytes - ChunkEnvelopeReserveBytes;
        if (forBase64 < 4)
        {
            throw new ArgumentOutOfRangeException(
                nameof(maxMessageBytes), maxMessageBytes,
                $"A message must allow more than {ChunkEnvelopeReserveBytes} bytes to carry any chunk data.");
        }
        return forBase64 / 4 * 3;
    }
}
