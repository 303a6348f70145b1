using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E.Windows;

/// <summary>
/// The win-x64 agent running under Wine (its own prefix) against the shared Zaqar bed, one tenant
/// whose file root is <see cref="Root"/>; the controller is the ordinary Linux test controller.
/// </summary>
public sealed class WineAgent : IDisposable
{
    public WineAgent()
    {
        Bed = WineBed.Create();
        Dir = Directory.CreateTempSubdirectory("ga-wine-e2e-").FullName;
        Root = Directory.CreateDirectory(Path.Combine(Dir, "root")).FullName;
        Outside = Directory.CreateDirectory(Path.Combine(Dir, "outside")).FullName;
        Tenant = E2EContext.NewTenant("t1", maxOperations: 8) with
        {
            FileRoots = [WineBed.WinPath(Root)],
            ExtraConfig = "exec { allowed-run-as = [\"Administrator\"] }",
        };
        Agent = Bed.StartAgent(ZaqarBed.Shared.Url, [Tenant]);
        Controller = RawController.For(ZaqarBed.Shared, Tenant);
    }

    public WineBed Bed { get; }
    public TestTenant Tenant { get; }
    public AgentProcess Agent { get; }
    public RawController Controller { get; }

    /// <summary>Scratch directory (a Linux path; the agent sees it as Z:\...).</summary>
    public string Dir { get; }

    /// <summary>The tenant's only file root.</summary>
    public string Root { get; }

    /// <summary>A directory beside the root, which no file op may reach.</summary>
    public string Outside { get; }

    /// <summary>The final reply of <paramref name="id"/>; when none comes, the error carries the agent's log.</summary>
    public async Task<GuestAgent.Protocol.Reply> FinalAsync(Guid id, TimeSpan timeout)
    {
        try
        {
            // An agent that died at start answers nothing: say so at once, not after the timeout.
            var reply = Controller.FinalAsync(id, timeout);
            while (!reply.IsCompleted && Agent.IsRunning)
            {
                await Task.WhenAny(reply, Task.Delay(500));
            }
            return reply.IsCompleted || Agent.IsRunning ? await reply
                : throw new InvalidOperationException($"the agent under Wine exited; it logged:\n{Agent.Log}");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; the agent under Wine logged:\n{Agent.Log}", e);
        }
    }

    /// <summary>The lines of a mark file commands wrote into <see cref="Dir"/>.</summary>
    public string[] MarkLines(string name)
    {
        var path = Path.Combine(Dir, name);
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    /// <summary>
    /// The Linux processes of Wine programs whose command line holds <paramref name="marker"/>
    /// (Wine shows a Windows process's command line as its own).
    /// </summary>
    public static IReadOnlyList<int> WineProcessesWith(string marker)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(marker, StringComparison.Ordinal) && !cmdline.Contains("guest-agent", StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // gone meanwhile
            }
        }
        return found;
    }

    public void Dispose()
    {
        Agent.Dispose();
        Bed.Dispose();
        try
        {
            Directory.Delete(Dir, true);
        }
        catch (IOException)
        {
        }
    }
}
