using GuestAgent.Testing;

namespace GuestAgent.Agent.Tests.E2E;

/// <summary>A real agent process on the shared Zaqar bed, one tenant, and a scratch directory.</summary>
public sealed class E2EContext : IDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public E2EContext(int maxOperations = 4, IReadOnlyList<string>? allowedOps = null, string extraConfig = "", ZaqarBed? bed = null,
        IReadOnlyList<string>? httpDestinations = null, bool fileRoot = false, Func<TestTenant, TestTenant>? tenant = null)
    {
        Bed = bed ?? ZaqarBed.Shared;
        Dir = Directory.CreateTempSubdirectory("ga-e2e-").FullName;
        FileRoot = Directory.CreateDirectory(Path.Combine(Dir, "root")).FullName;
        Tenant = NewTenant("t1", maxOperations, allowedOps) with
        {
            HttpDestinations = httpDestinations,
            FileRoots = fileRoot ? [FileRoot] : null,
        };
        Tenant = tenant?.Invoke(Tenant) ?? Tenant;
        Agent = AgentProcess.Start(Bed, [Tenant], extraConfig: extraConfig);
        Controller = RawController.For(Bed, Tenant);
    }

    /// <summary>Dir/root: the tenant's only file root when the context was made with <c>fileRoot</c>.</summary>
    public string FileRoot { get; }

    public ZaqarBed Bed { get; }
    public TestTenant Tenant { get; }
    public AgentProcess Agent { get; }
    public RawController Controller { get; }

    /// <summary>Scratch directory where commands leave their marks.</summary>
    public string Dir { get; }

    public static TestTenant NewTenant(string name, int maxOperations = 4, IReadOnlyList<string>? allowedOps = null) =>
        new(name, ZaqarBed.NewProject(), ZaqarBed.NewQueue("cmd"), ZaqarBed.NewQueue("rep"), maxOperations, allowedOps);

    /// <summary>Polls <paramref name="condition"/> until it holds (or fails the test after <paramref name="timeout"/>, <see cref="Wait"/> unless given).</summary>
    public static async Task WaitForAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Wait);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for: {what}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Runs the built guestctl against this agent's queue (HOME in the scratch directory).</summary>
    public Task<(int ExitCode, string Stdout, string Stderr)> GuestctlAsync(params string[] args) =>
        Guestctl.RunAsync(args, new Dictionary<string, string>
        {
            ["ZAQAR_URL"] = Bed.Url,
            ["ZAQAR_PROJECT"] = Tenant.Project,
            ["GUESTAGENT_QUEUE"] = Tenant.CommandQueue,
            ["HOME"] = Dir,
            ["GUESTAGENT_SIGNING_KEYS"] = string.Join(",", Tenant.Keys.Select(k => $"{k.Id}={Convert.ToBase64String(k.Secret)}")),
        });

    public string[] MarkLines(string name)
    {
        var path = Path.Combine(Dir, name);
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    public void Dispose()
    {
        Agent.Dispose();
        try
        {
            Directory.Delete(Dir, true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// One agent for every test of a class (an xunit class fixture, subclassed per class with its
/// settings): a test costs its commands, not an agent's start. Tests on it keep apart by their own
/// directories (<see cref="NewDirectory"/>), command ids and log marks; a test that kills, restarts
/// or reconfigures an agent makes an <see cref="E2EContext"/> of its own.
/// </summary>
public abstract class SharedAgent(Func<E2EContext> start) : IDisposable
{
    public E2EContext E2E { get; } = start();

    /// <summary>A new, empty directory under <paramref name="parent"/> for one test.</summary>
    public static string NewDirectory(string parent) =>
        Directory.CreateDirectory(Path.Combine(parent, Guid.NewGuid().ToString("N")[..12])).FullName;

    public void Dispose()
    {
        E2E.Dispose();
        GC.SuppressFinalize(this);
    }
}
