using System.Globalization;
using GuestAgent.Client.Files;
using Spectre.Console;

namespace GuestAgent.Cli.Commands;

/// <summary>
/// How `guestctl cp` shows progress on stderr: a live Spectre.Console bar when stderr is a terminal,
/// plain lines about once a second otherwise (logs and CI keep a readable record), or nothing
/// with --quiet. stdout stays empty either way, so cp composes in scripts.
/// </summary>
internal abstract class TransferDisplay
{
    public static Task<T> RunAsync<T>(bool quiet, Func<TransferDisplay, Task<T>> body)
    {
        if (quiet)
        {
            return body(new Silent());
        }
        if (Console.IsErrorRedirected)
        {
            return body(new Plain());
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(
                new TaskDescriptionColumn(),
                new ProgressBarColumn(),
                new PercentageColumn(),
                new DownloadedColumn { Culture = CultureInfo.InvariantCulture },
                new TransferSpeedColumn { Culture = CultureInfo.InvariantCulture },
                new RemainingTimeColumn())
            .StartAsync(ctx => body(new Live(ctx)));
    }

    /// <summary>
    /// A progress sink for one phase (hashing, then sending): a bar labelled <paramref name="barLabel"/>,
    /// or plain lines that name <paramref name="lineLabel"/> after "cp:" (null for the transfer itself).
    /// </summary>
    public abstract IProgress<FileTransferProgress>? Phase(string? lineLabel, string barLabel);

    /// <summary>"12.0 MiB": binary units, one decimal, invariant culture.</summary>
    public static string Bytes(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        var unit = 0;
        while (bytes >= 1024 && unit < units.Length - 1)
        {
            bytes /= 1024;
            unit++;
        }
        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes:0} B")
            : string.Create(CultureInfo.InvariantCulture, $"{bytes:0.0} {units[unit]}");
    }

    /// <summary>"16 s", "3 min 20 s", "1 h 05 min"; <paramref name="precise"/> gives "1.4 s" below 10 s (a summary, not an estimate).</summary>
    public static string Duration(TimeSpan t, bool precise = false) =>
        precise && t.TotalSeconds < 10 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.0} s")
        : t.TotalSeconds < 60 ? string.Create(CultureInfo.InvariantCulture, $"{Math.Ceiling(t.TotalSeconds):0} s")
        : t.TotalHours < 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalMinutes} min {t.Seconds:00} s")
        : string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours} h {t.Minutes:00} min");

    /// <summary>"cp: 12.0 MiB / 64.0 MiB (18%), 3.2 MiB/s, ETA 16 s" (the label, when given, after "cp:").</summary>
    public static string Line(string? label, FileTransferProgress p)
    {
        var head = label is null ? "cp:" : $"cp: {label}";
        var total = (p.TotalKnown ? "" : "~") + Bytes(p.TotalBytes);
        var line = string.Create(CultureInfo.InvariantCulture, $"{head} {Bytes(p.BytesDone)} / {total} ({Math.Floor(p.Fraction * 100):0}%)");
        // A rate from the first second or two (one small chunk, a probe) says little and predicts hours.
        if (p.BytesPerSecond is { } rate && p.Elapsed >= TimeSpan.FromSeconds(2))
        {
            line += $", {Bytes(rate)}/s";
            if (p.Remaining is { } left)
            {
                line += $", ETA {Duration(left)}";
            }
        }
        return line;
    }

    private sealed class Silent : TransferDisplay
    {
        public override IProgress<FileTransferProgress>? Phase(string? lineLabel, string barLabel) => null;
    }

    private sealed class Plain : TransferDisplay
    {
        public override IProgress<FileTransferProgress> Phase(string? lineLabel, string barLabel) => new Throttled(lineLabel);

        /// <summary>Writes a line at most once a second; the last report of a phase is left to the summary.</summary>
        private sealed class Throttled(string? label) : IProgress<FileTransferProgress>
        {
            private readonly Lock _lock = new();
            private TimeSpan _last;

            public void Report(FileTransferProgress value)
            {
                lock (_lock)
                {
                    if (value.Elapsed - _last < TimeSpan.FromSeconds(1) || value.BytesDone >= value.TotalBytes)
                    {
                        return;
                    }
                    _last = value.Elapsed;
                    Console.Error.WriteLine(Line(label, value));
                }
            }
        }
    }

    private sealed class Live(ProgressContext ctx) : TransferDisplay
    {
        public override IProgress<FileTransferProgress> Phase(string? lineLabel, string barLabel) =>
            new Bar(ctx.AddTask(Markup.Escape(barLabel.Length > 32 ? barLabel[..31] + "…" : barLabel), maxValue: 1));

        private sealed class Bar(ProgressTask task) : IProgress<FileTransferProgress>
        {
            public void Report(FileTransferProgress value)
            {
                // A download's size is unknown until its first chunk: no bar to fill yet.
                task.IsIndeterminate = !value.TotalKnown && value.TotalBytes <= value.BytesDone;
                if (task.IsIndeterminate)
                {
                    return;
                }
                // An empty file is done at once; a bar of 0 bytes would never show it.
                task.MaxValue = Math.Max(1, value.TotalBytes);
                task.Value = value.TotalBytes == 0 ? 1 : value.BytesDone;
            }
        }
    }
}
