using System.Globalization;
using Spark.Eval.Core.Metrics;
using Spectre.Console;

namespace Spark.Eval.Cli;

/// <summary>The end-of-run table: one row per backend with the figures people look at first.</summary>
public static class SummaryTable
{
    /// <summary>A console for writing tables: colours only on an interactive terminal, else plain text of the given width.</summary>
    internal static IAnsiConsole TableConsole(TextWriter writer, int plainWidth)
    {
        var interactive = ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!interactive)
        {
            console.Profile.Width = plainWidth;
        }

        return console;
    }

    public static void Write(TextWriter writer, RunSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var console = TableConsole(writer, 200);

        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("backend")
            .AddColumn(new TableColumn("ok/all").RightAligned())
            .AddColumn(new TableColumn("err %").RightAligned())
            .AddColumn(new TableColumn("TTFT p50 ms").RightAligned())
            .AddColumn(new TableColumn("TTFT p99 ms").RightAligned())
            .AddColumn(new TableColumn("ITL p50 ms").RightAligned())
            .AddColumn(new TableColumn("TPOT p50 ms").RightAligned())
            .AddColumn(new TableColumn("E2E p50 ms").RightAligned())
            .AddColumn(new TableColumn("tok/s p50").RightAligned())
            .AddColumn(new TableColumn("req/s").RightAligned())
            .AddColumn(new TableColumn("goodput").RightAligned())
            .AddColumn(new TableColumn("pass").RightAligned())
            .AddColumn(new TableColumn("in flow").RightAligned())
            .AddColumn(new TableColumn("s/pass").RightAligned());
        foreach (var b in summary.Backends)
        {
            string Stat(string metric, Func<LatencyStatistics, double> pick) =>
                b.Metrics.TryGetValue(metric, out var s) ? pick(s).ToString("0.0", CultureInfo.InvariantCulture) : "–";
            var all = b.Counts.Ok + b.Counts.Error + b.Counts.Timeout;
            table.AddRow(
                Markup.Escape(b.Backend + (b.Simulated ? " (simulated)" : "")),
                $"{b.Counts.Ok}/{all}" + (b.Counts.Cancelled > 0 ? $" +{b.Counts.Cancelled} cancelled" : ""),
                (b.ErrorRate * 100).ToString("0.0", CultureInfo.InvariantCulture),
                Stat("ttft_ms", s => s.P50),
                Stat("ttft_ms", s => s.P99),
                Stat("itl_ms", s => s.P50),
                Stat("tpot_ms", s => s.P50),
                Stat("e2e_ms", s => s.P50),
                Stat("output_tokens_per_s", s => s.P50),
                b.RequestThroughputRps.ToString("0.00", CultureInfo.InvariantCulture),
                (b.Goodput.Ratio * 100).ToString("0", CultureInfo.InvariantCulture) + "%",
                b.Grading is { } g ? (g.PassRate * 100).ToString("0", CultureInfo.InvariantCulture) + "%" : "–",
                b.Flow is { } f ? (f.InFlowRatio * 100).ToString("0", CultureInfo.InvariantCulture) + "%" : "–",
                b.Flow?.WaitPerPassSeconds is { } w ? w.ToString("0.00", CultureInfo.InvariantCulture) : "–");
        }

        console.Write(table);
        writer.WriteLine("in flow = answers complete within 1 s / all decided attempts; s/pass = total waiting / passed answers (docs/metrics.md).");
        foreach (var note in summary.Notes)
        {
            writer.WriteLine($"note: {note}");
        }
    }
}
