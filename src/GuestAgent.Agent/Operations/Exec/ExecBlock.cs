using GuestAgent.Agent.Blocks;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;
using GuestAgent.Protocol.Chunking;

namespace GuestAgent.Agent.Operations.Exec;

/// <summary>
/// The built-in <c>exec</c> block: a program or shell script in the guest, its output captured
/// whole. Policy: the binding's <c>exec</c> section (run-as, allowed-run-as, allowed-programs,
/// allowed-env).
/// </summary>
public sealed class ExecBlock(GuestPlatform platform) : OperationBlock
{
    private readonly ExecRunner _runner = new(platform);

    public override string Name => "exec";

    public override IReadOnlyList<BlockOp> Ops { get; } = [new(Protocol.Ops.Exec, StandardArgs.ReadExecArgs)];

    /// <summary>Each of its ops enforces the timeout its args give (<c>timeout_s</c>), with its own cleanup.</summary>
    public override TimeSpan? TimeLimit(BlockCommand command) => null;

    /// <summary>The binding's <c>exec</c> section (docs in hocon/guest-agent.conf).</summary>
    public override object? ReadPolicy(IBlockSettings binding)
    {
        var runAs = binding.GetString("exec.run-as", "") ?? "";
        var allowedRunAs = binding.GetStringList("exec.allowed-run-as");
        foreach (var user in allowedRunAs.Append(runAs).Where(u => u.Length > 0))
        {
            if (user.Any(c => char.IsWhiteSpace(c) || c is ':' or '/' or '\0'))
            {
                throw new BlockConfigException("exec", $"'{user}' is not a user name");
            }
        }
        var programs = binding.GetStringList("exec.allowed-programs");
        foreach (var program in programs.Where(p => !Path.IsPathFullyQualified(p)))
        {
            throw new BlockConfigException("exec.allowed-programs", $"'{program}' is not an absolute path");
        }
        var env = binding.GetStringList("exec.allowed-env");
        if (env.Count > 0 && programs.Count == 0)
        {
            throw new BlockConfigException("exec.allowed-env", "only applies with exec.allowed-programs (without it any variable may be set)");
        }
        return new ExecPolicy(runAs.Length == 0 ? null : runAs, allowedRunAs.ToHashSet(StringComparer.Ordinal), programs,
            env.ToHashSet(StringComparer.Ordinal));
    }

    public override string? Refusal(BlockCommand command) =>
        ExecGate.Judge(command.ArgsAs<ExecArgs>(), command.PolicyAs<ExecPolicy>(), command.Tenant, platform).Refusal;

    /// <summary>
    /// The binding's policy once more, as the run starts: it was judged when the command was
    /// accepted, but the guest's files may have changed since (a rerun after a restart, a
    /// re-pointed symlink), and what runs must be what was checked.
    /// </summary>
    public override async Task<BlockOutcome> RunAsync(BlockRun run, CancellationToken cancel)
    {
        var (admitted, refusal) = ExecGate.Judge(run.ArgsAs<ExecArgs>(), run.PolicyAs<ExecPolicy>(), run.Tenant, platform);
        ExecOutcome outcome;
        if (admitted is null)
        {
            outcome = ExecOutcome.FailedToStart(run.Attempt, $"not allowed: {refusal}");
        }
        else
        {
            try
            {
                outcome = await _runner.RunAsync(admitted, OptionsFor(run), cancel).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                outcome = ExecOutcome.Crashed(run.Attempt, e);
            }
        }
        return ToOutcome(outcome, run.ChunkBytes);
    }

    /// <summary>
    /// An attempt whose supervisor still runs, or recorded how the run ended, can be followed to
    /// its true end. Otherwise (the machine or the supervisor died) kills whatever the attempt
    /// still has running, so a rerun never races it.
    /// </summary>
    public override InterruptMeaning Interrupted(BlockCommand command)
    {
        // The core asks with the attempt's run, whose output says where its files are.
        if (command is BlockRun { Output: SpoolOutput spool }
            && RunFiles.For(spool.Directory, command.CommandId, command.Attempt) is var files
            && (files.ReadExitCode() is not null || _runner.IsDetachedHere(files)
                || platform.Processes.FindSupervised(files, ExecOptions.CommandIdVariable, command.CommandId.ToString("D")) is not null))
        {
            return InterruptMeaning.Reattachable;
        }
        // ExecRunner puts the command id in every run's environment, and children inherit it.
        var pids = platform.Processes.KillTagged(ExecOptions.CommandIdVariable, command.CommandId.ToString("D"));
        if (pids.Count > 0)
        {
            Serilog.Log.ForContext("Tenant", command.Tenant).ForContext("CommandId", command.CommandId)
                .Warning("killed {Count} process(es) left from interrupted attempt {Attempt}: {Pids}", pids.Count, command.Attempt, pids);
        }
        return InterruptMeaning.MayHaveTakenEffect;
    }

    public override async Task<BlockOutcome> ReattachAsync(BlockRun run, CancellationToken cancel)
    {
        var outcome = await _runner.ReattachAsync(run.ArgsAs<ExecArgs>(), OptionsFor(run) with { KillAtOnce = run.CancelRequested }, cancel)
            .ConfigureAwait(false);
        return outcome is null
            ? BlockOutcome.Lost($"attempt {run.Attempt} outlived the agent, but its supervisor ended without recording how the run ended")
            : ToOutcome(outcome, run.ChunkBytes);
    }

    /// <summary>How the runner runs (or finds again) this attempt: everything not in the command's args.</summary>
    private static ExecOptions OptionsFor(BlockRun run) => new()
    {
        CommandId = run.CommandId,
        Attempt = run.Attempt,
        SpoolDirectory = ((SpoolOutput)run.Output).Directory,
        DefaultInlineCapBytes = run.InlineCapBytes,
        TimeProvider = run.Time,
        // RunAsync has judged the policy already; a reattach does not use it.
        Policy = run.Policy as ExecPolicy ?? ExecPolicy.Unrestricted,
        Tenant = run.Tenant,
        Detaching = run.Detaching,
    };

    internal static BlockOutcome ToOutcome(ExecOutcome o, int chunkBytes)
    {
        if (o.MayHaveRun)
        {
            // A controller that read "failed_to_start" could send it again and run it twice.
            return BlockOutcome.Failed(RejectCodes.InternalError, $"{o.Error}; the process may have run, its result is lost");
        }
        if (o.Kind == ExecOutcomeKind.Detached)
        {
            // Nobody reads it: the ledger that stopped following the run is gone; the next one reattaches.
            return BlockOutcome.Cancelled();
        }
        if (!o.Started)
        {
            return BlockOutcome.Failed("failed_to_start", o.Error ?? "the process did not start");
        }
        var result = o.ToResult(o.Stdout.ChunkCount(chunkBytes), o.Stderr.ChunkCount(chunkBytes));
        (string, CapturedStream)[] outputs = [(ChunkStreams.Stdout, o.Stdout), (ChunkStreams.Stderr, o.Stderr)];
        return o.Kind switch
        {
            ExecOutcomeKind.TimedOut => BlockOutcome.TimedOut($"killed after its timeout ({result.Signal ?? "exited"})", result, outputs),
            ExecOutcomeKind.Cancelled => BlockOutcome.Cancelled(result, outputs),
            _ when o.ExitCode == 0 => BlockOutcome.Succeeded(result, outputs),
            _ => BlockOutcome.Failed("nonzero_exit", $"exited with code {o.ExitCode}", result, outputs),
        };
    }
}
