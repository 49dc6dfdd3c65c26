using System.Globalization;
using ScottPlot;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>The session charts (docs/reports.md, "Sessions"): timeline, time-to-green CDF, pass@turn, flow bands per arm.</summary>
public static class SessionPlots
{
    private static readonly Color ThinkColor = Colors.SteelBlue.WithAlpha(0.55);
    private static readonly Color WaitColor = Colors.OrangeRed;
    private static readonly Color GradingColor = Colors.Gold;

    /// <summary>Every session chart the report supports (none without sessions).</summary>
    public static IReadOnlyList<ReportPlot> Build(SessionReport? report)
    {
        var plots = new List<ReportPlot>();
        if (report is null)
        {
            return plots;
        }

        var index = 0;
        foreach (var (arm, lanes) in report.Lanes)
        {
            if (lanes.Count == 0)
            {
                continue;
            }

            plots.Add(new ReportPlot($"session_timeline_{index++}",
                $"Session timeline of {arm}: one lane per developer (the first {SessionReport.TimelineLanes}, the first {SessionReport.TimelineSeconds / 60:0} minutes), thinking (blue), waiting for the model (red) and for grading (yellow), laid end to end.",
                Timeline(arm, lanes, report.Arms.FirstOrDefault(a => a.Arm == arm))));
        }

        if (report.Arms.Any(a => a.TimeToGreenSamples.Count > 0))
        {
            plots.Add(new ReportPlot("time_to_green_cdf",
                "Empirical CDF of time-to-green (s: model wait + grading up to the passing turn; think time left out) per backend or policy, over green tasks.",
                TimeToGreen(report)));
        }

        if (report.Arms.Any(a => a.TasksDecided > 0))
        {
            plots.Add(new ReportPlot("pass_at_turn",
                "pass@turn-r per backend or policy: decided tasks green within r repair turns, with 95 % Wilson intervals.",
                PassAtTurn(report)));
        }

        if (report.Arms.Any(a => a.Interactions > 0))
        {
            plots.Add(new ReportPlot("session_flow_bands",
                "Share of session interactions per response-time band (whole answer ≤ 0.1 s, ≤ 1 s, ≤ 10 s, slower, failed) per backend or policy; the line above each bar gives its flow-break rate.",
                FlowBands(report)));
        }

        return plots;
    }

    private static string Label(SessionArmSummary a) => (a.IsPolicy ? "policy " : "") + a.Arm + (a.Simulated ? " (SIMULATED)" : "");

