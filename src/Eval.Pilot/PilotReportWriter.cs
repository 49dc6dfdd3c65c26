using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using ScottPlot;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Pilot;

/// <summary>Writes a pilot report directory: report.html (inline SVG plots), report.md, pilot.json, CSV tables, plots/.</summary>
public static class PilotReportWriter
{
    public const string JsonFileName = "pilot.json";
    private const int Width = 760;
    private const int Height = 380;

    /// <summary>Writes every output (each file atomically) and returns their paths.</summary>
    public static IReadOnlyList<string> Write(PilotReport report, string directory)
    {
        ArgumentNullException.ThrowIfNull(report);
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        void Save(string name, string text)
        {
            var path = Path.Combine(directory, name);
            RunDirectory.WriteAtomic(path, Encoding.UTF8.GetBytes(text));
            written.Add(path);
        }

        Save(JsonFileName, JsonSerializer.Serialize(report, PilotJsonContext.Default.PilotReport));
        Save("effects.csv", EffectsCsv(report));
        Save("developers.csv", DevelopersCsv(report));
        Save("daily.csv", DailyCsv(report));
        Save("tasks.csv", TasksCsv(report));
        var plots = Plots(report);
        var plotDir = Path.Combine(directory, "plots");
        Directory.CreateDirectory(plotDir);
        var svgs = new List<(string Name, string Caption, string Svg)>();
        foreach (var (name, caption, plot, height) in plots)
        {
            var png = Path.Combine(plotDir, name + ".png");
            RunDirectory.WriteAtomic(png, plot.GetImageBytes(Width, height, ImageFormat.Png));
            var svg = plot.GetSvgXml(Width, height);
            RunDirectory.WriteAtomic(Path.Combine(plotDir, name + ".svg"), Encoding.UTF8.GetBytes(svg));
            written.Add(png);
            svgs.Add((name, caption, svg));
        }

        Save("report.md", Markdown(report, plots.Select(p => (p.Name, p.Caption)).ToList()));
        Save("report.html", Html(report, svgs));
        return written;
    }

    private static string F(double? value, int digits = 2) =>
        value is { } v && double.IsFinite(v) ? v.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : "";

    private static string Cell(MetricEffect e, Cohort c, Period p) => F(e.Cells.First(x => x.Cohort == c && x.Period == p).Mean);

    private static string Verdict(MetricEffect e) => e.Effect switch
    {
        null => "n/a",
        { Significant: true } x => x.Estimate < 0 ? "lower in the pilot (95 % CI excludes 0)" : "higher in the pilot (95 % CI excludes 0)",
        _ => "not distinguishable from 0",
    };

    private static string EffectsCsv(PilotReport report)
    {
        var csv = new StringBuilder("metric,unit,pilot_before,pilot_during,control_before,control_during,did,ci_low,ci_high,se,mde,mde_double_team,pilot_developers,control_developers,significant\n");
        foreach (var e in report.Effects)
        {
            var x = e.Effect;
            csv.AppendJoin(',', [e.Metric, e.Unit, Cell(e, Cohort.Pilot, Period.Before), Cell(e, Cohort.Pilot, Period.During), Cell(e, Cohort.Control, Period.Before),
                Cell(e, Cohort.Control, Period.During), F(x?.Estimate, 4), F(x?.Lower, 4), F(x?.Upper, 4), F(x?.StandardError, 4), F(x?.MinimumDetectableEffect, 4),
                F(e.MdeAtDoubleTeam, 4), (x?.PilotDevelopers ?? 0).ToString(CultureInfo.InvariantCulture), (x?.ControlDevelopers ?? 0).ToString(CultureInfo.InvariantCulture),
                x is null ? "" : x.Significant ? "true" : "false"]).Append('\n');
        }

        return csv.ToString();
    }

