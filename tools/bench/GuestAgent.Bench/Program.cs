using GuestAgent.Bench;
using GuestAgent.Zaqar;

// Benchmarks against a running Zaqar and agent; run by tools/bench/*.sh, which set the environment.
//   GuestAgent.Bench call-latency CALLS
//   GuestAgent.Bench file-throughput MIB RUNS
var env = (string name) => Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"{name} is not set");
var zaqar = new ZaqarClient(new ZaqarClientOptions
{
    Endpoint = env("ZAQAR_URL"),
    ClientId = Guid.NewGuid(),
    Auth = new ZaqarAuth.None(env("ZAQAR_PROJECT")),
    // The bed's zaqar-server is single-threaded: see ZaqarClientOptions.MaxConnections.
    MaxConnections = 1,
});
switch (args.FirstOrDefault())
{
    case "call-latency":
        await CallLatency.RunAsync(zaqar, env("GUESTAGENT_QUEUE"), args.Length > 1 ? int.Parse(args[1]) : 200);
        break;
    case "file-throughput":
        await FileThroughput.RunAsync(zaqar, env("GUESTAGENT_QUEUE"), env("BENCH_FILE_ROOT"), int.Parse(env("BENCH_HTTP_PORT")),
            args.Length > 1 ? int.Parse(args[1]) : 64, args.Length > 2 ? int.Parse(args[2]) : 3);
        break;
    default:
        Console.Error.WriteLine("usage: GuestAgent.Bench call-latency CALLS | file-throughput MIB RUNS");
        return 2;
}
return 0;
