using GuestAgent.Testing;

namespace GuestAgent.Soak;

/// <summary>
/// The soak's own Zaqar bed (tools/zaqar/start.sh with --redis-aof, so that a Redis restart loses
/// no message: a loss the soak counts must be the agent's, not the test bed's), with each part
/// stopped and started again by tools/zaqar/stop.sh and restart.sh.
/// </summary>
public sealed class SoakBed : IDisposable
{
    private SoakBed(string dir, IReadOnlyDictionary<string, string> env)
    {
        Dir = dir;
        Url = env["ZAQAR_URL"];
    }

    public string Dir { get; }
    public string Url { get; }

    public static SoakBed Start(string dir)
    {
        var output = Run(RepoPaths.Tool("zaqar", "start.sh"), "--dir", dir, "--redis-aof", "--no-install");
        return new SoakBed(dir, BedScripts.ReadEnv(output));
    }

    public void Stop(string part) => Run(RepoPaths.Tool("zaqar", "stop.sh"), Dir, part);

    public void Restart(string part) => Run(RepoPaths.Tool("zaqar", "restart.sh"), Dir, part);

    public void Dispose() => Run(RepoPaths.Tool("zaqar", "stop.sh"), Dir);

    internal static string Run(string file, params string[] args) => BedScripts.Run(file, args, TimeSpan.FromMinutes(3));
}
