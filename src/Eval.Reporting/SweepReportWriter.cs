using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using ScottPlot;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;

namespace Spark.Eval.Reporting;

/// <summary>
/// Writes a sweep's files into its directory: sweep.json, sweep.csv, sweep.md, and sweep.html with the latency-vs-load and
/// throughput-vs-load charts (ScottPlot, through <see cref="ReportPlots.Write"/>, as PNG and SVG under plots/).
/// </summary>
public static class SweepReportWriter
{
    public const string CsvFile = "sweep.csv";
    public const string MarkdownFile = "sweep.md";
    public const string HtmlFile = "sweep.html";

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Writes every file (each atomically) and returns their paths.</summary>
    public static IReadOnlyList<string> WriteAll(SweepReport report, string directory)
    {
        ArgumentNullException.ThrowIfNull(report);
        var plots = ReportPlots.Write(Plots(report), Path.Combine(directory, "plots"));
        var files = new (string Name, string Text)[]
        {
            (SweepReport.FileName, JsonSerializer.Serialize(report, CoreIndentedJsonContext.Default.SweepReport) + "\n"),
            (CsvFile, RenderCsv(report)),
            (MarkdownFile, RenderMarkdown(report)),
            (HtmlFile, RenderHtml(report, plots)),
        };
        var written = new List<string>();
        foreach (var (name, text) in files)
        {
            var path = Path.Combine(directory, name);
            RunDirectory.WriteAtomic(path, new UTF8Encoding(false).GetBytes(text));
            written.Add(path);
        }

        return written;
    }

    public static string RenderCsv(SweepReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        sb.Append(C, $"backend,simulated,{report.Key},step,measured,ok,error_rate,request_throughput_rps,output_token_throughput_tps,ttft_mean_ms,ttft_p50_ms,ttft_p99_ms,tpot_mean_ms,tpot_p50_ms,tpot_p99_ms,itl_p50_ms,itl_p99_ms,e2e_p50_ms,e2e_p99_ms,mean_input_tokens,mean_output_tokens,meets_slo\n");
        foreach (var p in report.Points)
        {
            sb.Append(C, $"{Q(p.Backend)},{B(p.Simulated)},{p.Load},{p.Step},{p.Measured},{p.Ok},{p.ErrorRate:0.####},{p.RequestThroughputRps:0.####},{p.OutputTokenThroughputTps:0.##},{N(p.TtftMeanMs)},{N(p.TtftP50Ms)},{N(p.TtftP99Ms)},{N(p.TpotMeanMs)},{N(p.TpotP50Ms)},{N(p.TpotP99Ms)},{N(p.ItlP50Ms)},{N(p.ItlP99Ms)},{N(p.E2eP50Ms)},{N(p.E2eP99Ms)},{N(p.MeanInputTokens)},{N(p.MeanOutputTokens)},{(p.MeetsSlo is { } m ? B(m) : "")}\n");
        }

        return sb.ToString();
    }

    /// <summary>The table a console or a Markdown page shows: one row per backend and load.</summary>
    public static string RenderTable(SweepReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var load = report.Key == "concurrency" ? "conc" : "req/s";
        var sb = new StringBuilder();
        sb.Append(C, $"{"backend",-24} {load,7} {"ok",5} {"err",6} {"TTFT p50",9} {"TTFT p99",9} {"TPOT p50",9} {"TPOT p99",9} {"req/s",7} {"tok/s",8}  SLO\n");
        foreach (var p in report.Points)
        {
            var name = p.Simulated ? p.Backend + " (SIM)" : p.Backend;
            var slo = p.MeetsSlo switch { true => "met", false => "MISSED", null => "–" };
            sb.Append(C, $"{Cut(name, 24),-24} {SweepAnalysis.L(p.Load),7} {p.Ok,5} {p.ErrorRate,6:P0} {Ms(p.TtftP50Ms),9} {Ms(p.TtftP99Ms),9} {Ms(p.TpotP50Ms),9} {Ms(p.TpotP99Ms),9} {p.RequestThroughputRps,7:0.##} {p.OutputTokenThroughputTps,8:0.#}  {slo}\n");
        }

        return sb.ToString();
    }

    public static string RenderMarkdown(SweepReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        sb.Append(C, $"# Sweep {report.SweepId}\n\nSwept {report.Key} over {string.Join(", ", report.Values.Select(SweepAnalysis.L))}")
          .Append(report.SearchSteps > 0 ? string.Create(C, $" (bisection: up to {report.SearchSteps} more steps)") : "")
          .Append(C, $"; suite {report.Suite}; status {report.Status}. SLO: {(report.Slo.Count == 0 ? "none" : string.Join(", ", report.Slo.Select(t => t.ToString())))}.\n\n");
        if (report.Points.Any(p => p.Simulated))
        {
            sb.Append("Backends marked SIMULATED report modelled timings, not measurements.\n\n");
        }

        sb.Append("```\n").Append(RenderTable(report)).Append("```\n\n");
        foreach (var v in report.Verdicts)
        {
            sb.Append("- ").Append(v.Text).Append('\n');
        }

        foreach (var n in report.Notes)
        {
            sb.Append("- note: ").Append(n).Append('\n');
        }

        sb.Append("\nSteps (each an ordinary run directory):\n\n");
        foreach (var s in report.Steps)
        {
            sb.Append(C, $"- {report.Key} {SweepAnalysis.L(s.Load)}{(s.Searched ? " (searched)" : "")}: [{s.RunDir}]({s.RunDir}/report.html) ({s.Status})\n");
        }

        return sb.ToString();
    }

