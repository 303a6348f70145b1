using System.Security.Cryptography;
using GuestAgent.Client.Transport;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Client.Files;

/// <summary>
/// One run of <see cref="GuestClient.GetFileAsync(string, Stream, FileGetOptions?, CancellationToken)"/>:
/// a file.get call from the offset of the bytes already held (when resuming), its chunk stream
/// reassembled and checked by <see cref="CallResult"/>, then the whole file's SHA-256 checked over
/// the bytes held before plus the new ones. Nothing is written until every check has passed, so the
/// destination only ever holds bytes that verified.
/// </summary>
/// <param name="held">The bytes already held, to continue after (read from 0 to its length); null to read the whole file.</param>
/// <param name="write">Writes the new bytes, after the held ones; called once, after every check passed.</param>
internal sealed class FileGetTransfer(
    GuestClient client, string path, Stream? held, Func<byte[], CancellationToken, Task> write, FileGetOptions o)
{
    private readonly TimeProvider _time = client.Options.TimeProvider;

    /// <summary>A read into <paramref name="destination"/>: continuing after its contents when <see cref="FileGetOptions.Resume"/>.</summary>
    public static FileGetTransfer Into(GuestClient client, string path, Stream destination, FileGetOptions o)
    {
        if (!destination.CanWrite)
        {
            throw new ArgumentException("The destination stream must be writable.", nameof(destination));
        }
        if (o.Resume && (!destination.CanSeek || !destination.CanRead))
        {
            throw new ArgumentException("Resuming needs a destination that can seek and read: its contents are the bytes already held.", nameof(destination));
        }
        return new FileGetTransfer(client, path, o.Resume ? destination : null, async (data, ct) =>
        {
            if (o.Resume)
            {
                destination.Seek(0, SeekOrigin.End);
            }
            await destination.WriteAsync(data, ct).ConfigureAwait(false);
            await destination.FlushAsync(ct).ConfigureAwait(false);
        }, o);
    }

    public async Task<FileGetOutcome> RunAsync(CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var offset = held is null ? 0 : await HashPrefixAsync(held, whole, ct).ConfigureAwait(false);

        var progress = new GetProgress(o.Progress, offset, _time, started);
        var idle = o.IdleTimeout ?? client.Options.DefaultCallTimeout;
        Reply? interrupted = null;
        for (var attempt = 1; attempt <= o.MaxAttempts; attempt++)
        {
            progress.NewAttempt();
            var id = Guid.NewGuid();
            CallResult result;
            try
            {
                // Rerun: reading has no side effects, so an agent that restarts mid-read should just read again.
                result = await client.CallAsync(new FileGetArgs { Path = path, Offset = offset },
                    new CallOptions { CommandId = id, OnInterrupt = InterruptPolicy.Rerun }, progress.OnReply, idle, ct).ConfigureAwait(false);
            }
            catch (GuestTimeoutException e)
            {
                throw new FileTransferException(Ops.FileGet, FileTransferErrors.TimedOut, e.Message, path, commandId: id, inner: e);
            }
            catch (Exception e) when (client.Transport.Classify(e) == TransportErrorKind.Transient && attempt < o.MaxAttempts)
            {
                // Sending the read failed (no answer, or the service busy); reading again is harmless.
                await Task.Delay(FilePutTransfer.TransportBackoff(attempt), _time, ct).ConfigureAwait(false);
                continue;
            }
            catch (GuestOutputException e)
            {
                throw new FileTransferException(Ops.FileGet, FileTransferErrors.VerificationFailed,
                    $"the file's bytes did not verify ({e.Error.Kind}): {e.Error.Message}", path, reply: e.Final, commandId: id, inner: e);
            }
            if (result.Status == ReplyStatus.Interrupted)
            {
                interrupted = result.Final;
                continue;
            }
            if (!result.Succeeded)
            {
                throw FileTransferException.FromReply(Ops.FileGet, id, result.Final, path);
            }
            var file = result.File
                       ?? throw new GuestProtocolException($"file.get command {id} succeeded without the file's bytes.", id, Ops.FileGet);
            var data = result.FileData;
            Verify(file, data, offset, result);
            whole.AppendData(data);
            var sha = Convert.ToHexStringLower(whole.GetHashAndReset());
            if (!string.Equals(sha, file.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw offset > 0
                    ? new FileTransferException(Ops.FileGet, FileTransferErrors.ResumeMismatch,
                        $"the {offset} bytes held before and the {data.Length} new ones hash to {sha}, the file to {file.Sha256}: " +
                        "the guest file changed since the earlier read, or the partial copy is not of it.", path, reply: result.Final, commandId: id)
                    : new FileTransferException(Ops.FileGet, FileTransferErrors.VerificationFailed,
                        $"the {data.Length} bytes received hash to {sha}; the agent reports {file.Sha256} for the file.", path, reply: result.Final, commandId: id);
            }

            await write(data, ct).ConfigureAwait(false);
            var chunks = result.Replies.Count(r => r.Chunk?.Stream == ChunkStreams.File);
            progress.Done(file.Size, chunks);
            return new FileGetOutcome(file.Path, file.Size, offset, data.Length, file.Sha256.ToLowerInvariant(), file.Mode, chunks,
                attempt, _time.GetElapsedTime(started));
        }
        throw new FileTransferException(Ops.FileGet, FileTransferErrors.Interrupted,
            $"the agent was interrupted while reading the file, {o.MaxAttempts} attempt(s) in a row.", path, reply: interrupted);
    }

    /// <summary>Hashes the bytes already held and returns how many there are.</summary>
    private static async Task<long> HashPrefixAsync(Stream held, IncrementalHash hash, CancellationToken ct)
    {
        var length = held.Length;
        held.Position = 0;
        var buffer = new byte[1 << 20];
        long total = 0;
        while (total < length)
        {
            var n = await held.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - total)), ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException($"The bytes held are {length} long but ended after {total} when read.");
            }
            hash.AppendData(buffer, 0, n);
            total += n;
        }
        return length;
    }

    private void Verify(FileGetResult file, byte[] data, long offset, CallResult result)
    {
        string? problem = null;
        if (result.FileDataTruncated)
        {
            problem = $"the agent sent only the first {data.Length} of {file.Data.Bytes} bytes";
        }
        else if (file.Offset != offset)
        {
            problem = $"the bytes sent start at {file.Offset}, not at the {offset} asked for";
        }
        else if (data.LongLength != file.Bytes || file.Size != offset + data.LongLength)
        {
            problem = $"{data.Length} bytes arrived from offset {offset}; the agent reports {file.Bytes} bytes sent of a {file.Size}-byte file";
        }
        if (problem is not null)
        {
            throw new FileTransferException(Ops.FileGet, FileTransferErrors.VerificationFailed, problem + ".", path,
                reply: result.Final, commandId: result.CommandId);
        }
    }

    /// <summary>
    /// Progress from chunk replies as the listener hands them over. The total is an estimate until the
    /// last chunk or the final reply says (chunks carry their offset and count, not the file's size).
    /// </summary>
    private sealed class GetProgress(IProgress<FileTransferProgress>? sink, long offset, TimeProvider time, long started)
    {
        private readonly Lock _lock = new();
        private readonly HashSet<int> _indexes = [];
        private long _bytes;
        private long _reported;
        private int _count;
        private long? _inline;
        private long? _end;
        private int _full;

        public void NewAttempt()
        {
            lock (_lock)
            {
                _indexes.Clear();
                _bytes = 0;
                _count = 0;
                _inline = null;
                _end = null;
                _full = 0;
                Report(total: offset, known: false);
            }
        }

        public void OnReply(Reply reply)
        {
            if (sink is null || reply.Chunk is not { Stream: ChunkStreams.File } chunk)
            {
                return;
            }
            lock (_lock)
            {
                if (!_indexes.Add(chunk.Index))
                {
                    return;
                }
                _bytes += chunk.Data.Length;
                _count = chunk.Count;
                if (chunk.Index == chunk.Count - 1)
                {
                    _end = chunk.Offset + chunk.Data.Length;
                }
                else
                {
                    // Every chunk but the last is full-size, so it tells where the chunks start.
                    _full = chunk.Data.Length;
                    _inline ??= chunk.Offset - ((long)chunk.Index * chunk.Data.Length);
                }
                if (chunk.Count == 1)
                {
                    _inline ??= chunk.Offset;
                }
                var total = _end is { } end ? offset + end
                    : offset + (_inline ?? 0) + ((long)_count * _full);
                Report(total, known: _end is not null);
            }
        }

        public void Done(long size, int chunks)
        {
            lock (_lock)
            {
                _bytes = size - offset;
                _count = chunks;
                _indexes.Clear();
                for (var i = 0; i < chunks; i++)
                {
                    _indexes.Add(i);
                }
                Report(size, known: true);
            }
        }

        private void Report(long total, bool known)
        {
            // Never backwards, even when a new attempt starts the stream again.
            _reported = Math.Max(_reported, offset + _bytes);
            sink?.Report(new FileTransferProgress(_reported, Math.Max(total, _reported), _indexes.Count, _count, 0, offset,
                time.GetElapsedTime(started), known));
        }
    }
}
