using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GuestAgent.Soak;

/// <summary>Latency of quick calls (command posted → final reply in), in milliseconds.</summary>
public sealed record LatencyFigures(int Count, double? P50, double? P99, double? Max);

/// <summary>The journal at the end, and how fast the agent came back after each start.</summary>
public sealed record JournalFigures(long EventsWritten, long EventRowsAtEnd, long MaxEventRowsSeen, long SnapshotRowsAtEnd,
    long DatabaseBytes, int Recoveries, double? RecoveryP50Ms, double? RecoveryMaxMs);

/// <summary>One command the accounting found wrong (lost, hung, duplicated, wrong output).</summary>
public sealed record Problem(string What, Guid Id, WorkKind Kind, string Detail);

/// <summary>The accounting of one soak run; <see cref="Passed"/> decides the exit code.</summary>
public sealed record SoakReport
{
    public required int Seed { get; init; }
    public required double LoadSeconds { get; init; }
    public required double TotalSeconds { get; init; }
    public required double Rate { get; init; }
    public required int CommandsSent { get; init; }
    public required int Calls { get; init; }
    public required int Casts { get; init; }
    public required int FileTransfers { get; init; }
    public required IReadOnlyDictionary<string, int> SentByKind { get; init; }
    public required int PostRetries { get; init; }
    public required int CallFinalRepliesReceived { get; init; }
    public required int CallsResolvedByStatus { get; init; }
    public required IReadOnlyDictionary<string, int> FinalStatuses { get; init; }
    public required IReadOnlyDictionary<string, int> CommandsByEffectCount { get; init; }
    public required int Reruns { get; init; }
    public required int RerunsMatchingLedger { get; init; }
    /// <summary>"reattached to attempt" in the agent's log: runs that outlived an agent and were followed to their true end.</summary>
    public required int ReattachedRuns { get; init; }
    public required int InterruptedOutcomes { get; init; }

    /// <summary>Commands that ended interrupted although their last attempt ran to its end.</summary>
    public required int FalseInterrupted { get; init; }

    /// <summary>Commands run again after an attempt that had run to its end.</summary>
    public required int RerunsOfFinishedAttempts { get; init; }
    public required int MostRunsAtOnce { get; init; }
    public required int TenantMaxOperations { get; init; }
    public required int FailPolicyDuplicates { get; init; }
    public required int UnexplainedDuplicates { get; init; }
    public required int Lost { get; init; }
    public required int Hung { get; init; }
    public required int WrongOutputs { get; init; }
    public required int UnexpectedOutcomes { get; init; }
    public required int TransfersVerified { get; init; }
    public required int TransfersLost { get; init; }
    public required LatencyFigures LatencyWithoutFaults { get; init; }
    public required LatencyFigures LatencyDuringFaults { get; init; }
    public required IReadOnlyDictionary<string, int> FaultCounts { get; init; }
    public required int AgentRestartsSurvived { get; init; }
    public required JournalFigures Journal { get; init; }
    public required bool GracefulStop { get; init; }
    public required double GracefulStopSeconds { get; init; }

    /// <summary>SIGTERMs under load (fault agent-stop) that did not end the agent within its grace.</summary>
    public required int LateStopsUnderLoad { get; init; }
    public required IReadOnlyList<FaultRecord> Faults { get; init; }
    public required IReadOnlyList<Problem> Problems { get; init; }

