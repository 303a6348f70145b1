using System.Globalization;
using GuestAgent.Bench;
using GuestAgent.Zaqar;

// Benchmarks against a running Zaqar and agent; run by tools/bench/*.sh, which set the environment
// (ZAQAR_URL, ZAQAR_PROJECT, GUESTAGENT_QUEUE; BENCH_JSON: figures as JSON lines; BENCH_BED: which
// Zaqar; BENCH_ZAQAR_CONNECTIONS: 1 for the single-threaded zaqar-server, more for uwsgi).
// BENCH_TRANSPORT=amqp runs call-latency, throughput and recovery over AMQP instead (Controllers).
//   GuestAgent.Bench call-latency CALLS [RUNS]
//   GuestAgent.Bench throughput SECONDS RUNS N[,N...]
//   GuestAgent.Bench recovery CASTS            (BENCH_AGENT_RESTART: kill -9 and restart the agent)
//   GuestAgent.Bench idle-first-call PREFIX BINDINGS LABEL
//   GuestAgent.Bench file-throughput MIB RUNS
//   GuestAgent.Bench spawn-floor [N]          (process starts alone, no Zaqar needed)
//   GuestAgent.Bench journal-floor [N]        (one journal write alone, no Zaqar needed)
//   GuestAgent.Bench chunk-copies [N]         (a file.put chunk's post and parse, allocation per chunk, no Zaqar needed)
//   GuestAgent.Bench cold-start RUNS          (BENCH_AGENT_BIN: fresh agents on empty state directories)
var env = (string name) => Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"{name} is not set");
var inv = CultureInfo.InvariantCulture;
// Over AMQP (BENCH_TRANSPORT=amqp) there is no Zaqar: the controllers speak to the broker.
var zaqar = Controllers.Amqp || args.FirstOrDefault() is "spawn-floor" or "journal-floor" or "chunk-copies" ? null : new ZaqarClient(new ZaqarClientOptions
{
    Endpoint = env("ZAQAR_URL"),
    ClientId = Guid.NewGuid(),
    Auth = new ZaqarAuth.None(env("ZAQAR_PROJECT")),
    // The bed's zaqar-server is single-threaded: see ZaqarClientOptions.MaxConnections.
    MaxConnections = int.Parse(Environment.GetEnvironmentVariable("BENCH_ZAQAR_CONNECTIONS") ?? "1", inv),
});
switch (args.FirstOrDefault())
{
    case "call-latency":
        await CallLatency.RunAsync(zaqar, env("GUESTAGENT_QUEUE"), args.Length > 1 ? int.Parse(args[1], inv) : 200,
            args.Length > 2 ? int.Parse(args[2], inv) : 1);
        break;
    case "throughput":
        await Throughput.RunAsync(zaqar, env("GUESTAGENT_QUEUE"), double.Parse(args[1], inv), int.Parse(args[2], inv),
            [.. args[3].Split(',').Select(n => int.Parse(n, inv))]);
        break;
    case "recovery":
        await Recovery.RunAsync(zaqar, env("GUESTAGENT_QUEUE"), int.Parse(args[1], inv), env("BENCH_AGENT_RESTART"));
        break;
    case "idle-first-call":
        await IdleFirstCall.RunAsync(zaqar ?? throw new InvalidOperationException("idle-first-call is a Zaqar workload"), args[1], int.Parse(args[2], inv), args[3]);
        break;
    case "spawn-floor" when OperatingSystem.IsLinux():
        await SpawnFloor.RunAsync(args.Length > 1 ? int.Parse(args[1], inv) : 100);
        break;
    case "journal-floor":
        await JournalFloor.RunAsync(args.Length > 1 ? int.Parse(args[1], inv) : 300);
        break;
    case "chunk-copies":
        ChunkCopies.Run(args.Length > 1 ? int.Parse(args[1], inv) : 200);
        break;
    case "cold-start":
        await ColdStart.RunAsync(zaqar ?? throw new InvalidOperationException("cold-start is a Zaqar workload"), env("BENCH_AGENT_BIN"),
            env("ZAQAR_URL"), env("ZAQAR_PROJECT"), args.Length > 1 ? int.Parse(args[1], inv) : 10);
        break;
    case "file-throughput":
        await FileThroughput.RunAsync(zaqar ?? throw new InvalidOperationException("file-throughput is a Zaqar workload"), env("GUESTAGENT_QUEUE"), env("BENCH_FILE_ROOT"), int.Parse(env("BENCH_HTTP_PORT"), inv),
            args.Length > 1 ? int.Parse(args[1], inv) : 64, args.Length > 2 ? int.Parse(args[2], inv) : 3);
        break;
    default:
        Console.Error.WriteLine("usage: GuestAgent.Bench call-latency CALLS [RUNS] | throughput SECONDS RUNS N[,N..] | recovery CASTS"
            + " | idle-first-call PREFIX BINDINGS LABEL | file-throughput MIB RUNS | spawn-floor [N] | journal-floor [N] | chunk-copies [N] | cold-start RUNS");
        return 2;
}
return 0;
