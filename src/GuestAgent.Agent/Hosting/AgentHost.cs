using System.Runtime.InteropServices;
using Akka.Hosting;
using Akka.Logger.Serilog;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Diagnosis;
using GuestAgent.Agent.Metrics;
using GuestAgent.Agent.Platform;
using GuestAgent.Agent.Tenancy;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Serilog.Events;

namespace GuestAgent.Agent.Hosting;

/// <summary>Builds and runs the guest-agent daemon.</summary>
public static class AgentHost
{
    private const string Usage = "usage: guest-agent [--config FILE] [--check-config] [--version]\n" +
                                 "       guest-agent doctor [--config FILE]\n" +
                                 "  --config FILE   HOCON merged over the built-in reference (hocon/guest-agent.conf)\n" +
                                 "  --check-config  read the configuration as a start would, say what is wrong (exit 78) or that it is fine (exit 0), and exit\n" +
                                 "  doctor          check every binding: endpoint reachable, credentials accepted, reply queue, clock skew;\n" +
                                 "                  one line per check with what to do; exit 0 when none failed, 1 when one did, 78 on a configuration error";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length > 0 && args[0] == Platform.Windows.RunSupervisor.Flag)
        {
            // Not for people: the Windows platform starts the agent's executable this way as the supervisor of one exec run.
            return await Platform.Windows.RunSupervisor.RunAsync(args[1..]);
        }
        string? configFile = null;
        var checkOnly = false;
        var doctor = args.Length > 0 && args[0] == "doctor";
        for (var i = doctor ? 1 : 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--config" when i + 1 < args.Length:
                    configFile = args[++i];
                    break;
                case "--check-config":
                    checkOnly = true;
                    break;
                case "--version":
                    Console.WriteLine($"guest-agent {AgentInfo.Version}");
                    return 0;
                case "-h" or "--help":
                    Console.WriteLine(Usage);
                    return 0;
                default:
                    Console.Error.WriteLine($"guest-agent: unknown argument '{args[i]}'\n{Usage}");
                    return 2;
            }
        }

        if (GuestPlatform.OfThisMachine() is not { } platform)
        {
            Console.Error.WriteLine($"guest-agent: this agent supports Linux and Windows guests only, and this is {RuntimeInformation.OSDescription} " +
                                    "(docs/architecture.md, Platforms)");
            return 69; // EX_UNAVAILABLE
        }

        AgentSettings settings;
        var journalCreated = false;
        try
        {
            settings = AgentSettings.Load(configFile, platform: platform);
            if (checkOnly)
            {
                // Nothing is created or changed: the state directory may not exist yet (a package's
                // postinst checks the configuration before the first start).
                Console.WriteLine($"guest-agent: configuration {ConfigName(configFile)} is valid: " +
                                  $"{settings.Tenants.Count} tenant binding(s), state in {settings.StateDir}, journal {settings.Journal.Provider}");
                return 0;
            }
            if (!doctor)
            {
                Directory.CreateDirectory(settings.StateDir);
                journalCreated = JournalConfig.Prepare(settings.Journal);
            }
        }
        catch (Exception ex) when (ex is ConfigException or Akka.Configuration.ConfigurationException or IOException or UnauthorizedAccessException or FormatException)
        {
            if (doctor)
            {
                Console.WriteLine($"FAIL  configuration: {ex.Message}. Fix: correct what it names (guest-agent --check-config says the same); no binding was checked");
            }
            else
            {
                Console.Error.WriteLine($"guest-agent: configuration error: {ex.Message}");
            }
            return 78; // EX_CONFIG
        }

        if (doctor)
        {
            // Creates nothing either: the doctor is for a guest whose agent does not start or does not answer.
            return await Doctor.RunAsync(settings, ConfigName(configFile), Console.Out, TimeProvider.System, CancellationToken.None);
        }

        Log.Logger = BuildLogger(settings);
        PrometheusEndpoint? prometheus = null;
        try
        {
            Log.Information("guest-agent {Version} starting as {Agent}: {Tenants} tenant binding(s), state in {StateDir}, journal {Journal}",
                AgentInfo.Version, settings.Name, settings.Tenants.Count, settings.StateDir, settings.Journal.Provider);
            // Empty: the agent reads none of the default builder's sources (appsettings files, user
            // secrets, environment and command line as host configuration) and logs through Serilog
            // only; the defaults cost a dozen assemblies and a file watcher at every start.
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
            // Each is a no-op unless the agent runs under it: a systemd unit, a Windows service (whose stop is then the graceful stop below).
            builder.Services.AddSystemd();
            builder.Services.AddWindowsService(o => o.ServiceName = "guest-agent");
            builder.Services.AddSerilog();
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownGrace + TimeSpan.FromSeconds(5));
            var lifetime = new AgentLifetime(settings.MaxOperations) { JournalCreated = journalCreated };
            if (settings.PrometheusListen is { } listen)
            {
                try
                {
                    prometheus = PrometheusEndpoint.Start(listen, lifetime.Metrics);
                    Log.Information("metrics: Prometheus text at {Url}", prometheus.Url);
                }
                catch (System.Net.HttpListenerException e)
                {
                    // Commands matter more than their figures: run on without the endpoint.
                    Log.Error("metrics: cannot listen on {Listen} ({Error}); the agent runs without its Prometheus endpoint", listen, e.Message);
                }
            }
            var drainTimeout = (int)Math.Ceiling((settings.ShutdownGrace + TimeSpan.FromSeconds(5)).TotalSeconds);
            builder.Services.AddAkka("guest-agent", akka =>
            {
                akka.AddHocon(JournalConfig.Hocon(settings.Journal), HoconAddMode.Prepend)
                    .AddHocon("akka.coordinated-shutdown.exit-clr = false", HoconAddMode.Prepend)
                    // Akka's own scheduler wakes every tick even with nothing due, and each tick wakes a
                    // pool thread (at its 10 ms most of an idle agent's CPU; at 1 s still a wake-up a
                    // second, and every timer rounded up to the second): this one wakes when something is due.
                    .AddHocon(DueTimeScheduler.Hocon, HoconAddMode.Prepend)
                    .AddHocon($"akka.coordinated-shutdown.phases.before-service-unbind.timeout = {drainTimeout}s", HoconAddMode.Prepend)
                    .ConfigureLoggers(l =>
                    {
                        l.LogLevel = Akka.Event.LogLevel.InfoLevel;
                        l.ClearLoggers();
                        l.AddLogger<SerilogLogger>();
                    })
                    .WithActors((system, registry) =>
                    {
                        var agent = system.ActorOf(AgentSupervisor.Props(settings, lifetime, platform, TimeProvider.System), "agent");
                        registry.Register<AgentSupervisor>(agent);
                        // SIGTERM: claim nothing new and give running operations the grace to finish
                        // (their final replies go out). After it, exec runs go on under their supervisors
                        // and the next start reattaches them; other operations are interrupted.
                        Akka.Actor.CoordinatedShutdown.Get(system).AddTask(Akka.Actor.CoordinatedShutdown.PhaseBeforeServiceUnbind, "drain-operations", async () =>
                        {
                            Log.Information("stopping: no new claims; {Running} operation(s) get up to {Grace} to finish",
                                lifetime.GlobalSlots.Used, settings.ShutdownGrace);
                            var drained = await lifetime.DrainAsync(settings.ShutdownGrace, TimeProvider.System);
                            if (drained)
                            {
                                // Let the outbox post the last final replies; anything left is reposted at the next start.
                                await Task.Delay(TimeSpan.FromSeconds(1));
                            }
                            Log.Information(drained ? "all operations finished"
                                : "grace over: {Running} operation(s) still running; exec runs go on without the agent and are reattached at its next start, others are interrupted",
                                lifetime.GlobalSlots.Used);
                            return Akka.Done.Instance;
                        });
                    });
            });
            await builder.Build().RunAsync();
            Log.Information("guest-agent stopped");
            return 0;
        }
        catch (Exception ex)
        {
            Log.Fatal(ex, "guest-agent failed");
            return 1;
        }
        finally
        {
            prometheus?.Dispose();
            await Log.CloseAndFlushAsync();
        }
    }

    private static string ConfigName(string? configFile) => configFile ?? "(built-in reference)";

    /// <summary>The one platform the agent uses, chosen here and passed down; null on an OS it has no implementation for.</summary>

    private static Serilog.ILogger BuildLogger(AgentSettings settings)
    {
        var level = Enum.TryParse<LogEventLevel>(settings.LogLevel, ignoreCase: true, out var l) ? l : LogEventLevel.Information;
        const string template = "[{Timestamp:yyyy-MM-dd HH:mm:ss.fff} {Level:u3}] {Tenant} {CommandId} {SourceContext}: {Message:lj}{NewLine}{Exception}";
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .WriteTo.Console(outputTemplate: template, standardErrorFromLevel: LogEventLevel.Verbose);
        if (settings.LogToFile)
        {
            config = config.WriteTo.File(Path.Combine(settings.StateDir, "logs", "guest-agent-.log"), outputTemplate: template,
                rollingInterval: RollingInterval.Day, retainedFileCountLimit: 14, fileSizeLimitBytes: 50 * 1024 * 1024, rollOnFileSizeLimit: true);
        }
        return config.CreateLogger();
    }
}
