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

    /// <summary>
    /// Describes a spool file something else wrote (a run's supervisor): its length now, its first
    /// <paramref name="cap"/> bytes and the SHA-256 of exactly that length, so that bytes a leftover
    /// background process appends later change neither the hash nor the chunks cut from it.
    /// </summary>
    public static async Task<CapturedStream> CaptureFileAsync(string path, int cap)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.ReadWrite | FileShare.Delete,
            Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
        });
        var total = file.Length;
        var inline = new byte[Math.Min(cap, total)];
        var buffer = new byte[ReadBufferBytes];
        long read = 0;
        while (read < total)
        {
            var n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, total - read))).ConfigureAwait(false);
            if (n == 0)
            {
                break; // truncated under us: describe what is there
            }
            hash.AppendData(buffer, 0, n);
            if (read < inline.Length)
            {
                buffer.AsSpan(0, (int)Math.Min(n, inline.Length - read)).CopyTo(inline.AsSpan((int)read));
            }
            read += n;
        }
        return new CapturedStream(read, read < inline.Length ? inline[..(int)read] : inline, Convert.ToHexStringLower(hash.GetHashAndReset()), path);
    }

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
