using System.Globalization;
using System.Net;
using System.Text;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>Writes report.html: one self-contained page (inline SVG charts, no scripts, no external files).</summary>
public static class HtmlReport
{
    public const string FileName = "report.html";

    public static string Render(ReportData data, IReadOnlyList<ReportPlot> plots, IReadOnlyDictionary<string, string> svgs)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(plots);
        ArgumentNullException.ThrowIfNull(svgs);
        var m = data.Manifest;
        var s = data.Summary;
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Spark Eval — {E(m.RunId)}</title>
            <style>
            body{"{"}font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.4{"}"}
            table{"{"}border-collapse:collapse;margin:1em 0;font-size:0.92em{"}"}
            th,td{"{"}border:1px solid #ccc;padding:4px 8px;text-align:right{"}"}
            th:first-child,td:first-child{"{"}text-align:left{"}"}
            th{"{"}background:#f3f3f3{"}"}
            .sim{"{"}background:#fff4d6;border:1px solid #e0b040;padding:0.6em 1em{"}"}
            .note{"{"}color:#555;font-size:0.9em{"}"}
            figure{"{"}margin:1.5em 0{"}"} figcaption{"{"}color:#444;font-size:0.9em{"}"}
            code{"{"}background:#f3f3f3;padding:0 3px{"}"}
            </style></head><body>
            <h1>Spark Eval report</h1>
            <p>Run <code>{E(m.RunId)}</code> · suite <b>{E(m.Suite.Name)}</b> ({m.Suite.TaskCount} tasks, sha256 {E(Short(m.Suite.Sha256))}) ·
            started {E(m.StartedUtc.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture))} · status {E(m.Status ?? "running")}</p>
            <p>Plan: {Plan(m)}<br>Machine: {E(m.Environment.Cpu)}, {m.Environment.Cores} cores, {E(m.Environment.Os)}, .NET {E(m.Environment.DotNet)}{(m.Environment.GitCommit is { } c ? $", commit {E(Short(c))}" : "")}{(m.SandboxIsolation is { } iso ? $"<br>Grading sandbox: {E(iso)}" : "")}</p>

            """);
        if (s.Backends.Any(b => b.Simulated))
        {
            html.Append(CultureInfo.InvariantCulture, $"""
                <p class="sim"><b>SIMULATED</b> backends ({E(string.Join(", ", s.Backends.Where(b => b.Simulated).Select(b => b.Backend)))}) report modelled
                timings and modelled answer quality, not measurements of real hardware. Compare them with each other, and with
                real backends only as predictions (docs/simulator-validation.md gives the model's error against published figures).</p>

                """);
        }

        html.Append("<h2>Backends</h2>\n<table><tr>");
        foreach (var (header, formula) in ReportTables.Columns)
        {
            html.Append(CultureInfo.InvariantCulture, $"<th title=\"{E(formula)}\">{E(header)}</th>");
        }

        html.Append("</tr>\n");
        foreach (var row in ReportTables.Rows(s))
        {
            html.Append("<tr>").AppendJoin("", row.Select(cell => $"<td>{E(cell)}</td>")).Append("</tr>\n");
        }

        html.Append("</table>\n<p class=\"note\">Latency in ms over ok measured attempts (warm-ups excluded). Column formulas: ");
        html.AppendJoin("; ", ReportTables.Columns.Skip(1).Select(c => $"<b>{E(c.Header)}</b> = {E(c.Formula)}"));
        html.Append(". Full definitions: docs/metrics.md.</p>\n");

        foreach (var plot in plots)
        {
            if (svgs.TryGetValue(plot.Name, out var svg))
            {
                html.Append(CultureInfo.InvariantCulture, $"<figure>{StripXmlDeclaration(svg)}<figcaption>{E(plot.Caption)} (also plots/{plot.Name}.png)</figcaption></figure>\n");
            }
        }

        AppendGrading(html, s);
        AppendFailures(html, s);
        html.Append("<h2>Notes</h2>\n<ul>\n");
        foreach (var note in s.Notes.Concat(s.Backends.SelectMany(b => b.Grading?.Notes.Select(n => $"{b.Backend}: {n}") ?? [])))
        {
            html.Append(CultureInfo.InvariantCulture, $"<li>{E(note)}</li>\n");
        }

        html.Append("</ul>\n<p class=\"note\">Written by spark-eval from attempts.jsonl; <code>spark-eval summarize &lt;run-dir&gt;</code> rewrites it.</p>\n</body></html>\n");
        return html.ToString();
    }

    private static void AppendGrading(StringBuilder html, RunSummary s)
    {
        var graded = s.Backends.Where(b => b.Grading is not null).ToList();
        if (graded.Count == 0)
        {
            html.Append("<h2>Pass rates</h2>\n<p>Not graded (run <code>spark-eval grade &lt;run-dir&gt;</code>).</p>\n");
            return;
        }

        html.Append("<h2>Pass rates by task kind and language</h2>\n<table><tr><th>backend</th><th>slice</th><th>graded</th><th>passed</th><th>pass rate</th><th>pass@k</th><th>pass^k</th></tr>\n");
        foreach (var b in graded)
        {
            var g = b.Grading!;
            foreach (var (slice, rates) in g.ByKind.Select(k => ("kind " + k.Key, k.Value)).Concat(g.ByLanguage.Select(l => ("language " + l.Key, l.Value))))
            {
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr><td>{E(b.Backend)}</td><td>{E(slice)}</td><td>{rates.Graded}</td><td>{rates.Passed}</td><td>{ReportTables.Percent(rates.PassRate)}</td><td>{E(Ks(rates.PassAtK))}</td><td>{E(Ks(rates.PassAllK))}</td></tr>\n");
            }
        }

        html.Append("</table>\n<h2>Grading outcomes</h2>\n<table><tr><th>backend</th><th>outcome</th><th>attempts</th></tr>\n");
        foreach (var b in graded)
        {
            foreach (var (outcome, count) in b.Grading!.Outcomes)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(b.Backend)}</td><td>{E(outcome)}</td><td>{count}</td></tr>\n");
            }
        }

        html.Append("</table>\n");
    }

    private static void AppendFailures(StringBuilder html, RunSummary s)
    {
        var failing = s.Backends.Where(b => b.ErrorClasses.Count > 0).ToList();
        if (failing.Count == 0)
        {
            return;
        }

        html.Append("<h2>Failed attempts</h2>\n<table><tr><th>backend</th><th>error class</th><th>attempts</th></tr>\n");
        foreach (var b in failing)
        {
            foreach (var (errorClass, count) in b.ErrorClasses)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(b.Backend)}</td><td>{E(errorClass)}</td><td>{count}</td></tr>\n");
            }
        }

        html.Append("</table>\n");
    }

    private static string Ks(IReadOnlyDictionary<string, double> values) =>
        values.Count == 0 ? "–" : string.Join(", ", values.Select(kv => $"{kv.Key} {ReportTables.Percent(kv.Value)}"));

    private static string Plan(Core.Results.RunManifest m)
    {
        var p = m.Plan;
        var load = m.DescribeLoad();
        return E($"{load}, {p.Repeats} repeats, {p.Warmup} warm-up, seed {p.Seed}, temperature {p.Temperature.ToString("0.##", CultureInfo.InvariantCulture)}, timeout {p.TimeoutSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s");
    }

    private static string Short(string text) => text.Length > 12 ? text[..12] : text;

    private static string StripXmlDeclaration(string svg) =>
        svg.StartsWith("<?xml", StringComparison.Ordinal) ? svg[(svg.IndexOf("?>", StringComparison.Ordinal) + 2)..] : svg;

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