    public static string RenderHtml(SweepReport report, IReadOnlyDictionary<string, string> svgs)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(svgs);
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Sweep ").Append(E(report.SweepId)).Append("</title>")
          .Append("<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}pre{background:#f6f6f6;padding:1em;overflow:auto}figure{margin:1em 0}figcaption{color:#555;font-size:90%}</style></head><body>");
        sb.Append("<h1>Latency vs load: sweep ").Append(E(report.SweepId)).Append("</h1>");
        sb.Append("<p>").Append(E($"Swept {report.Key} over {string.Join(", ", report.Values.Select(SweepAnalysis.L))}; suite {report.Suite}; status {report.Status}.")).Append("</p>");
        if (report.Points.Any(p => p.Simulated))
        {
            sb.Append("<p><strong>SIMULATED</strong> backends report modelled timings, not measurements.</p>");
        }

        if (report.Verdicts.Count > 0)
        {
            sb.Append("<h2>SLO verdict</h2><ul>");
            foreach (var v in report.Verdicts)
            {
                sb.Append("<li>").Append(E(v.Text)).Append("</li>");
            }

            sb.Append("</ul>");
        }

        foreach (var plot in Plots(report))
        {
            if (svgs.TryGetValue(plot.Name, out var svg))
            {
                sb.Append("<figure>").Append(svg).Append("<figcaption>").Append(E(plot.Caption)).Append("</figcaption></figure>");
            }
        }

        sb.Append("<h2>Table</h2><pre>").Append(E(RenderTable(report))).Append("</pre>");
        foreach (var n in report.Notes)
        {
            sb.Append("<p>note: ").Append(E(n)).Append("</p>");
        }

        sb.Append("<h2>Steps</h2><ul>");
        foreach (var s in report.Steps)
        {
            sb.Append(C, $"<li>{E(report.Key)} {E(SweepAnalysis.L(s.Load))}{(s.Searched ? " (searched)" : "")}: <a href=\"{E(s.RunDir)}/report.html\">{E(s.RunDir)}</a> ({E(s.Status)})</li>");
        }