    private static string DevelopersCsv(PilotReport report)
    {
        var csv = new StringBuilder("developer,cohort,period,active_days,weekdays,uses,prompts,wait_s,suggestions_shown,suggestions_accepted,commits,tasks_started,tasks_committed,ttfc_min,uses_per_dev_day,prompts_per_task,acceptance_rate,wait_s_per_dev_day,active_day_share,commits_per_active_day\n");
        foreach (var r in report.Developers)
        {
            csv.AppendJoin(',', [r.Developer, Name(r.Cohort), Name(r.Period), I(r.ActiveDays), I(r.Weekdays), I(r.Uses), I(r.Prompts), F(r.WaitSeconds, 1),
                I(r.SuggestionsShown), I(r.SuggestionsAccepted), I(r.Commits), I(r.TasksStarted), I(r.TasksCommitted), F(r.TtfcMinutes), F(r.UsesPerDeveloperDay, 3),
                F(r.PromptsPerTask, 3), F(r.AcceptanceRate, 4), F(r.WaitSecondsPerDeveloperDay, 2), F(r.ActiveDayShare, 4), F(r.CommitsPerActiveDay, 3)]).Append('\n');
        }

        return csv.ToString();
    }

    private static string DailyCsv(PilotReport report)
    {
        var csv = new StringBuilder("day,cohort,active_developers,uses,uses_per_active_developer,adopted_share\n");
        var adoption = report.Adoption.ToDictionary(a => (a.Day, a.Cohort), a => a.Share);
        foreach (var d in report.Daily)
        {
            csv.AppendJoin(',', [D(d.Day), Name(d.Cohort), I(d.ActiveDevelopers), I(d.Uses), F(d.UsesPerActiveDeveloper, 3),
                adoption.TryGetValue((d.Day, d.Cohort), out var share) ? F(share, 4) : ""]).Append('\n');
        }

        return csv.ToString();
    }

    private static string TasksCsv(PilotReport report)
    {
        var csv = new StringBuilder("developer,cohort,period,ttfc_min,prompts\n");
        foreach (var t in report.Tasks)
        {
            csv.AppendJoin(',', [t.Developer, Name(t.Cohort), Name(t.Period), F(t.Minutes), I(t.Prompts)]).Append('\n');
        }

        return csv.ToString();
    }

    private static string I(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string D(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string Name(Cohort c) => c.ToString().ToLowerInvariant();

    private static string Name(Period p) => p.ToString().ToLowerInvariant();

    private static List<(string Name, string Caption, Plot Plot, int Height)> Plots(PilotReport report)
    {
        var plots = new List<(string, string, Plot, int)>();
        if (report.Developers.Any(r => r.TtfcMinutes is not null))
        {
            plots.Add(("ttfc_by_cohort", "Time to first commit per task (minutes): bars are the cohort × period means of developer means; dots are developers.", TtfcPlot(report), Height));
        }

        if (report.Daily.Count > 0)
        {
            plots.Add(("uses_over_time", "Interactive uses per active developer per day, by cohort; the gray vertical line is the pilot start.", UsesPlot(report), Height));
        }

        if (report.Adoption.Count > 0)
        {
            plots.Add(("adoption", "Adoption: share of each cohort's developers who had used an assistant by that day.", AdoptionPlot(report), Height));
        }

        foreach (var e in report.Effects.Where(e => e.Effect is not null))
        {
            plots.Add(("effect_" + e.Metric, $"{e.Title}: difference-in-differences (dot) with its 95 % cluster-bootstrap interval (bar); the shaded band is ± the minimum detectable effect for this team size.", EffectPlot(e), 150));
        }

        return plots;
    }

    private static Plot TtfcPlot(PilotReport report)
    {
        var plot = new Plot();
        var cells = new[] { (Cohort.Pilot, Period.Before), (Cohort.Pilot, Period.During), (Cohort.Control, Period.Before), (Cohort.Control, Period.During) };
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        var points = new List<(double[] Xs, double[] Ys)>();
        for (var i = 0; i < cells.Length; i++)
        {
            var (c, p) = cells[i];
            var values = report.Developers.Where(r => r.Cohort == c && r.Period == p && r.TtfcMinutes is not null).Select(r => r.TtfcMinutes!.Value).ToArray();
            if (values.Length == 0)
            {
                continue;
            }

            bars.Add(new Bar { Position = i, Value = values.Average(), FillColor = palette.GetColor(c == Cohort.Pilot ? 0 : 1).WithAlpha(p == Period.Before ? 0.45 : 0.9), Size = 0.6 });
            points.Add((values.Select((_, k) => i - 0.2 + (0.4 * ((k * 0.618) % 1))).ToArray(), values));
        }

        plot.Add.Bars(bars);
        foreach (var (xs, ys) in points)
        {
            var dots = plot.Add.ScatterPoints(xs, ys, Colors.Black);
            dots.MarkerSize = 3;
        }

        plot.Axes.Bottom.SetTicks([0, 1, 2, 3], ["pilot\nbefore", "pilot\nduring", "control\nbefore", "control\nduring"]);
        plot.YLabel("minutes");
        plot.Axes.Margins(bottom: 0);
        plot.Title("Time to first commit per task");
        return plot;
    }

    private static Plot UsesPlot(PilotReport report)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var cohort in new[] { Cohort.Pilot, Cohort.Control })
        {
            var days = report.Daily.Where(d => d.Cohort == cohort).ToList();
            if (days.Count == 0)
            {
                continue;
            }

            var line = plot.Add.Scatter(days.Select(d => d.Day.ToDateTime(TimeOnly.MinValue).ToOADate()).ToArray(), days.Select(d => d.UsesPerActiveDeveloper).ToArray(),
                palette.GetColor(cohort == Cohort.Pilot ? 0 : 1));
            line.LegendText = Name(cohort);
            line.MarkerSize = 2;
        }

        var start = plot.Add.VerticalLine(report.PilotStart.ToDateTime(TimeOnly.MinValue).ToOADate());
        // Solid, not dashed: Skia's SVG canvas has no dash effect and prints a warning to the process's stdout (it corrupted `--json`).
        start.LineWidth = 1;
        start.Color = Colors.Gray;
        plot.Axes.DateTimeTicksBottom();
        plot.YLabel("uses per active developer");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Title("Interactive use per developer-day");
        return plot;
    }