    /// <summary>
    /// No loss, no hung command, no unexplained duplicate, no wrong output, no lost transfer, no false
    /// interrupted, no rerun of a finished attempt, the tenant's slot cap held.
    /// </summary>
    public bool Passed => Lost == 0 && Hung == 0 && UnexplainedDuplicates == 0 && WrongOutputs == 0 && TransfersLost == 0 && GracefulStop
        && LateStopsUnderLoad == 0 && FalseInterrupted == 0 && RerunsOfFinishedAttempts == 0 && MostRunsAtOnce <= TenantMaxOperations;

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public string ToText()
    {
        static string Dict(IReadOnlyDictionary<string, int> d) => string.Join(", ", d.Select(kv => $"{kv.Key} {kv.Value}"));
        static string Ms(double? v) => v is null ? "-" : $"{v:F0} ms";
        static string Lat(LatencyFigures l) => $"p50 {Ms(l.P50)}, p99 {Ms(l.P99)}, max {Ms(l.Max)} (n={l.Count})";
        var s = new StringBuilder();
        s.AppendLine("== GuestAgent soak accounting ==");
        s.AppendLine($"seed {Seed}; load {LoadSeconds:F0} s at {Rate:F1}/s; whole run {TotalSeconds:F0} s");
        s.AppendLine($"commands sent             {CommandsSent} (calls {Calls}, casts {Casts}, file transfers {FileTransfers})");
        s.AppendLine($"  by kind                 {Dict(SentByKind)}");
        s.AppendLine($"  posts repeated          {PostRetries} (Zaqar or Redis down while posting; same command id)");
        s.AppendLine($"replies final (calls)     {CallFinalRepliesReceived} of {Calls} through the reply queue; {CallsResolvedByStatus} settled by status (posted, the controller had stopped waiting: listed below)");
        s.AppendLine($"final states (ledger)     {Dict(FinalStatuses)}");
        s.AppendLine($"effects per command       {Dict(CommandsByEffectCount)}");
        s.AppendLine($"reruns                    {Reruns} commands ran more than once, {RerunsMatchingLedger} of them exactly as often as the ledger's attempt count");
        s.AppendLine($"reattached                {ReattachedRuns} runs outlived an agent and were followed to their true end (agent log)");
        s.AppendLine($"interrupted               {InterruptedOutcomes} commands; false (last attempt had ended): {FalseInterrupted}; reruns of a finished attempt: {RerunsOfFinishedAttempts}");
        s.AppendLine($"slot cap                  at most {MostRunsAtOnce} runs at once (from the runs' own marks) with max-operations = {TenantMaxOperations}");
        s.AppendLine($"duplicates                on_interrupt=fail with >1 effect: {FailPolicyDuplicates}; unexplained: {UnexplainedDuplicates}");
        s.AppendLine($"lost                      {Lost} (posted, unknown to the agent at the end); hung: {Hung} (not final, or final reply not in Zaqar, at the end)");
        s.AppendLine($"wrong output              {WrongOutputs}; unexpected outcomes (listed below, not failures): {UnexpectedOutcomes}");
        s.AppendLine($"file transfers            {TransfersVerified} of {FileTransfers} put and read back, SHA-256 verified; lost {TransfersLost}");
        s.AppendLine($"latency, quick calls      without faults: {Lat(LatencyWithoutFaults)}");
        s.AppendLine($"                          during faults:  {Lat(LatencyDuringFaults)}");
        s.AppendLine($"faults                    {(FaultCounts.Count == 0 ? "none" : Dict(FaultCounts))}");
        s.AppendLine($"agent restarts survived   {AgentRestartsSurvived} (after kill -9: {FaultCounts.GetValueOrDefault(nameof(FaultKind.AgentKill))}, after SIGTERM: {FaultCounts.GetValueOrDefault(nameof(FaultKind.AgentStop))})");
        s.AppendLine($"journal                   {Journal.EventsWritten} events written; {Journal.EventRowsAtEnd} event rows kept at the end (max seen {Journal.MaxEventRowsSeen}), {Journal.SnapshotRowsAtEnd} snapshot row(s); journal and snapshot files {Journal.DatabaseBytes / 1024.0:F0} KiB");
        s.AppendLine($"recovery                  {Journal.Recoveries} starts: ledger recovered p50 {Ms(Journal.RecoveryP50Ms)}, max {Ms(Journal.RecoveryMaxMs)} after process start");
        var underLoad = FaultCounts.GetValueOrDefault(nameof(FaultKind.AgentStop));
        s.AppendLine($"graceful stop (SIGTERM)   at the end: {(GracefulStop ? "exited" : "DID NOT EXIT")} in {GracefulStopSeconds:F1} s; under load: {underLoad - LateStopsUnderLoad} of {underLoad} within the grace");
        foreach (var p in Problems.Take(40))
        {
            s.AppendLine($"  {p.What}: {p.Kind} {p.Id}: {p.Detail}");
        }
        if (Problems.Count > 40)
        {
            s.AppendLine($"  ... {Problems.Count - 40} more in the JSON");
        }
        s.AppendLine($"verdict                   {(Passed ? "PASS: nothing lost, no unexplained duplicate, no false interrupted, slot cap held" : "FAIL")}");
        return s.ToString();
    }
}
