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

    /// <summary>Chunk reply <paramref name="seq"/> of a finished command (the outbox reads them from the spool one at a time).</summary>
    public Reply Progress(Guid id, long seq, Chunk chunk) => new(id, seq, ReplyStatus.Progress, agent, time.GetUtcNow(), Chunk: chunk);

    public static long FinalSeq(OutcomeV1 outcome) => 1 + outcome.Spools.Sum(s => (long)s.Chunks);

    /// <summary>The final reply of a finished command, numbered after all its chunks.</summary>
    public Reply Final(Guid id, OutcomeV1 outcome)
    {
        var seq = FinalSeq(outcome);
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
