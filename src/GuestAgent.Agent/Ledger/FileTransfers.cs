using System.Globalization;
using System.Text;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;

namespace GuestAgent.Agent.Ledger;

/// <summary>One file.put transfer the ledger knows: its fixed description and the chunks held.</summary>
public sealed class TransferEntry(TransferOpenedV1 opened)
{
    public TransferOpenedV1 Opened { get; } = opened;
    public Guid Id => Opened.TransferId;
    public HashSet<int> Received { get; } = [];
    public DateTimeOffset LastProgressAt { get; set; } = opened.At;
    public bool Complete => CompletedAt is not null;
    public long? Bytes { get; set; }
    public string? FinalSha256 { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>The command whose operation is verifying and renaming the file; not persisted (an install dies with the agent).</summary>
    public Guid? InstalledBy { get; set; }

    public bool AllHeld => Received.Count == Opened.Count;

    /// <summary>The first field in which a chunk disagrees with the transfer, or null.</summary>
    public string? Disagreement(FilePutArgs a)
    {
        var o = Opened;
        return a.Path != o.Path ? "path"
            : a.Size != o.Size ? "size"
            : a.Sha256 != o.Sha256 ? "sha256"
            : a.ChunkBytes != o.ChunkBytes ? "chunk_bytes"
            : a.Count != o.Count ? "count"
            : a.Mode != o.Mode ? "mode"
            : a.Owner != o.Owner ? "owner"
            : a.Group != o.Group ? "group"
            : a.Overwrite != o.Overwrite ? "overwrite"
            : null;
    }

    /// <summary>The answer to a chunk command: where the transfer stands.</summary>
    public FilePutResult Progress() => Complete
        ? new FilePutResult(Id, Opened.Count, Opened.Count, [], true, Opened.Path, Bytes, FinalSha256)
        : new FilePutResult(Id, Received.Count, Opened.Count, FilePutResult.MissingOf(Received, Opened.Count), false, Opened.Path);

    public TransferV1 ToSnapshot() => new(Opened, Complete ? "" : Ranges.Encode(Received), LastProgressAt, Bytes, FinalSha256, CompletedAt);
}

/// <summary>
/// The file.put transfers of one tenant binding, changed only by applying persisted events.
/// Completed transfers are kept for the dedup window, so a chunk re-sent after its transfer
/// finished is answered "complete" instead of starting the file over.
/// </summary>
public sealed class FileTransfers
{
    private readonly Dictionary<Guid, TransferEntry> _byId = [];

    public int Count => _byId.Count;

    public IEnumerable<TransferEntry> All => _byId.Values;

    public TransferEntry? Find(Guid transferId) => _byId.GetValueOrDefault(transferId);

    public void Apply(ITransferEvent e)
    {
        switch (e)
        {
            case TransferOpenedV1 o:
                _byId[o.TransferId] = new TransferEntry(o);
                break;
            case TransferChunkStoredV1 s when _byId.TryGetValue(s.TransferId, out var t):
                t.Received.Add(s.Index);
                t.LastProgressAt = s.At;
                break;
            case TransferCompletedV1 c when _byId.TryGetValue(c.TransferId, out var t):
                t.Bytes = c.Bytes;
                t.FinalSha256 = c.Sha256;
                t.CompletedAt = c.At;
                t.InstalledBy = null;
                t.Received.Clear();
                break;
            case TransferDiscardedV1 d:
                _byId.Remove(d.TransferId);
                break;
        }
    }

    /// <summary>Forgets completed transfers older than the dedup window.</summary>
    public void Prune(DateTimeOffset now, TimeSpan window)
    {
        foreach (var t in _byId.Values.Where(t => t.CompletedAt is { } at && now - at > window).ToList())
        {
            _byId.Remove(t.Id);
        }
    }

    public List<TransferV1> ToSnapshot() => _byId.Values.Select(t => t.ToSnapshot()).ToList();

    public void Restore(IEnumerable<TransferV1>? snapshot)
    {
        _byId.Clear();
        foreach (var s in snapshot ?? [])
        {
            var t = new TransferEntry(s.Opened)
            {
                LastProgressAt = s.LastProgressAt,
                Bytes = s.Bytes,
                FinalSha256 = s.FinalSha256,
                CompletedAt = s.CompletedAt,
            };
            t.Received.UnionWith(Ranges.Decode(s.Received));
            _byId[t.Id] = t;
        }
    }
}

/// <summary>A set of chunk indexes as text ranges, so a snapshot of a big transfer stays small.</summary>
public static class Ranges
{
    public static string Encode(IEnumerable<int> indexes)
    {
        var sb = new StringBuilder();
        var sorted = indexes.Order().ToList();
        for (var i = 0; i < sorted.Count; i++)
        {
            var start = sorted[i];
            while (i + 1 < sorted.Count && sorted[i + 1] == sorted[i] + 1)
            {
                i++;
            }
            sb.Append(sb.Length > 0 ? "," : "").Append(start.ToString(CultureInfo.InvariantCulture));
            if (sorted[i] != start)
            {
                sb.Append('-').Append(sorted[i].ToString(CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    public static IEnumerable<int> Decode(string ranges)
    {
        foreach (var part in ranges.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            var start = int.Parse(dash < 0 ? part : part[..dash], CultureInfo.InvariantCulture);
            var end = dash < 0 ? start : int.Parse(part[(dash + 1)..], CultureInfo.InvariantCulture);
            for (var i = start; i <= end; i++)
            {
                yield return i;
            }
        }
    }
}
