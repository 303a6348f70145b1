using System.Security.Cryptography;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;

namespace GuestAgent.Agent.Operations;

/// <summary>
/// One output stream of an operation (a process's stdout, an HTTP response body) kept in full: every
/// byte goes to a spool file (mode 0600: output may be sensitive) and into a SHA-256, and the first
/// <c>cap</c> bytes are also kept in memory for the inline part of the final reply.
/// </summary>
internal sealed class OutputSpool(FileStream file, string path, int cap) : IOutputWriter
{
    public const int ReadBufferBytes = 64 * 1024;

    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly MemoryStream _inline = new();
    private long _total;

    public static FileStream OpenFile(IFileSystem files, string path) => files.OpenOwnerOnly(path, new FileStreamOptions
    {
        Mode = FileMode.Create,
        Access = FileAccess.Write,
        Share = FileShare.Read,
        Options = FileOptions.Asynchronous,
    });

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> chunk)
    {
        await file.WriteAsync(chunk, CancellationToken.None).ConfigureAwait(false);
        _hash.AppendData(chunk.Span);
        if (_inline.Length < cap)
        {
            _inline.Write(chunk.Span[..(int)Math.Min(chunk.Length, cap - _inline.Length)]);
        }
        _total += chunk.Length;
    }

    /// <summary>Flushes and closes the spool file and describes what it holds.</summary>
    public async Task<CapturedStream> CompleteAsync()
    {
        await file.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        await file.DisposeAsync().ConfigureAwait(false);
        return new CapturedStream(_total, _inline.ToArray(), Convert.ToHexStringLower(_hash.GetHashAndReset()), path);
    }

    public async ValueTask DisposeAsync()
    {
        await file.DisposeAsync().ConfigureAwait(false);
        _hash.Dispose();
    }
}
