using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using GuestAgent.Client.Transport;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Client.Files;

/// <summary>
/// One run of <see cref="GuestClient.PutFileAsync(Stream, string, FilePutOptions?, CancellationToken)"/>:
/// hashes the source, then sends its chunks as file.put calls, at most
/// <see cref="FilePutOptions.Window"/> at a time, in rounds: a round sends a list of chunks, and the
/// most advanced answer of the round (the one with the highest <c>received</c>) says which are still
/// missing (at most 1,000 are listed, so a big resumed file takes several rounds). A new transfer's
/// first round is every chunk; a resumed one's is what the answer to a single probe chunk (the last,
/// the smallest) lists. It ends when an answer says <c>complete</c>.
/// </summary>
internal sealed class FilePutTransfer
{
    /// <summary>Rounds in a row that leave the agent holding no more chunks before the transfer is given up.</summary>
    private const int MaxStalledRounds = 3;

    private readonly GuestClient _client;
    private readonly Stream _source;
    private readonly long _start;
    private readonly string _path;
    private readonly FilePutOptions _o;
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly Guid _transferId;
    private readonly bool _resume;
    private readonly SemaphoreSlim _readGate = new(1, 1);

    // Guarded by _lock (progress is reported under it too, so reports come in order).
    private readonly Lock _lock = new();
    private readonly HashSet<int> _sent = [];
    private readonly HashSet<int> _held = [];
    private long _sentBytes;
    private long _heldBytes;
    private int _heldBefore;
    private FilePutResult? _roundBest;
    private FilePutResult? _complete;

    private long _size;
    private int _count;
    private string _sha256 = "";
    private int _commands;
    private int _retries;

    public FilePutTransfer(GuestClient client, Stream source, string guestPath, FilePutOptions options)
    {
        _client = client;
        _source = source;
        _start = source.Position;
        _path = guestPath;
        _o = options;
        _time = client.Options.TimeProvider;
        _started = _time.GetTimestamp();
        _resume = options.TransferId is not null;
        _transferId = options.TransferId ?? Guid.NewGuid();
    }