    private static Plot Timeline(string arm, IReadOnlyList<SessionLane> lanes, SessionArmSummary? summary)
    {
        var plot = new Plot();
        var longest = 0.0;
        for (var i = 0; i < lanes.Count; i++)
        {
            foreach (var s in lanes[i].Segments)
            {
                var color = s.Activity switch
                {
                    LaneActivity.Waiting => WaitColor,
                    LaneActivity.Grading => GradingColor,
                    _ => ThinkColor,
                };
                // Minutes on x; a wait of 50 ms is still drawn (at least 0.05 % of the axis), or fast backends would show no red at all.
                var start = s.StartSeconds / 60;
                var end = Math.Max(s.EndSeconds / 60, start + 0.03);
                var rect = plot.Add.Rectangle(start, end, i - 0.35, i + 0.35);
                rect.FillColor = color;
                rect.LineWidth = 0;
                longest = Math.Max(longest, end);
            }
        }

        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "thinking", FillColor = ThinkColor });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "waiting (model)", FillColor = WaitColor });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "grading", FillColor = GradingColor });
        plot.ShowLegend(Edge.Right);
        plot.Axes.Left.SetTicks([.. Enumerable.Range(0, lanes.Count).Select(i => (double)i)], [.. lanes.Select(l => "dev " + l.Session.ToString(CultureInfo.InvariantCulture))]);
        plot.Axes.SetLimitsY(lanes.Count - 0.5, -0.5);
        plot.Axes.SetLimitsX(0, Math.Max(1, longest * 1.01));
        plot.XLabel("Minutes since the session's start");
        var share = summary is null ? "" : string.Create(CultureInfo.InvariantCulture, $": waiting {summary.WaitShare.Value * 100:0.#} % of session time");
        plot.Title(Shorten(arm) + share);
        return plot;
    }

    private static Plot TimeToGreen(SessionReport report)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var index = 0;
        foreach (var a in report.Arms)
        {
            var values = a.TimeToGreenSamples;
            var color = palette.GetColor(index++);
            if (values.Count == 0)
            {
                continue;
            }

            // Step ECDF: F(x) = rank / n; y is the share of green tasks, so each arm reaches 1.
            var xs = new double[values.Count + 1];
            var ys = new double[values.Count + 1];
            xs[0] = values[0];
            for (var i = 0; i < values.Count; i++)
            {
                xs[i + 1] = values[i];
                ys[i + 1] = (i + 1.0) / values.Count;
            }

            var line = plot.Add.Scatter(xs, ys, color);
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"{Label(a)} (n={values.Count}, p50 {a.TimeToGreenSeconds!.P50:0.#} s)");
        }

        plot.XLabel("Time-to-green (s): model wait + grading");
        plot.YLabel("Share of green tasks ≤ x");
        plot.Axes.Margins(left: 0.02, right: 0.05, bottom: 0, top: 0);
        plot.Axes.SetLimitsY(0, 1.02);
        plot.Title("Time-to-green");
        plot.ShowLegend(Edge.Bottom);
        return plot;
    }

    private static Plot PassAtTurn(SessionReport report)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var arms = report.Arms.Where(a => a.TasksDecided > 0).ToList();
        var turns = arms.Max(a => a.PassAtTurn.Count);
        for (var k = 0; k < arms.Count; k++)
        {
            var a = arms[k];
            var color = palette.GetColor(report.Arms.ToList().IndexOf(a));
            // Arms side by side within a turn, so their intervals do not overlap on the page.
            var offset = (k - ((arms.Count - 1) / 2.0)) * 0.06;
            var xs = Enumerable.Range(0, a.PassAtTurn.Count).Select(r => r + offset).ToArray();
            var ys = a.PassAtTurn.Select(p => p.Value).ToArray();
            var line = plot.Add.Scatter(xs, ys, color);
            line.MarkerSize = 7;
            line.LineWidth = 2;
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"{Label(a)} (n={a.TasksDecided})");
            for (var r = 0; r < a.PassAtTurn.Count; r++)
            {
                var e = a.PassAtTurn[r];
                Segment(plot, xs[r], e.Low, xs[r], e.High, color);
                Segment(plot, xs[r] - 0.04, e.Low, xs[r] + 0.04, e.Low, color);
                Segment(plot, xs[r] - 0.04, e.High, xs[r] + 0.04, e.High, color);
            }
        }

        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, turns).Select(r => (double)r)],
            [.. Enumerable.Range(0, turns).Select(r => r == 0 ? "first ask" : string.Create(CultureInfo.InvariantCulture, $"≤ {r} repair"))]);
        plot.Axes.SetLimitsX(-0.4, turns - 0.6);
        PercentAxis(plot);
        plot.YLabel("Decided tasks green");
        plot.Title("pass@turn (95 % Wilson intervals)");
        plot.ShowLegend(Edge.Bottom);
        return plot;
    }

    private static Plot FlowBands(SessionReport report)
    {
        var plot = new Plot();
        (string Name, Color Color)[] bands =
        [
            ("≤ 0.1 s", Colors.DarkGreen), ("0.1–1 s", Colors.SeaGreen), ("1–10 s", Colors.Orange), ("over 10 s", Colors.IndianRed), ("failed", Colors.DimGray),
        ];
        var arms = report.Arms.Where(a => a.Interactions > 0).ToList();
        var shares = arms.Select(a =>
        {
            var failed = (double)a.FailedInteractions / a.Interactions;
            return new[]
            {
                a.WaitUnderInstant.Value, a.WaitUnderFlow.Value - a.WaitUnderInstant.Value, a.WaitUnderAttention.Value - a.WaitUnderFlow.Value,
                Math.Max(0, 1 - a.WaitUnderAttention.Value - failed), failed,
            };
        }).ToList();
        ReportPlots.AddStackedBands(plot, bands, shares,
            [.. arms.Select(a => string.Create(CultureInfo.InvariantCulture, $"{(a.IsPolicy ? "policy " : "")}{a.Arm}{(a.Simulated ? "\n(SIMULATED)" : "")}\nbreaks {a.FlowBreakRate.Value * 100:0.#} %"))]);
        plot.YLabel("Share of interactions");
        PercentAxis(plot);
        plot.Axes.SetLimitsX(-0.6, arms.Count - 0.4);
        plot.Title("Session flow: whole-answer wait per interaction");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    private static void Segment(Plot plot, double x1, double y1, double x2, double y2, Color color)
    {
        var line = plot.Add.Line(x1, y1, x2, y2);
        line.LineWidth = 1.5f;
        line.Color = color;
    }

    private static void PercentAxis(Plot plot)
    {
        double[] ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0];
        plot.Axes.Left.SetTicks(ticks, [.. ticks.Select(t => (t * 100).ToString("0", CultureInfo.InvariantCulture) + " %")]);
        plot.Axes.SetLimitsY(0, 1.015);
    }

    private static string Shorten(string text) => text.Length > 40 ? text[..39] + "…" : text;
}
