using GuestAgent.Agent.Ledger;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using Serilog;

namespace GuestAgent.Agent.Outbox;

/// <summary>
/// A finished command's replies read lazily: its chunk replies, one spool read at a time, in seq
/// order, then its final reply. Only one chunk's bytes are held, in one buffer reused by every read:
/// a reply returned by <see cref="NextAsync"/> is valid until the next call. Not thread-safe; the
/// outbox has at most one read of a reader under way.
/// </summary>
internal sealed class SpoolReplyReader(ReplyFactory replies, Guid commandId, OutcomeV1 outcome, int chunkBytes, ILogger log) : IDisposable
{
    private FileStream? _file;
    private int _spool = -1;
    private int _index;
    private long _offset;
    private long _seq = 1;
    private bool _finalRead;
    private byte[]? _buffer;

    /// <summary>True once the final reply has been asked for (whether or not building it succeeded).</summary>
    public bool FinalRead => _finalRead;

    /// <summary>The next reply, or null after the final one.</summary>
    public async Task<Reply?> NextAsync(CancellationToken ct)
    {
        while (!_finalRead)
        {
            if (_spool >= 0 && _spool < outcome.Spools.Count && _index < outcome.Spools[_spool].Chunks)
            {
                if (await ReadChunkAsync(outcome.Spools[_spool], ct).ConfigureAwait(false) is { } reply)
                {
                    return reply;
                }
                continue;
            }
            CloseFile();
            if (++_spool < outcome.Spools.Count)
            {
                Open(outcome.Spools[_spool]);
                continue;
            }
            _finalRead = true;
            return replies.Final(commandId, outcome);
        }
        return null;
    }

    /// <summary>Gives up the remaining chunks (after a fault reading or encoding them): the final reply comes next.</summary>
    public void SkipToFinal()
    {
        CloseFile();
        _spool = outcome.Spools.Count;
    }

    private void Open(SpooledStreamV1 spool)
    {
        _index = 0;
        _offset = spool.InlineBytes;
        if (spool.Chunks == 0)
        {
            return;
        }
        try
        {
            _file = new FileStream(spool.Path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                // Deleting the spool (an earlier copy of these replies was delivered) must not fail on us.
                Share = FileShare.ReadWrite | FileShare.Delete,
                Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
                BufferSize = 0,
            });
            _file.Seek(spool.InlineBytes, SeekOrigin.Begin);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Lost with the state directory: the final reply still says how much there was and
            // the controller reports the missing chunks, rather than the agent failing forever.
            Skip(spool);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.ForContext("CommandId", commandId).Error("spool file {Path} cannot be read ({Error}); its {Count} chunk replies are skipped",
                spool.Path, e.Message, spool.Chunks);
            Skip(spool);
        }
    }

    private async Task<Reply?> ReadChunkAsync(SpooledStreamV1 spool, CancellationToken ct)
    {
        var length = (int)Math.Min(chunkBytes, spool.Bytes - _offset);
        _buffer ??= new byte[chunkBytes];
        try
        {
            await _file!.ReadExactlyAsync(_buffer.AsMemory(0, length), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Shorter than recorded, or unreadable: skip what is left of it (as of a lost file) but still end with the final reply.
            log.ForContext("CommandId", commandId).Error("reading spool file {Path} at {Offset} failed ({Error}); its remaining {Count} chunk replies are skipped",
                spool.Path, _offset, e.Message, spool.Chunks - _index);
            _seq += spool.Chunks - _index;
            _index = spool.Chunks;
            return null;
        }
        var chunk = new Chunk(spool.Stream, _index, spool.Chunks, _offset, spool.Sha256, _buffer.AsMemory(0, length));
        _index++;
        _offset += length;
        return replies.Progress(commandId, _seq++, chunk);
    }

    private void Skip(SpooledStreamV1 spool)
    {
        _seq += spool.Chunks;
        _index = spool.Chunks;
    }

    private void CloseFile()
    {
        _file?.Dispose();
        _file = null;
    }

    public void Dispose() => CloseFile();
}
