using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Transports;

namespace GuestAgent.Agent.Diagnosis;

/// <summary>
/// <c>guest-agent doctor</c>: the configuration as <c>--check-config</c> reads it, then every binding
/// checked on its transport, one line per check. Bindings are checked one after the other, so the
/// lines of one stay together.
/// </summary>
public static class Doctor
{
    /// <summary>Exit code when a check failed (the configuration's own failure is 78, as for --check-config).</summary>
    public const int ChecksFailed = 1;

    /// <param name="settings">The configuration, read; the caller reports a configuration error itself.</param>
    public static async Task<int> RunAsync(AgentSettings settings, string configName, TextWriter output, TimeProvider time, CancellationToken ct)
    {
        output.WriteLine(new DoctorCheck(null, "configuration", CheckVerdict.Ok,
            $"{configName} is valid: {settings.Tenants.Count} tenant binding(s)"));
        var failed = 0;
        foreach (var binding in settings.Tenants)
        {
            var transport = TransportRegistry.Find(binding.Transport)!;
            IReadOnlyList<DoctorCheck> checks;
            try
            {
                checks = await transport.DiagnoseAsync(binding, settings, time, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                checks = [DoctorCheck.Fail(binding.Name, "doctor", $"the checks themselves failed: {e.GetType().Name}: {e.Message}",
                    "report this; meanwhile check the endpoint and credentials by hand (docs/operations.md)")];
            }
            foreach (var check in checks)
            {
                output.WriteLine(check);
                failed += check.Verdict == CheckVerdict.Fail ? 1 : 0;
            }
        }
        output.WriteLine(failed == 0
            ? "doctor: every check passed"
            : $"doctor: {failed} check(s) failed");
        return failed == 0 ? 0 : ChecksFailed;
    }
}
