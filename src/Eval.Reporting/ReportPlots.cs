using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using ScottPlot;

namespace Spark.Eval.Reporting;

/// <summary>One rendered chart: a file stem, a caption that states what is drawn, and the ScottPlot plot.</summary>
public sealed record ReportPlot(string Name, string Caption, Plot Plot);

/// <summary>The report's charts, drawn with ScottPlot from a <see cref="ReportData"/>.</summary>
public static class ReportPlots
{
    public const int Width = 760;
    public const int Height = 400;

    /// <summary>Builds every chart the data supports (a chart with nothing to draw is left out).</summary>
    public static IReadOnlyList<ReportPlot> Build(ReportData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var plots = new List<ReportPlot>();
        if (data.Samples.Any(s => s.TtftMs.Length > 0))
        {
            plots.Add(new ReportPlot("ttft_cdf",
                "Empirical CDF of time to first token (ms) per backend, over ok measured attempts. Gray line: the 100 ms 'feels instant' limit.",
                Titled(Cdf(data, s => s.TtftMs, "Time to first token (ms)", FlowThresholds.InstantMs), "Time to first token")));
        }

        if (data.Samples.Any(s => s.E2eMs.Length > 0))
        {
            plots.Add(new ReportPlot("e2e_cdf",
                "Empirical CDF of end-to-end latency (ms: request start to last token) per backend. Gray line: the 1 s flow limit.",
                Titled(Cdf(data, s => s.E2eMs, "End-to-end latency (ms)", FlowThresholds.FlowMs), "Whole answer (end-to-end)")));
        }

        if (data.Summary.Backends.Any(b => b.Flow is not null))
        {
            plots.Add(new ReportPlot("flow_bands",
                "Share of decided attempts per developer-flow band: whole answer within 1 s, within 10 s, slower, or failed (docs/metrics.md).",
                Titled(FlowBands(data), "Developer flow: how long the whole answer took")));
        }

        if (data.Summary.Backends.Any(b => b.Grading is not null))
        {
            plots.Add(new ReportPlot("pass_rate",
                "Pass rate per backend (passed / graded, failed generations counted as not passed) with its 95 % Wilson interval.",
                Titled(PassRates(data), "Pass rate with 95 % Wilson interval")));
        }

        plots.AddRange(SessionPlots.Build(data.Sessions));
        return plots;
    }

    /// <summary>Writes each chart as PNG and SVG into <paramref name="directory"/> and returns the SVG text by name.</summary>
    public static IReadOnlyDictionary<string, string> Write(IReadOnlyList<ReportPlot> plots, string directory)
    {
        ArgumentNullException.ThrowIfNull(plots);
        Directory.CreateDirectory(directory);
        var svgs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var plot in plots)
        {
            var png = plot.Plot.GetImageBytes(Width, Height, ImageFormat.Png);
            RunDirectory.WriteAtomic(Path.Combine(directory, plot.Name + ".png"), png);
            var svg = plot.Plot.GetSvgXml(Width, Height);
            RunDirectory.WriteAtomic(Path.Combine(directory, plot.Name + ".svg"), System.Text.Encoding.UTF8.GetBytes(svg));
            svgs[plot.Name] = svg;
        }