        sb.Append("</ul></body></html>\n");
        return sb.ToString();
    }

    /// <summary>The sweep's charts: TTFT and TPOT (p50 thick, p99 thin) against load, with the SLO's bounds as red lines; throughput against load.</summary>
    public static IReadOnlyList<ReportPlot> Plots(SweepReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var plots = new List<ReportPlot>();
        var xLabel = report.Key == "concurrency" ? "Concurrency (requests in flight)" : "Offered rate (requests/s)";
        var sloNote = report.Slo.Count > 0 ? " Red: the SLO bound." : "";
        if (report.Points.Any(p => p.TtftP50Ms is not null))
        {
            plots.Add(new ReportPlot("sweep_ttft", $"Time to first token against load, per backend: p50 thick with filled markers, p99 thin with open markers (ms, log scale).{sloNote}",
                Latency(report, xLabel, "Time to first token (ms)", p => p.TtftP50Ms, p => p.TtftP99Ms, "ttft")));
        }

        if (report.Points.Any(p => p.TpotP50Ms is not null))
        {
            plots.Add(new ReportPlot("sweep_tpot", $"Time per output token against load, per backend: p50 thick with filled markers, p99 thin with open markers (ms, log scale).{sloNote}",
                Latency(report, xLabel, "Time per output token (ms)", p => p.TpotP50Ms, p => p.TpotP99Ms, "tpot")));
        }

        var throughput = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var index = 0;
        foreach (var group in report.Points.GroupBy(p => p.Backend, StringComparer.Ordinal))
        {
            var ordered = group.OrderBy(p => p.Load).ToList();
            var line = throughput.Add.Scatter(ordered.Select(p => X(report, p.Load)).ToArray(), ordered.Select(p => p.OutputTokenThroughputTps).ToArray(), palette.GetColor(index++));
            line.LineWidth = 2;
            line.MarkerSize = 7;
            line.LegendText = Label(group.First());
        }

        LoadAxis(throughput, report);
        throughput.Title("Output throughput against load");
        throughput.XLabel(xLabel);
        throughput.YLabel("Output tokens/s (ok attempts)");
        throughput.ShowLegend(Edge.Bottom);
        plots.Add(new ReportPlot("sweep_throughput", "Output tokens per second (ok attempts / step duration) against load, per backend.", throughput));
        return plots;
    }

    private static Plot Latency(SweepReport report, string xLabel, string yLabel, Func<SweepPoint, double?> p50, Func<SweepPoint, double?> p99, string stem)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var index = 0;
        foreach (var group in report.Points.GroupBy(p => p.Backend, StringComparer.Ordinal))
        {
            var color = palette.GetColor(index++);
            var ordered = group.OrderBy(p => p.Load).ToList();
            // p99 drawn thin with open markers, not dashed: the SVG backend cannot draw dash effects.
            foreach (var (pick, name, width, shape) in new[] { (p50, "p50", 2f, MarkerShape.FilledCircle), (p99, "p99", 1f, MarkerShape.OpenCircle) })
            {
                var pts = ordered.Where(p => pick(p) is > 0).ToList();
                if (pts.Count == 0)
                {
                    continue;
                }

                var line = plot.Add.Scatter(pts.Select(p => X(report, p.Load)).ToArray(), pts.Select(p => Math.Log10(pick(p)!.Value)).ToArray(), color);
                line.LineWidth = width;
                line.MarkerSize = 6;
                line.MarkerShape = shape;
                line.LegendText = $"{Label(group.First())} {name}";
            }
        }

        foreach (var t in report.Slo.Where(t => t.Metric.StartsWith(stem + "_", StringComparison.Ordinal) && t.Max > 0))
        {
            var bound = plot.Add.HorizontalLine(Math.Log10(t.Max));
            bound.Color = Colors.Red;
            bound.LegendText = "SLO " + t;
        }

        // Log scale by hand (ScottPlot 5 plots log10 values, ticks at round values): queueing grows latency by orders of magnitude.
        var drawn = report.Points.SelectMany(p => new[] { p50(p), p99(p) }).OfType<double>().Where(v => v > 0)
            .Concat(report.Slo.Where(t => t.Metric.StartsWith(stem + "_", StringComparison.Ordinal) && t.Max > 0).Select(t => t.Max)).ToList();
        if (drawn.Count > 0)
        {
            var (min, max) = (drawn.Min(), drawn.Max());
            var ticks = LogTicks(min, max);
            plot.Axes.Left.SetTicks([.. ticks.Select(Math.Log10)], [.. ticks.Select(t => t.ToString("G4", C))]);
            // Show from the tick at or below the smallest value to the one at or above the largest, so that a narrow range
            // (TPOT 8.2-8.3 ms) still shows labelled ticks instead of a bare axis.
            var low = Math.Log10(ticks.Where(t => t <= min).DefaultIfEmpty(min).Max());
            var high = Math.Log10(ticks.Where(t => t >= max).DefaultIfEmpty(max).Min());
            var pad = Math.Max(high - low, 0.01) * 0.04;
            plot.Axes.SetLimitsY(low - pad, high + pad);
        }

        LoadAxis(plot, report);
        plot.Title(yLabel.Split(" (", 2)[0] + " against load");
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Bottom);
        return plot;
    }

    /// <summary>Loads spanning a factor of 8 or more (concurrency 1, 4, 16, 64) are placed on a log axis; either way the ticks are the loads swept.</summary>
    private static bool LogLoad(SweepReport report) =>
        report.Points.Count > 0 && report.Points.Max(p => p.Load) / report.Points.Min(p => p.Load) >= 8;

    private static double X(SweepReport report, double load) => LogLoad(report) ? Math.Log10(load) : load;

    private static void LoadAxis(Plot plot, SweepReport report)
    {
        var loads = report.Points.Select(p => p.Load).Distinct().Order().ToArray();
        if (loads.Length > 0)
        {
            plot.Axes.Bottom.SetTicks([.. loads.Select(l => X(report, l))], [.. loads.Select(SweepAnalysis.L)]);
        }
    }

    /// <summary>Round tick values (1, 2, 5 × 10^k; finer when the range is narrow) covering [min, max].</summary>
    private static List<double> LogTicks(double min, double max)
    {
        foreach (var steps in new[] { new[] { 1.0, 2, 5 }, [1.0, 1.5, 2, 3, 5, 7], [1.0, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9] })
        {
            var ticks = new List<double>();
            for (var k = (int)Math.Floor(Math.Log10(min)) - 1; k <= (int)Math.Ceiling(Math.Log10(max)); k++)
            {
                ticks.AddRange(steps.Select(s => s * Math.Pow(10, k)).Where(t => t >= min * 0.8 && t <= max * 1.25));
            }

            if (ticks.Count >= 3)
            {
                return ticks;
            }
        }

        return [min, max];
    }

    private static string Label(SweepPoint p) => p.Simulated ? p.Backend + " (SIMULATED)" : p.Backend;

    private static string Ms(double? v) => v is { } x ? x.ToString(x >= 100 ? "0" : "0.0", C) : "–";

    private static string N(double? v) => v is { } x ? x.ToString("0.###", C) : "";

    private static string B(bool b) => b ? "true" : "false";

    private static string Cut(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "…";

    private static string Q(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal) ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
