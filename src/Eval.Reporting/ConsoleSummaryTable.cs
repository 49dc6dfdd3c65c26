using System.Globalization;
using System.Text;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>
/// The end-of-run table for a terminal: plain text that fits <see cref="DefaultWidth"/> columns with the key figures
/// (backend, what its figures are, ok/all, TTFT p50/p99, TPOT p50, E2E p50, pass, in flow; goodput when an SLO is
/// set), every other figure with <c>--wide</c>, then the notes and the verdict.
/// </summary>
public static class ConsoleSummaryTable
{
    public const int DefaultWidth = 100;

    private sealed record Column(string Header, bool Left, bool Wide, Func<BackendSummary, string> Cell);

    /// <summary>Writes the table, its legend and the verdict lines.</summary>
    public static void Write(TextWriter writer, RunSummary summary, RunManifest? manifest = null, bool wide = false, int width = DefaultWidth)
    {
        ArgumentNullException.ThrowIfNull(writer);
        foreach (var line in Lines(summary, manifest, wide, width))
        {
            writer.WriteLine(line);
        }
    }

    /// <summary>The lines <see cref="Write"/> prints; without <paramref name="wide"/> none is longer than <paramref name="width"/>.</summary>
    public static IReadOnlyList<string> Lines(RunSummary summary, RunManifest? manifest = null, bool wide = false, int width = DefaultWidth)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var slo = manifest?.Plan.Slo ?? (summary.Backends.Count > 0 ? summary.Backends[0].Goodput.Slo : new SloSpec());
        var anyUngraded = summary.Backends.Any(b => b.Grading is { Ungraded: > 0 });
        List<Column> all =
        [
            new("kind", true, false, b => BackendLabels.Tag(BackendLabels.Nature(b, manifest))),
            new("ok/all", false, false, b => $"{b.Counts.Ok}/{b.Counts.Ok + b.Counts.Error + b.Counts.Timeout}" + (b.Counts.Cancelled > 0 ? $"+{b.Counts.Cancelled}c" : "")),
            new("err %", false, true, b => (b.ErrorRate * 100).ToString("0.0", CultureInfo.InvariantCulture)),
            new("TTFT p50", false, false, b => Stat(b, "ttft_ms", s => s.P50)),
            new("TTFT p99", false, false, b => Stat(b, "ttft_ms", s => s.P99)),
            new("ITL p50", false, true, b => Stat(b, "itl_ms", s => s.P50)),
            new("TPOT p50", false, false, b => Stat(b, "tpot_ms", s => s.P50)),
            new("E2E p50", false, false, b => Stat(b, "e2e_ms", s => s.P50)),
            new("tok/s p50", false, true, b => Stat(b, "output_tokens_per_s", s => s.P50)),
            new("req/s†", false, true, b => b.RequestThroughputRps.ToString("0.00", CultureInfo.InvariantCulture)),
            new("goodput", false, !slo.IsSet, b => b.Goodput.SloSet ? Pct(b.Goodput.Ratio) : "–"),
            new("pass", false, false, b => Pass(b.Grading)),
            new("pass 95% CI", false, true, b => b.Grading is { Graded: > 0 } g ? Ci(g) : "–"),
            new("ungraded", false, true, b => b.Grading is { } g ? g.Ungraded.ToString(CultureInfo.InvariantCulture) : "–"),
            new("in flow", false, false, b => b.Flow is { } f ? Pct(f.InFlowRatio) : "–"),
            new("s/pass", false, true, b => b.Flow?.WaitPerPassSeconds is { } w ? w.ToString("0.00", CultureInfo.InvariantCulture) : "–"),
        ];
        var columns = all.Where(c => wide || !c.Wide).ToList();
        var cells = summary.Backends.Select(b => columns.Select(c => c.Cell(b)).ToArray()).ToList();
        var widths = columns.Select((c, i) => cells.Select(r => r[i].Length).Append(c.Header.Length).Max()).ToArray();
        const string Gap = "  ";
        var rest = widths.Sum() + (Gap.Length * columns.Count);
        var longest = summary.Backends.Select(b => b.Backend.Length).Append("backend".Length).Max();
        var nameWidth = wide ? longest : Math.Max("backend".Length, Math.Min(longest, width - rest));

