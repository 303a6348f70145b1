using System.Text;
using GuestAgent.Protocol;

namespace GuestAgent.Client.Files;

/// <summary>
/// The agent's parser rules for file op arguments, checked before anything is sent: a mistake is an
/// <see cref="ArgumentException"/> at once rather than a rejected command after a round trip (or,
/// for a put, after hashing a big file).
/// </summary>
internal static class FileArgsCheck
{
    public static void GuestPath(string path, string paramName)
    {
        ArgumentNullException.ThrowIfNull(path, paramName);
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"The guest path must be absolute (start with '/'); got '{path}'.", paramName);
        }
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("The guest path must not contain NUL.", paramName);
        }
        if (Encoding.UTF8.GetByteCount(path) > FilePutArgs.MaxPathBytes)
        {
            throw new ArgumentException($"The guest path is longer than {FilePutArgs.MaxPathBytes} bytes of UTF-8.", paramName);
        }
    }

    public static void Put(FilePutOptions o)
    {
        var max = ProtocolLimits.MaxChunkDataBytes();
        if (o.ChunkBytes < 1 || o.ChunkBytes > max)
        {
            throw new ArgumentOutOfRangeException(nameof(o.ChunkBytes), o.ChunkBytes, $"ChunkBytes must be 1 .. {max}.");
        }
        if (o.Window is < 1 or > FilePutOptions.MaxWindow)
        {
            throw new ArgumentOutOfRangeException(nameof(o.Window), o.Window, $"Window must be 1 .. {FilePutOptions.MaxWindow}.");
        }
        if (o.MaxAttempts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(o.MaxAttempts), o.MaxAttempts, "MaxAttempts must be at least 1.");
        }
        if (o.ChunkTimeout is { } t && t <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(o.ChunkTimeout), t, "ChunkTimeout must be positive.");
        }
        if (o.Mode is { } mode && (mode.Length is < 3 or > 4 || !mode.All(c => c is >= '0' and <= '7')))
        {
            throw new ArgumentException($"Mode must be 3 or 4 octal digits like \"0644\"; got \"{mode}\".", nameof(o.Mode));
        }
        AccountName(o.Owner, nameof(o.Owner));
        AccountName(o.Group, nameof(o.Group));
        if (o.Sha256 is { } sha && (sha.Length != 64 || !sha.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'))))
        {
            throw new ArgumentException("Sha256 must be 64 lower-case hex digits.", nameof(o.Sha256));
        }
    }

    public static void Get(FileGetOptions o)
    {
        if (o.MaxAttempts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(o.MaxAttempts), o.MaxAttempts, "MaxAttempts must be at least 1.");
        }
        if (o.IdleTimeout is { } t && t <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(o.IdleTimeout), t, "IdleTimeout must be positive.");
        }
    }

    private static void AccountName(string? name, string paramName)
    {
        if (name is null)
        {
            return;
        }
        if (name.Length is 0 or > FilePutArgs.MaxNameLength || name.AsSpan().IndexOfAny(":/\0") >= 0 || name.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException(
                $"{paramName} must be a user or group name of 1 .. {FilePutArgs.MaxNameLength} characters without ':', '/' or spaces; got '{name}'.",
                paramName);
        }
    }
}
