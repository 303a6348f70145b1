using System.Text.Json;
using GuestAgent.Agent.Ledger.Events;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Ledger;

/// <summary>
/// Builds a command's replies. Numbering is fixed by the outcome alone (accepted = 0, chunks
/// 1..k, final = k + 1), so replies posted again after a restart carry the same (id, seq) and
/// the controller drops the copies.
/// </summary>
public sealed class ReplyFactory(string agent, TimeProvider time)
{
    public Reply Accepted(Guid id) => new(id, 0, ReplyStatus.Accepted, agent, time.GetUtcNow());

    public Reply Rejected(Guid id, string code, string message) =>
        new(id, 0, ReplyStatus.Rejected, agent, time.GetUtcNow(), Error: new ReplyError(code, message));

    /// <summary>Chunk replies and then the final reply of a finished command.</summary>
    public IEnumerable<Reply> Finished(Guid id, OutcomeV1 outcome, int chunkBytes)
    {
        long seq = 1;
        foreach (var spool in outcome.Spools)
        {
            if (spool.Chunks == 0)
            {
                continue;
            }
            if (!File.Exists(spool.Path))
            {
                // Lost with the state directory: the final reply still says how much there was and
                // the controller reports the missing chunks, rather than the agent failing forever.
                seq += spool.Chunks;
                continue;
            }
            using var file = File.OpenRead(spool.Path);
            file.Seek(spool.InlineBytes, SeekOrigin.Begin);
            long offset = spool.InlineBytes;
            for (var index = 0; index < spool.Chunks; index++)
            {
                var buffer = new byte[(int)Math.Min(chunkBytes, spool.Bytes - offset)];
                file.ReadExactly(buffer);
                var chunk = new Chunk(spool.Stream, index, spool.Chunks, offset, spool.Sha256, buffer);
                yield return new Reply(id, seq++, ReplyStatus.Progress, agent, time.GetUtcNow(), Chunk: chunk);
                offset += buffer.Length;
            }
        }
        yield return Final(id, outcome, seq);
    }

    public static long FinalSeq(OutcomeV1 outcome) => 1 + outcome.Spools.Sum(s => (long)s.Chunks);

    private Reply Final(Guid id, OutcomeV1 outcome, long seq)
    {
        var status = ParseStatus(outcome.Status);
        JsonElement? result = outcome.ResultJson is null ? null : JsonDocument.Parse(outcome.ResultJson).RootElement.Clone();
        var error = outcome.ErrorCode is null ? null : new ReplyError(outcome.ErrorCode, outcome.ErrorMessage ?? "");
        return new Reply(id, seq, status, agent, time.GetUtcNow(), result, error);
    }

    public static ReplyStatus ParseStatus(string status) =>
        JsonSerializer.Deserialize<ReplyStatus>($"\"{status}\"", ProtocolJson.Options);

    public static string StatusName(ReplyStatus status) =>
        JsonSerializer.Serialize(status, ProtocolJson.Options).Trim('"');
}
