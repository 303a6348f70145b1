using GuestAgent.Blocks;
using Serilog.Events;

namespace GuestAgent.Agent.Blocks;

/// <summary>What the agent gives a block it constructs: its name, a state directory and the agent's log.</summary>
public sealed class BlockHost(string agentName, string stateDirectory, string blockName) : IBlockHost
{
    private readonly Serilog.ILogger _log = Serilog.Log.ForContext("SourceContext", $"Block.{blockName}");

    public string AgentName { get; } = agentName;

    public string StateDirectory { get; } = stateDirectory;

    public void Log(BlockLogLevel level, string message) => _log.Write(level switch
    {
        BlockLogLevel.Debug => LogEventLevel.Debug,
        BlockLogLevel.Warning => LogEventLevel.Warning,
        BlockLogLevel.Error => LogEventLevel.Error,
        _ => LogEventLevel.Information,
    }, "{Message}", message);
}
