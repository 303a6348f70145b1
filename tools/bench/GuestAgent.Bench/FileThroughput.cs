using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using GuestAgent.Client;
using GuestAgent.Client.Files;
using GuestAgent.Protocol;
using GuestAgent.Zaqar;

namespace GuestAgent.Bench;

/// <summary>
/// File transfer throughput in MiB/s of file bytes, all in one run on the same Zaqar: the raw
/// Zaqar payload rate (chunk-sized messages posted, claimed and deleted, no agent), a put and a
/// get through the queue (SDK ⇄ agent), and the URL mode both ways against an HTTP server in
/// this process on 127.0.0.1 (the agent downloads from it and uploads to it).
/// </summary>
public static class FileThroughput
{
    private const double MiB = 1024 * 1024;

    public static async Task RunAsync(ZaqarClient zaqar, string agentQueue, string fileRoot, int httpPort, int mib, int runs)
    {
        var size = mib * 1024L * 1024;
        var work = Directory.CreateTempSubdirectory("ga-bench-files-").FullName;
        var local = Path.Combine(work, "source.bin");
        await File.WriteAllBytesAsync(local, RandomNumberGenerator.GetBytes((int)size));
        var sha = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(local)));
        using var server = new BenchHttpServer(httpPort, local);
        await using var guest = Controllers.Guest(zaqar, agentQueue, "bench-file-replies-" + Guid.NewGuid().ToString("N")[..8]);

        var figures = new Dictionary<string, List<double>>();
        void AddRate(string name, double mibPerSecond)
        {
            (figures.TryGetValue(name, out var l) ? l : figures[name] = []).Add(mibPerSecond);
            Results.Emit("file", name.StartsWith("raw", StringComparison.Ordinal) ? "floor" : "guest-agent", $"{mib} MiB: {name}", "MiB/s", mibPerSecond);
        }
        void Add(string name, double seconds) => AddRate(name, size / MiB / seconds);
        // CPU per MiB moved, of the agent (BENCH_AGENT_PIDFILE) and of this process (the controller's SDK).
        var agentPid = ProcSample.AgentPid();
        var cpu = new Dictionary<string, List<(double Agent, double Controller)>>();
        (ProcSample? Agent, ProcSample? Self) CpuNow() => (agentPid is { } a ? ProcSample.Read(a) : null, ProcSample.Read(Environment.ProcessId));
        void AddCpu(string name, (ProcSample? Agent, ProcSample? Self) before)
        {
            var (agent, self) = CpuNow();
            var perMiB = (double? a, double? b) => a is { } x && b is { } y ? (x - y) * 1000 / mib : double.NaN;
            (cpu.TryGetValue(name, out var l) ? l : cpu[name] = []).Add(
                (perMiB(agent?.CpuSeconds, before.Agent?.CpuSeconds), perMiB(self?.CpuSeconds, before.Self?.CpuSeconds)));
        }

        // The whole machine's CPU (every core, /proc/stat) per MiB and its idle share: whether a transfer waited or was short of CPU.
        var machine = new Dictionary<string, List<(double BusyMsPerMiB, double IdleShare)>>();
        void AddMachine(string name, MachineSample? before)
        {
            if (before is { } b && MachineSample.Read() is { } a)
            {
                var total = a.Total - b.Total;
                (machine.TryGetValue(name, out var l) ? l : machine[name] = []).Add(
                    ((total - (a.Idle - b.Idle)) * 10.0 / mib, total > 0 ? (a.Idle - b.Idle) / total : double.NaN));
            }
        }

        // Warm-up, not counted: the first transfer of a process compiles its path (the controller's
        // JIT build spent 45-62 ms of CPU per MiB on its first 64 MiB put against 10-15 after), and
        // a controller or an agent that moves files has done it before.
        Console.Error.WriteLine("warm-up: 4 MiB raw, put and get, not counted ...");
        var warm = Path.Combine(work, "warm.bin");
        await File.WriteAllBytesAsync(warm, RandomNumberGenerator.GetBytes(4 << 20));
        await RawPayloadRate.MeasureMiBPerSecondAsync(zaqar, 4 << 20, Window);
        await guest.PutFileAsync(warm, Path.Combine(fileRoot, "warm.bin"), PutOptions);
        await guest.GetFileAsync(Path.Combine(fileRoot, "warm.bin"), warm + ".back");
        File.Delete(Path.Combine(fileRoot, "warm.bin"));

        for (var run = 1; run <= runs; run++)
        {
            Console.Error.WriteLine($"run {run}/{runs}: raw Zaqar payload rate ...");
            var machineBefore = MachineSample.Read();
            AddRate($"raw Zaqar post+claim+delete, window {Window}", await RawPayloadRate.MeasureMiBPerSecondAsync(zaqar, size, Window));
            AddMachine("raw", machineBefore);
            Console.Error.WriteLine($"run {run}/{runs}: a put's request pattern without the agent ...");
            machineBefore = MachineSample.Read();
            AddRate($"raw put round trips (chunk, reply), window {Window}", await RawPayloadRate.MeasureRoundTripFloorMiBPerSecondAsync(zaqar, size, Window));
            AddMachine("raw put round trips", machineBefore);

            Console.Error.WriteLine($"run {run}/{runs}: put through the queue ...");
            var target = Path.Combine(fileRoot, $"put-{run}.bin");
            // Not counted: the raw phases left the agent idle long enough to poll at its idle
            // maximum (poll.max-interval, 5 s) and this controller at its own (1 s); the first
            // command after an idle spell has its own rows. The rate is the transfer's.
            await guest.PingAsync();
            var cpuBefore = CpuNow();
            machineBefore = MachineSample.Read();
            var sw = Stopwatch.StartNew();
            var put = await guest.PutFileAsync(local, target, PutOptions);
            Add($"put through the queue (SDK, window {Window})", sw.Elapsed.TotalSeconds);
            AddCpu("put", cpuBefore);
            AddMachine("put", machineBefore);
            Check(put.Sha256 == sha, "put checksum");

            Console.Error.WriteLine($"run {run}/{runs}: get through the queue ...");
            var back = Path.Combine(work, $"get-{run}.bin");
            await guest.PingAsync();
            cpuBefore = CpuNow();
            sw.Restart();
            var got = await guest.GetFileAsync(target, back);
            Add("get through the queue (SDK)", sw.Elapsed.TotalSeconds);
            AddCpu("get", cpuBefore);
            Check(got.Sha256 == sha, "get checksum");

            Console.Error.WriteLine($"run {run}/{runs}: URL download ...");
            sw.Restart();
            var down = await guest.PutFileFromUrlAsync(new FilePutUrlArgs
            {
                Path = Path.Combine(fileRoot, $"url-{run}.bin"),
                Size = size,
                Sha256 = sha,
                Url = $"http://127.0.0.1:{httpPort}/source.bin",
            });
            Add("URL mode: agent downloads (HTTP GET, loopback)", sw.Elapsed.TotalSeconds);
            Check(down.Sha256 == sha, "download checksum");

            Console.Error.WriteLine($"run {run}/{runs}: URL upload ...");
            sw.Restart();
            var up = await guest.GetFileToUrlAsync(new FileGetArgs { Path = target, UploadUrl = $"http://127.0.0.1:{httpPort}/upload-{run}" });
            Add("URL mode: agent uploads (HTTP PUT, loopback)", sw.Elapsed.TotalSeconds);
            Check(up.Sha256 == sha && server.LastUploadSha256 == sha, "upload checksum");

            foreach (var f in Directory.GetFiles(fileRoot))
            {
                File.Delete(f);
            }
            File.Delete(back);
        }

        Console.WriteLine($"file: {mib} MiB of random bytes; {runs} run(s); MiB/s of file bytes, median (min .. max)");
        foreach (var (name, values) in figures)
        {
            values.Sort();
            Console.WriteLine($"  {name,-50} {values[values.Count / 2],8:F2}  ({values[0]:F2} .. {values[^1]:F2})");
        }
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        foreach (var (name, values) in cpu.Where(c => c.Value.Any(v => !double.IsNaN(v.Agent))))
        {
            Console.WriteLine($"  CPU per MiB during {name}: agent {string.Join(" / ", values.Select(v => v.Agent.ToString("F1", inv)))} ms, " +
                              $"controller {string.Join(" / ", values.Select(v => v.Controller.ToString("F1", inv)))} ms (each run)");
        }
        foreach (var (name, values) in machine)
        {
            Console.WriteLine($"  machine during {name}: {string.Join(" / ", values.Select(v => v.BusyMsPerMiB.ToString("F1", inv)))} ms of CPU per MiB, " +
                              $"{string.Join(" / ", values.Select(v => (v.IdleShare * 100).ToString("F0", inv)))} % idle ({Environment.ProcessorCount} cores; each run)");
        }
        Directory.Delete(work, true);
    }

    /// <summary>The machine's CPU time in USER_HZ ticks (100 a second): all of it, and the idle (and I/O wait) part.</summary>
    private readonly record struct MachineSample(double Total, double Idle)
    {
        public static MachineSample? Read()
        {
            try
            {
                var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]
                    .Take(8).Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                return new MachineSample(f.Sum(), f[3] + f[4]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                return null;
            }
        }
    }

    /// <summary>Chunks in flight, for the put and for the raw rate alike: the SDK's default unless BENCH_PUT_WINDOW says.</summary>
    private static readonly int Window = int.TryParse(Environment.GetEnvironmentVariable("BENCH_PUT_WINDOW"), out var w) ? w : FilePutOptions.DefaultWindow;

    private static FilePutOptions PutOptions => new() { Window = Window };

    private static void Check(bool ok, string what)
    {
        if (!ok)
        {
            throw new InvalidOperationException($"{what} does not match: the benchmark's transfer is wrong");
        }
    }

    /// <summary>Serves one file on GET and hashes (then drops) whatever is PUT.</summary>
    private sealed class BenchHttpServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly string _file;

        public BenchHttpServer(int port, string file)
        {
            _file = file;
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _ = Task.Run(LoopAsync);
        }

        public string? LastUploadSha256 { get; private set; }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                try
                {
                    if (ctx.Request.HttpMethod == "GET")
                    {
                        await using var f = File.OpenRead(_file);
                        ctx.Response.ContentLength64 = f.Length;
                        await f.CopyToAsync(ctx.Response.OutputStream);
                    }
                    else
                    {
                        LastUploadSha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(ctx.Request.InputStream));
                        ctx.Response.StatusCode = 201;
                    }
                }
                finally
                {
                    ctx.Response.Close();
                }
            }
        }

        public void Dispose() => _listener.Close();
    }
}