        var lines = new List<string> { Row("backend", columns.Select(c => c.Header).ToArray()) };
        lines.Add(new string('-', lines[0].Length));
        for (var i = 0; i < summary.Backends.Count; i++)
        {
            lines.Add(Row(Fit(summary.Backends[i].Backend, nameWidth), cells[i]));
        }

        lines.Add("");
        var legend = new List<string>
        {
            "times in ms over ok measured attempts; kind: real = measured, sim = SIMULATED (modelled timings),",
            $"rand-w = {BackendLabels.RandomWeightsText}; pass = passed / graded;",
            "in flow = whole answer within 1 s / decided attempts (docs/metrics.md).",
        };
        legend.Add(slo.IsSet
            ? $"goodput = ok attempts meeting the SLO ({SloSyntax.Describe(slo)}) / decided attempts."
            : "goodput: no SLO set, so none (set one with --slo ttft_ms=500,tpot_ms=50).");
        if (anyUngraded)
        {
            var ungraded = summary.Backends.Sum(b => b.Grading?.Ungraded ?? 0);
            legend.Add($"* pass leaves out {ungraded} ungraded answer(s): the sandbox refused them (install bubblewrap, then spark-eval grade).");
        }

        if (wide)
        {
            legend.Add("† req/s = ok attempts / run duration; backends share one closed loop, so this is not a capacity figure.");
        }
        else
        {
            legend.Add("more columns (ITL, tok/s, req/s, CI, s/pass): --wide, summary.csv and report.html.");
        }

        foreach (var text in legend)
        {
            Wrap(text, width, lines);
        }

        if (summary.Backends.Any(b => b.Simulated))
        {
            Wrap("SIMULATED backends (kind sim) report modelled timings and modelled answer quality, not measurements.", width, lines);
        }

        foreach (var line in RunVerdict.Decide(summary, manifest).Lines(width))
        {
            lines.Add(line);
        }

        return lines;

        string Row(string name, string[] values)
        {
            var sb = new StringBuilder(name.PadRight(nameWidth));
            for (var i = 0; i < values.Length; i++)
            {
                sb.Append(Gap).Append(columns[i].Left ? values[i].PadRight(widths[i]) : values[i].PadLeft(widths[i]));
            }

            return sb.ToString().TrimEnd();
        }
    }

    private static string Stat(BackendSummary b, string metric, Func<LatencyStatistics, double> pick) =>
        b.Metrics.TryGetValue(metric, out var s) ? pick(s).ToString("0.0", CultureInfo.InvariantCulture) : "–";

    private static string Pct(double ratio) => (ratio * 100).ToString("0", CultureInfo.InvariantCulture) + "%";

    private static string Pass(GradingSummary? g) => g switch
    {
        null => "–",
        { Graded: 0 } => "–*",
        _ => Pct(g.PassRate) + (g.Ungraded > 0 ? "*" : ""),
    };

    private static string Ci(GradingSummary g)
    {
        var (low, high) = ProportionInterval.Wilson95(g.Passed, g.Graded);
        return string.Create(CultureInfo.InvariantCulture, $"[{low * 100:0}, {high * 100:0}]");
    }

    private static string Fit(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";

    /// <summary>Wraps <paramref name="text"/> at spaces to <paramref name="width"/>, continuation lines indented by <paramref name="indent"/>.</summary>
    internal static void Wrap(string text, int width, List<string> lines, string indent = "  ")
    {
        var line = "";
        // A unit stays with its number: "33 %" is never split across lines.
        var words = new List<string>();
        foreach (var word in text.Split(' '))
        {
            if (words.Count > 0 && word.StartsWith('%'))
            {
                words[^1] += " " + word;
            }
            else
            {
                words.Add(word);
            }
        }

        foreach (var word in words)
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                lines.Add(line);
                line = indent + word;
            }
            else
            {
                line = line.Length == 0 ? word : line + " " + word;
            }
        }

        if (line.Length > 0)
        {
            lines.Add(line);
        }
    }
}