        return svgs;
    }

    private static Plot Titled(Plot plot, string title)
    {
        plot.Title(title);
        return plot;
    }

    private static string Label(BackendSamples s) => s.Simulated ? s.Backend + " (SIMULATED)" : s.Backend;

    private static string Label(BackendSummary b) => b.Simulated ? b.Backend + "\n(SIMULATED)" : b.Backend;

    private static Plot Cdf(ReportData data, Func<BackendSamples, double[]> pick, string xLabel, double limit)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var index = 0;
        foreach (var samples in data.Samples)
        {
            var values = pick(samples);
            var color = palette.GetColor(index++);
            if (values.Length == 0)
            {
                continue;
            }

            // Step ECDF: F(x) = (rank) / n, starting from 0 at the smallest sample.
            var xs = new double[values.Length + 1];
            var ys = new double[values.Length + 1];
            xs[0] = values[0];
            ys[0] = 0;
            for (var i = 0; i < values.Length; i++)
            {
                xs[i + 1] = values[i];
                ys[i + 1] = (i + 1.0) / values.Length;
            }

            var line = plot.Add.Scatter(xs, ys, color);
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = $"{Label(samples)} (n={values.Length})";
        }

        var max = data.Samples.Select(pick).Where(v => v.Length > 0).Max(v => v[^1]);
        if (limit <= max * 1.5)
        {
            var marker = plot.Add.VerticalLine(limit);
            // Solid, not dashed: Skia's SVG canvas has no dash effect and prints a warning to the process's stdout (it corrupted `--json`).
            marker.LineWidth = 1;
            marker.Color = Colors.Gray;
        }

        plot.XLabel(xLabel);
        plot.YLabel("Share of attempts ≤ x");
        plot.Axes.Margins(left: 0.02, right: 0.05, bottom: 0, top: 0);
        plot.Axes.SetLimitsY(0, 1.02);
        // Below the data area: inside, a legend covers the slowest backend's tail; beside it, it squeezes the x axis.
        plot.ShowLegend(Edge.Bottom);
        return plot;
    }

    /// <summary>One stacked bar per column (its shares, bottom to top, in the bands' order), a legend of the bands, and the column labels.</summary>
    internal static void AddStackedBands(Plot plot, (string Name, Color Color)[] bands, IReadOnlyList<double[]> shares, IReadOnlyList<string> labels)
    {
        var bars = new List<Bar>();
        for (var i = 0; i < shares.Count; i++)
        {
            var baseValue = 0.0;
            for (var k = 0; k < bands.Length; k++)
            {
                bars.Add(new Bar { Position = i, ValueBase = baseValue, Value = baseValue + shares[i][k], FillColor = bands[k].Color, Size = 0.6 });
                baseValue += shares[i][k];
            }
        }

        plot.Add.Bars(bars);
        foreach (var (name, color) in bands)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = name, FillColor = color });
        }

        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, labels.Count).Select(i => (double)i)], [.. labels]);
    }

    private static Plot FlowBands(ReportData data)
    {
        var plot = new Plot();
        (string Name, Color Color)[] bands =
        [
            ("within 1 s", Colors.SeaGreen), ("1–10 s", Colors.Orange), ("over 10 s", Colors.IndianRed), ("failed", Colors.DimGray),
        ];
        var backends = data.Summary.Backends.Where(b => b.Flow is not null).ToList();
        var shares = backends.Select(b =>
        {
            var flow = b.Flow!;
            var failed = flow.Decided == 0 ? 0 : (double)(b.Counts.Error + b.Counts.Timeout) / flow.Decided;
            return new[] { flow.InFlowRatio, flow.AttentionKeptRatio - flow.InFlowRatio, Math.Max(0, flow.FlowBreakRatio - failed), failed };
        }).ToList();
        AddStackedBands(plot, bands, shares, [.. backends.Select(Label)]);
        plot.YLabel("Share of decided attempts");
        PercentAxis(plot);
        plot.Axes.SetLimitsX(-0.6, backends.Count - 0.4);
        // Outside the data area: a legend inside would cover a bar (every bar reaches 100 %).
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    private static string RateText(GradingSummary? g)
    {
        if (g is null)
        {
            return "not graded";
        }

        var (low, high) = ProportionInterval.Wilson95(g.Passed, g.Graded);
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{g.PassRate * 100:0} % [{low * 100:0}, {high * 100:0}], n={g.Graded}");
    }

    private static Plot PassRates(ReportData data)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var backends = data.Summary.Backends;
        var bars = new List<Bar>();
        var intervals = new List<(int Position, double Low, double High)>();
        for (var i = 0; i < backends.Count; i++)
        {
            if (backends[i].Grading is not { Graded: > 0 } g)
            {
                continue;
            }

            var (low, high) = ProportionInterval.Wilson95(g.Passed, g.Graded);
            // A light fill keeps the whole interval visible where it runs inside the bar.
            bars.Add(new Bar { Position = i, Value = g.PassRate, FillColor = palette.GetColor(i).WithAlpha(0.45), LineColor = palette.GetColor(i), LineWidth = 1, Size = 0.6 });
            intervals.Add((i, low, high));
        }

        plot.Add.Bars(bars);

        // Drawn after the bars, so no part of an interval hides behind one; the Wilson interval is not symmetric about
        // the rate, so each is its own segment with end caps.
        foreach (var (position, low, high) in intervals)
        {
            Segment(plot, position, low, position, high);
            Segment(plot, position - 0.12, low, position + 0.12, low);
            Segment(plot, position - 0.12, high, position + 0.12, high);
        }

        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, backends.Count).Select(i => (double)i)], [.. backends.Select(b => Label(b) + "\n" + RateText(b.Grading))]);
        PercentAxis(plot);
        plot.YLabel("Pass rate");
        plot.Axes.SetLimitsX(-0.6, backends.Count - 0.4);
        return plot;
    }

    private static void Segment(Plot plot, double x1, double y1, double x2, double y2)
    {
        var line = plot.Add.Line(x1, y1, x2, y2);
        line.LineWidth = 2;
        line.Color = Colors.Black;
    }

    /// <summary>A 0–100 % axis: ticks every 20 %, and just enough headroom that a line at 100 % is drawn whole.</summary>
    private static void PercentAxis(Plot plot)
    {
        double[] ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0];
        plot.Axes.Left.SetTicks(ticks, [.. ticks.Select(t => (t * 100).ToString("0", System.Globalization.CultureInfo.InvariantCulture) + " %")]);
        plot.Axes.SetLimitsY(0, 1.015);
    }

    /// <summary>Draws one metric across runs, a line per backend, to a PNG (or an SVG when the path ends in .svg).</summary>
    public static void SaveTrend(IReadOnlyList<HistoryPoint> points, string path)
    {
        ArgumentNullException.ThrowIfNull(points);
        var plot = new Plot();
        // 20 distinct colours (the 10 strong hues first, then their light partners), then a new marker shape: two backends
        // never share colour and marker.
        var category20 = new ScottPlot.Palettes.Category20().Colors;
        Color[] colors = [.. category20.Where((_, i) => i % 2 == 0), .. category20.Where((_, i) => i % 2 == 1)];
        MarkerShape[] shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond];
        var runs = points.Select(p => p.RunId).Distinct(StringComparer.Ordinal).ToList();
        var index = 0;
        foreach (var group in points.GroupBy(p => p.Backend, StringComparer.Ordinal))
        {
            var xs = group.Select(p => (double)runs.IndexOf(p.RunId)).ToArray();
            var ys = group.Select(p => p.Value).ToArray();
            var line = plot.Add.Scatter(xs, ys, colors[index % colors.Length]);
            line.MarkerShape = shapes[(index / colors.Length) % shapes.Length];
            line.MarkerSize = 7;
            line.LineWidth = 2;
            line.LegendText = group.Key + (group.First().Simulated ? " (SIMULATED)" : "");
            index++;
        }

        // Run ids are long: rotated labels hang below the axis, so the axis reserves room for the longest (about 6 px per
        // character at 45°) and the plot is widened rather than cutting them.
        var longest = runs.Count == 0 ? 0 : runs.Max(r => r.Length);
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, runs.Count).Select(i => (double)i)], [.. runs]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = Math.Max(60, (float)(longest * 6.5 * Math.Sin(Math.PI / 4)) + 30);
        plot.Axes.Right.MinimumSize = 20;
        plot.Axes.SetLimitsX(-0.5, Math.Max(runs.Count - 0.5, 0.5));
        plot.Title($"{points[0].Metric} across runs (oldest first)");
        plot.YLabel(points[0].Metric);
        // Outside the data area, so it never covers a point.
        plot.ShowLegend(Edge.Right);
        var width = 900 + (longest * 3);
        var bytes = path.EndsWith(".svg", StringComparison.OrdinalIgnoreCase)
            ? System.Text.Encoding.UTF8.GetBytes(plot.GetSvgXml(width, 500))
            : plot.GetImageBytes(width, 500, ImageFormat.Png);
        RunDirectory.WriteAtomic(path, bytes);
    }
}
