using System.Globalization;
using GuestAgent.Soak;

// GuestAgent.Soak [--duration 30m] [--commands N] [--rate R] [--seed N] [--short] [--faults a,b,...]
//                 [--work DIR] [--json FILE]
// Run by tools/soak/soak.sh, which builds the agent first. Exit code 0: nothing lost, no
// unexplained duplicate; 1: the accounting found a problem; 2: bad arguments.
var duration = TimeSpan.FromMinutes(5);
int? commands = null;
double? rate = null;
var seed = 1;
var isShort = false;
string? faultList = null;
string? work = null;
string? json = null;
try
{
    for (var i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--duration": duration = ParseDuration(Value()); break;
            case "--commands": commands = int.Parse(Value(), CultureInfo.InvariantCulture); break;
            case "--rate": rate = double.Parse(Value(), CultureInfo.InvariantCulture); break;
            case "--seed": seed = int.Parse(Value(), CultureInfo.InvariantCulture); break;
            case "--short": isShort = true; break;
            case "--faults": faultList = Value(); break;
            case "--work": work = Value(); break;
            case "--json": json = Value(); break;
            case "-h" or "--help":
                Console.WriteLine("usage: GuestAgent.Soak [--duration 30m] [--commands N] [--rate R] [--seed N] [--short] " +
                    "[--faults agent-kill,zaqar-restart,redis-restart,agent-pause,disk-full,agent-stop|none] [--work DIR] [--json FILE]");
                return 0;
            default: throw new ArgumentException($"unknown argument {args[i]}");
        }
    }
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"soak: {e.Message}");
    return 2;
}

work ??= Path.Combine(Path.GetTempPath(), $"guestagent-soak-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
var options = isShort ? SoakOptions.Short(work, seed) : new SoakOptions { WorkDir = work, Seed = seed, Duration = duration };
options = options with
{
    MaxCommands = commands,
    Rate = rate ?? options.Rate,
    JsonPath = json,
    Log = line => Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}"),
};
if (faultList is not null)
{
    options = options with
    {
        Faults = faultList == "none" ? [] : faultList.Split(',').Select(f => Enum.Parse<FaultKind>(f.Replace("-", ""), ignoreCase: true)).ToList(),
    };
}
if (!isShort && duration != options.Duration)
{
    options = options with { Duration = duration };
}

var report = await SoakRunner.RunAsync(options);
Console.WriteLine();
Console.Write(report.ToText());
if (json is not null)
{
    await File.WriteAllTextAsync(json, report.ToJson());
    Console.WriteLine($"accounting as JSON: {json}");
}
Console.WriteLine($"work directory (markers, files, bed logs): {work}");
return report.Passed ? 0 : 1;

static TimeSpan ParseDuration(string s)
{
    var unit = s[^1];
    var number = double.Parse(char.IsDigit(unit) ? s : s[..^1], CultureInfo.InvariantCulture);
    return unit switch
    {
        'h' => TimeSpan.FromHours(number),
        'm' => TimeSpan.FromMinutes(number),
        's' or (>= '0' and <= '9') => TimeSpan.FromSeconds(number),
        _ => throw new FormatException($"duration '{s}': use e.g. 90s, 30m, 1h"),
    };
}
