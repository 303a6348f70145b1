using GuestAgent.Agent.Hosting;

namespace GuestAgent.Agent;

public static class Program
{
    public static Task<int> Main(string[] args) => AgentHost.RunAsync(args);
}