    private static Plot AdoptionPlot(PilotReport report)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var cohort in new[] { Cohort.Pilot, Cohort.Control })
        {
            var points = report.Adoption.Where(d => d.Cohort == cohort).ToList();
            if (points.Count == 0)
            {
                continue;
            }

            var line = plot.Add.Scatter(points.Select(d => d.Day.ToDateTime(TimeOnly.MinValue).ToOADate()).ToArray(), points.Select(d => d.Share).ToArray(),
                palette.GetColor(cohort == Cohort.Pilot ? 0 : 1));
            line.LegendText = $"{Name(cohort)} (n={points[0].Developers})";
            line.MarkerSize = 0;
        }

        var start = plot.Add.VerticalLine(report.PilotStart.ToDateTime(TimeOnly.MinValue).ToOADate());
        // Solid, not dashed: Skia's SVG canvas has no dash effect and prints a warning to the process's stdout (it corrupted `--json`).
        start.LineWidth = 1;
        start.Color = Colors.Gray;
        plot.Axes.DateTimeTicksBottom();
        plot.Axes.SetLimitsY(0, 1.05);
        plot.YLabel("share of developers");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Title("Adoption curve");
        return plot;
    }

    private static Plot EffectPlot(MetricEffect e)
    {
        var x = e.Effect!;
        var plot = new Plot();
        var band = plot.Add.HorizontalSpan(-x.MinimumDetectableEffect, x.MinimumDetectableEffect);
        band.FillStyle.Color = Colors.LightGray.WithAlpha(0.5);
        band.LineStyle.Width = 0;
        var zero = plot.Add.VerticalLine(0);
        zero.Color = Colors.Gray;
        // Solid, not dashed: Skia's SVG canvas has no dash effect and prints a warning to the process's stdout (it corrupted `--json`).
        zero.LineWidth = 1;
        var interval = plot.Add.Line(x.Lower, 0, x.Upper, 0);
        interval.LineWidth = 3;
        interval.Color = x.Significant ? Colors.SeaGreen : Colors.DimGray;
        double[] estimate = [x.Estimate];
        double[] row = [0];
        var dot = plot.Add.ScatterPoints(estimate, row, Colors.Black);
        dot.MarkerSize = 9;
        var reach = Math.Max(Math.Max(Math.Abs(x.Lower), Math.Abs(x.Upper)), x.MinimumDetectableEffect) * 1.15;
        plot.Axes.SetLimits(-reach, reach, -1, 1);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual();
        plot.XLabel($"{e.Title} ({e.Unit}): pilot change − control change");
        return plot;
    }

    private static string Markdown(PilotReport report, List<(string Name, string Caption)> plots)
    {
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"""
            # Pilot report

            Data {D(report.DataStart)} to {D(report.DataEnd)} · pilot from {D(report.PilotStart)} ({report.PilotStartSource}) · {report.Events:N0} events ·
            {report.PilotDevelopers} pilot, {report.ControlDevelopers} control, {report.UnassignedDevelopers} unassigned developers ·
            {report.Bootstrap} cluster-bootstrap resamples (seed {report.Seed}).

            Developers are pseudonymised ({report.Pseudonymisation}). Prompt text is never read.

            ## Effects (difference-in-differences, developers as the unit)

            | metric | unit | pilot before | pilot during | control before | control during | DiD | 95 % CI | MDE (this team) | MDE (2× team) | reading |
            |---|---|---:|---:|---:|---:|---:|---|---:|---:|---|

            """);
        foreach (var e in report.Effects)
        {
            var x = e.Effect;
            md.Append(CultureInfo.InvariantCulture, $"| {e.Title} | {e.Unit} | {Cell(e, Cohort.Pilot, Period.Before)} | {Cell(e, Cohort.Pilot, Period.During)} | {Cell(e, Cohort.Control, Period.Before)} | {Cell(e, Cohort.Control, Period.During)} | {F(x?.Estimate)} | {(x is null ? "" : $"[{F(x.Lower)}, {F(x.Upper)}]")} | {F(x?.MinimumDetectableEffect)} | {F(e.MdeAtDoubleTeam)} | {Verdict(e)}{(e.Note is null ? "" : " — " + e.Note)} |\n");
        }

        md.Append("""

            DiD = (pilot during − pilot before) − (control during − control before), averaged over developers with a value in
            both periods. MDE: the smallest effect this team size detects with 80 % power at 5 % (2.80 × the bootstrap standard
            error); an effect smaller than the MDE can be present and still read "not distinguishable from 0". Definitions:
            docs/metrics.md ("Pilot metrics"), method: docs/pilot.md.

            ## New developers: first activity → first commit

            """);
        var n = report.NewDevelopers;
        md.Append(CultureInfo.InvariantCulture, $"""
            Developers whose first event comes at least {n.GraceDays} days after the data starts.

            | cohort | developers | mean (h) | median (h) |
            |---|---:|---:|---:|
            | pilot | {n.PilotDevelopers} | {F(n.PilotMeanHours)} | {F(n.PilotMedianHours)} |
            | control | {n.ControlDevelopers} | {F(n.ControlMeanHours)} | {F(n.ControlMedianHours)} |

            {(n.Difference is { } d ? $"Difference in means (pilot − control): {F(d.Estimate)} h, 95 % CI [{F(d.Lower)}, {F(d.Upper)}], MDE {F(d.MinimumDetectableEffect)} h." : "Too few new developers in a cohort for an interval (at least 2 each).")}

            ## Inputs

            | file | format | rows | skipped |
            |---|---|---:|---:|

            """);
        foreach (var i in report.Inputs)
        {
            md.Append(CultureInfo.InvariantCulture, $"| {i.File} | {i.Format} | {i.Rows:N0} | {i.Skipped:N0}{(i.FirstSkipped is null ? "" : " (first: " + i.FirstSkipped.Replace("|", "\\|", StringComparison.Ordinal) + ")")} |\n");
        }

        if (report.TeamDays.Count > 0)
        {
            var shown = report.TeamDays.Sum(t => t.Suggestions);
            var accepted = report.TeamDays.Sum(t => t.Acceptances);
            md.Append(CultureInfo.InvariantCulture, $"""

                ## Team-level Copilot metrics (no developers: descriptive only)

                {report.TeamDays.Count} days; {shown:N0} suggestions, {accepted:N0} accepted ({(shown > 0 ? F(100.0 * accepted / shown, 1) : "")} %);
                mean {F(report.TeamDays.Average(t => t.EngagedUsers), 1)} engaged users a day; {report.TeamDays.Sum(t => t.Chats):N0} chats.

                """);
        }

        md.Append("\n## Plots\n\n");
        foreach (var (name, caption) in plots)
        {
            md.Append(CultureInfo.InvariantCulture, $"![{name}](plots/{name}.png)\n\n{caption}\n\n");
        }

        return md.ToString();
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private static string Html(PilotReport report, List<(string Name, string Caption, string Svg)> svgs)
    {
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Spark Eval — pilot report</title>
            <style>
            body{"{"}font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.4{"}"}
            table{"{"}border-collapse:collapse;margin:1em 0;font-size:0.92em{"}"}
            th,td{"{"}border:1px solid #ccc;padding:4px 8px;text-align:right{"}"}
            th:first-child,td:first-child{"{"}text-align:left{"}"}
            th{"{"}background:#f3f3f3{"}"} .sig{"{"}background:#e6f4ea{"}"}
            .note{"{"}color:#555;font-size:0.9em{"}"} figure{"{"}margin:1.2em 0{"}"} figcaption{"{"}color:#444;font-size:0.9em{"}"}
            </style></head><body>
            <h1>Pilot report</h1>
            <p>Data {D(report.DataStart)} to {D(report.DataEnd)} · pilot from <b>{D(report.PilotStart)}</b> ({E(report.PilotStartSource)}) · {report.Events:N0} events ·
            {report.PilotDevelopers} pilot, {report.ControlDevelopers} control, {report.UnassignedDevelopers} unassigned developers ·
            {report.Bootstrap} cluster-bootstrap resamples (seed {report.Seed}).</p>
            <p class="note">Developers are pseudonymised ({E(report.Pseudonymisation)}). Prompt text is never read.</p>
            <h2>Effects (difference-in-differences, developers as the unit)</h2>
            <table><tr><th>metric</th><th>unit</th><th>pilot before</th><th>pilot during</th><th>control before</th><th>control during</th><th>DiD</th><th>95 % CI</th><th>MDE (this team)</th><th>MDE (2× team)</th><th>reading</th></tr>

            """);
        foreach (var e in report.Effects)
        {
            var x = e.Effect;
            html.Append(CultureInfo.InvariantCulture, $"<tr{(x?.Significant == true ? " class=\"sig\"" : "")}><td title=\"{E(e.Definition)}\">{E(e.Title)}</td><td>{E(e.Unit)}</td><td>{Cell(e, Cohort.Pilot, Period.Before)}</td><td>{Cell(e, Cohort.Pilot, Period.During)}</td><td>{Cell(e, Cohort.Control, Period.Before)}</td><td>{Cell(e, Cohort.Control, Period.During)}</td><td>{F(x?.Estimate)}</td><td>{(x is null ? "" : $"[{F(x.Lower)}, {F(x.Upper)}]")}</td><td>{F(x?.MinimumDetectableEffect)}</td><td>{F(e.MdeAtDoubleTeam)}</td><td>{E(Verdict(e) + (e.Note is null ? "" : " — " + e.Note))}</td></tr>\n");
        }

        html.Append("""
            </table>
            <p class="note">DiD = (pilot during − pilot before) − (control during − control before) over developers with a value in both periods;
            95 % interval from resampling developers within each cohort. MDE: the smallest effect this team size detects with 80 % power at 5 %
            (2.80 × the bootstrap standard error) — a smaller effect can be present and still read "not distinguishable from 0".</p>

            """);
        var n = report.NewDevelopers;
        html.Append(CultureInfo.InvariantCulture, $"""
            <h2>New developers: first activity → first commit</h2>
            <table><tr><th>cohort</th><th>developers</th><th>mean (h)</th><th>median (h)</th></tr>
            <tr><td>pilot</td><td>{n.PilotDevelopers}</td><td>{F(n.PilotMeanHours)}</td><td>{F(n.PilotMedianHours)}</td></tr>
            <tr><td>control</td><td>{n.ControlDevelopers}</td><td>{F(n.ControlMeanHours)}</td><td>{F(n.ControlMedianHours)}</td></tr></table>
            <h2>Inputs</h2><table><tr><th>file</th><th>format</th><th>rows</th><th>skipped</th></tr>

            """);
        foreach (var i in report.Inputs)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(i.File)}</td><td>{E(i.Format)}</td><td>{i.Rows:N0}</td><td title=\"{E(i.FirstSkipped ?? "")}\">{i.Skipped:N0}</td></tr>\n");
        }

        html.Append("</table>\n<h2>Plots</h2>\n");
        foreach (var (_, caption, svg) in svgs)
        {
            html.Append("<figure>").Append(svg).Append(CultureInfo.InvariantCulture, $"<figcaption>{E(caption)}</figcaption></figure>\n");
        }

        html.Append("</body></html>\n");
        return html.ToString();
    }
}