    public async Task<FilePutOutcome> RunAsync(CancellationToken ct)
    {
        _size = _source.Length - _start;
        var count = FilePutArgs.ExpectedCount(_size, _o.ChunkBytes);
        if (count > ChunkAssembler.MaxChunkCount)
        {
            throw new ArgumentException(
                $"A file of {_size} bytes in chunks of {_o.ChunkBytes} takes {count} chunks; at most {ChunkAssembler.MaxChunkCount} are allowed (use larger chunks).",
                nameof(FilePutOptions.ChunkBytes));
        }
        _count = (int)count;
        _sha256 = _o.Sha256 ?? await HashAsync(ct).ConfigureAwait(false);
        using var quickReplies = _client.TransferUnderWay();
        lock (_lock)
        {
            ReportLocked();
        }

        IReadOnlyList<int> pending;
        if (_resume)
        {
            // One chunk first, to learn what the agent already holds of this transfer.
            var probe = await SendChunkAsync(_count - 1, ct).ConfigureAwait(false);
            lock (_lock)
            {
                // Every held chunk other than the probe (the last one) is a full one.
                _heldBefore = probe.Complete ? 0 : Math.Max(0, probe.Received - 1);
                ReportLocked();
            }
            pending = probe.Complete ? [] : probe.Missing;
        }
        else
        {
            // One chunk alone first: a path the agent refuses (a missing directory, outside its file-roots)
            // then costs one chunk, not a window of them.
            await SendAllAsync([0], ct).ConfigureAwait(false);
            pending = Enumerable.Range(1, _count - 1).ToList();
        }

        var best = -1;
        var stalled = 0;
        while (Volatile.Read(ref _complete) is null)
        {
            // Nothing listed as missing, yet not complete: ask again with the smallest chunk.
            var round = pending.Count > 0 ? pending : [_count - 1];
            lock (_lock)
            {
                _roundBest = null;
            }
            await SendAllAsync(round, ct).ConfigureAwait(false);
            FilePutResult state;
            lock (_lock)
            {
                if (_complete is not null)
                {
                    break;
                }
                state = _roundBest!;
            }
            if (state.Received > best)
            {
                best = state.Received;
                stalled = 0;
            }
            else if (++stalled >= MaxStalledRounds)
            {
                throw new FileTransferException(Ops.FilePut, FileTransferErrors.Stalled,
                    $"{MaxStalledRounds} rounds of chunks left the agent holding {state.Received} of {_count} chunks and the file incomplete.",
                    _path, _transferId);
            }
            pending = state.Missing;
        }

        var done = _complete!;
        if (done.Bytes != _size || !string.Equals(done.Sha256, _sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new FileTransferException(Ops.FilePut, FileTransferErrors.VerificationFailed,
                $"the agent reports the file in place as {done.Bytes?.ToString() ?? "?"} bytes with SHA-256 {done.Sha256 ?? "?"}; " +
                $"{_size} bytes with SHA-256 {_sha256} were sent.", _path, _transferId);
        }
        lock (_lock)
        {
            var skipped = _count - _sent.Count;
            _o.Progress?.Report(new FileTransferProgress(_size, _size, _count, _count, skipped, _size - _sentBytes, Elapsed));
            return new FilePutOutcome(done.Path, _size, _sha256, _transferId, _count, _sent.Count, skipped, _sentBytes,
                Volatile.Read(ref _commands), Volatile.Read(ref _retries), _resume, Elapsed);
        }
    }

    private TimeSpan Elapsed => _time.GetElapsedTime(_started);

    private async Task<string> HashAsync(CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long total = 0;
        _source.Position = _start;
        int n;
        while ((n = await _source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            total += n;
        }
        if (total != _size)
        {
            throw new IOException($"The source was {_size} bytes long but {total} bytes were read: it changed while being read.");
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Sends <paramref name="indexes"/>, at most a window at a time; the first failure stops the rest.</summary>
    private async Task SendAllAsync(IReadOnlyList<int> indexes, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var next = -1;
        Exception? first = null;
        async Task Worker()
        {
            while (!cts.IsCancellationRequested && Volatile.Read(ref _complete) is null)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= indexes.Count)
                {
                    return;
                }
                try
                {
                    await SendChunkAsync(indexes[i], cts.Token).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    // The first failure is the one to report, not what cancelling the others makes them throw.
                    Interlocked.CompareExchange(ref first, e, null);
                    await cts.CancelAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }
        var workers = Enumerable.Range(0, Math.Min(_o.Window, indexes.Count)).Select(_ => Worker()).ToArray();
        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        catch when (!ct.IsCancellationRequested && Volatile.Read(ref first) is { } cause)
        {
            ExceptionDispatchInfo.Throw(cause);
        }
        // Workers stop quietly when cancelled between chunks.
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>Sends one chunk until the agent answers it (bounded), and records the answer.</summary>
    private async Task<FilePutResult> SendChunkAsync(int index, CancellationToken ct)
    {
        var length = (int)FilePutArgs.ExpectedChunkLength(_size, _o.ChunkBytes, index);
        var args = new FilePutArgs
        {
            TransferId = _transferId,
            Path = _path,
            Size = _size,
            Sha256 = _sha256,
            ChunkBytes = _o.ChunkBytes,
            Index = index,
            Count = _count,
            DataB64 = await ReadChunkAsync(index, length, ct).ConfigureAwait(false),
            Mode = _o.Mode,
            Owner = _o.Owner,
            Group = _o.Group,
            Overwrite = _o.Overwrite,
        };
        // Rerun: a chunk is idempotent. Agents that keep no chunk bytes across a restart answer an
        // unfinished chunk interrupted anyway, and it is sent again below.
        var call = new CallOptions { Timeout = _o.ChunkTimeout, OnInterrupt = InterruptPolicy.Rerun };
        GuestTimeoutException? lastTimeout = null;
        Reply? lastInterrupted = null;
        Exception? lastTransportError = null;
        for (var attempt = 1; attempt <= _o.MaxAttempts; attempt++)
        {
            if (attempt > 1)
            {
                Interlocked.Increment(ref _retries);
            }
            Interlocked.Increment(ref _commands);
            lock (_lock)
            {
                if (_sent.Add(index))
                {
                    _sentBytes += length;
                }
            }
            // Each attempt is a new command: the agent would not run an id it has seen again.
            var id = Guid.NewGuid();
            Reply final;
            try
            {
                final = (await _client.CallAsync(args, call with { CommandId = id }, ct).ConfigureAwait(false)).Final;
            }
            catch (GuestTimeoutException e) when (e.Final is not null)
            {
                // The answer is in; only an earlier reply (the 'accepted') went missing.
                final = e.Final;
            }
            catch (GuestTimeoutException e)
            {
                lastTimeout = e;
                lastInterrupted = null;
                lastTransportError = null;
                continue;
            }
            catch (Exception e) when (_client.Transport.Classify(e) == TransportErrorKind.Transient)
            {
                // Sending failed (no answer, or the service busy): maybe sent, maybe not. A chunk is idempotent,
                // so send it again, a little later, as a new command.
                lastTransportError = e;
                lastTimeout = null;
                lastInterrupted = null;
                await Task.Delay(TransportBackoff(attempt), _time, ct).ConfigureAwait(false);
                continue;
            }
            if (final.Status == ReplyStatus.Interrupted)
            {
                lastInterrupted = final;
                lastTimeout = null;
                lastTransportError = null;
                continue;
            }
            if (final.Status != ReplyStatus.Succeeded)
            {
                throw FileTransferException.FromReply(Ops.FilePut, id, final, _path, _transferId, index);
            }
            var result = CallResult.ReadResult<FilePutResult>(final, id, Ops.FilePut)
                         ?? throw new GuestProtocolException($"file.put command {id} (chunk {index}) succeeded without a result.", id, Ops.FilePut);
            Check(result, index, id);
            Record(index, length, result);
            return result;
        }
        if (lastTransportError is not null)
        {
            ExceptionDispatchInfo.Throw(lastTransportError);
        }
        var tries = $"{_o.MaxAttempts} attempt(s)";
        throw lastInterrupted is not null
            ? new FileTransferException(Ops.FilePut, FileTransferErrors.Interrupted,
                $"the agent was interrupted while writing the chunk, {tries} in a row.", _path, _transferId, index, lastInterrupted)
            : new FileTransferException(Ops.FilePut, FileTransferErrors.TimedOut,
                $"no answer to the chunk in {tries}; last: {lastTimeout?.Message}", _path, _transferId, index,
                commandId: lastTimeout?.CommandId, inner: lastTimeout);
    }

    /// <summary>0.25, 0.5, 1, 2, 4 s ...: long enough in all to ride out a queue service's restart, short for a dropped connection.</summary>
    internal static TimeSpan TransportBackoff(int attempt) => TimeSpan.FromMilliseconds(Math.Min(5000, 250 * Math.Pow(2, attempt - 1)));

    private async Task<string> ReadChunkAsync(int index, int length, CancellationToken ct)
    {
        var buffer = new byte[length];
        await _readGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _source.Position = _start + ((long)index * _o.ChunkBytes);
            await _source.ReadExactlyAsync(buffer, ct).ConfigureAwait(false);
        }
        finally
        {
            _readGate.Release();
        }
        return Convert.ToBase64String(buffer);
    }

    private void Check(FilePutResult result, int index, Guid id)
    {
        string? problem = null;
        if (result.TransferId != _transferId)
        {
            problem = $"names transfer {result.TransferId}";
        }
        else if (result.Count != _count)
        {
            problem = $"says the transfer has {result.Count} chunks, not {_count}";
        }
        else if (result.Received < 0 || result.Received > _count)
        {
            problem = $"says {result.Received} chunks are held";
        }
        else if (result.Missing.Any(i => i < 0 || i >= _count))
        {
            problem = "lists a missing chunk outside the transfer";
        }
        if (problem is not null)
        {
            throw new GuestProtocolException($"file.put command {id}: the answer to chunk {index} of transfer {_transferId} {problem}.", id, Ops.FilePut);
        }
    }

    private void Record(int index, int length, FilePutResult result)
    {
        lock (_lock)
        {
            if (_held.Add(index))
            {
                _heldBytes += length;
            }
            if (_roundBest is null || result.Received > _roundBest.Received)
            {
                _roundBest = result;
            }
            if (result.Complete && _complete is null)
            {
                Volatile.Write(ref _complete, result);
            }
            ReportLocked();
        }
    }

    private void ReportLocked()
    {
        if (_o.Progress is not { } progress)
        {
            return;
        }
        // Chunks held before this call are all full-size (the probe, the only possibly short one, is counted as ours).
        var chunks = Math.Min(_count, _held.Count + _heldBefore);
        var skippedBytes = (long)_heldBefore * _o.ChunkBytes;
        var bytes = Math.Min(_size, _heldBytes + skippedBytes);
        progress.Report(new FileTransferProgress(bytes, _size, chunks, _count, _heldBefore, Math.Min(skippedBytes, bytes), Elapsed));
    }
}
