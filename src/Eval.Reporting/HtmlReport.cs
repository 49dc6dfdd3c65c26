using System.Globalization;
using System.Net;
using System.Text;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>Writes report.html: one self-contained page (inline SVG charts, no scripts, no external files) that opens with the verdict.</summary>
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
            th{"{"}background:#f3f3f3{"}"} td:not(:first-child){"{"}white-space:nowrap{"}"}
            .sim{"{"}background:#fff4d6;border:1px solid #e0b040;padding:0.6em 1em{"}"}
            .note{"{"}color:#555;font-size:0.9em{"}"}
            .verdict{"{"}background:#eef6ee;border:1px solid #7a7;padding:0.4em 1em{"}"} .verdict li.miss{"{"}color:#a22{"}"} .verdict li.meet{"{"}color:#262{"}"}
            .rand{"{"}background:#f4eefa;border:1px solid #a7c;padding:0.6em 1em{"}"}
            figure{"{"}margin:1.5em 0{"}"} figcaption{"{"}color:#444;font-size:0.9em{"}"}
            code{"{"}background:#f3f3f3;padding:0 3px{"}"}
            </style></head><body>
            <h1>Spark Eval report</h1>
            {Verdict(data)}
            <p>Run <code>{E(m.RunId)}</code> · suite <b>{E(m.Suite.Name)}</b> ({m.Suite.TaskCount} tasks, sha256 {E(Short(m.Suite.Sha256))}) ·
            started {E(m.StartedUtc.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture))} · status {E(m.Status ?? "running")}</p>
            <p>Plan: {Plan(m)}<br>Machine: {E(m.Environment.Cpu)}, {m.Environment.Cores} cores, {E(m.Environment.Os)}, {E(DotNet(m.Environment.DotNet))}{(m.Environment.GitCommit is { } c ? $", commit {E(Short(c))}" : "")}{(m.SandboxIsolation is { } iso ? $"<br>Grading sandbox: {E(iso)}" : "")}</p>

            """);
        if (s.Backends.Any(b => b.Simulated))
        {
            html.Append(CultureInfo.InvariantCulture, $"""
                <p class="sim"><b>SIMULATED</b> backends ({E(string.Join(", ", s.Backends.Where(b => b.Simulated).Select(b => b.Backend)))}) report modelled
                timings and modelled answer quality, not measurements of real hardware. Compare them with each other, and with
                real backends only as predictions (docs/simulator-validation.md gives the model's error against published figures).{(m.Backends.Any(b => b.Kind == "hwsim") ? " " + E(SimulatedAnswersText) : "")}</p>

                """);
        }

        var random = s.Backends.Where(b => BackendLabels.Nature(b, m) == BackendNature.RandomWeights).Select(b => b.Backend).ToList();
        if (random.Count > 0)
        {
            html.Append(CultureInfo.InvariantCulture, $"""
                <p class="rand"><b>RANDOM WEIGHTS</b> ({E(string.Join(", ", random))}): {E(BackendLabels.RandomWeightsText)}. The local runtime is
                measured for real on this machine, but the model answers gibberish: its pass rate is expected to be zero and says nothing about a real model.</p>

                """);
        }

        html.Append("<h2>Backends</h2>\n");
        html.Append(CultureInfo.InvariantCulture, $"<p>{E(SloLine(m.Plan.Slo))}</p>\n<table><tr>");
        foreach (var (header, formula) in ReportTables.Columns)
        {
            html.Append(CultureInfo.InvariantCulture, $"<th title=\"{E(formula)}\">{E(header)}</th>");
        }

        html.Append("</tr>\n");
        foreach (var row in ReportTables.Rows(s, m))
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

        if (data.Sessions is { } sessions)
        {
            html.Append(sessions.RenderHtml());
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

    /// <summary>What an hwsim answer is (issue #18 item 6), printed wherever simulated backends are named.</summary>
    public const string SimulatedAnswersText =
        "hwsim answers are the task's reference or one of its mutants, drawn by the model's capability from a seed of the model, task and repeat "
        + "(so one model answers the same on every device), rendered as an assistant answer and padded with neutral prose to a length drawn from a "
        + "real chat-assistant trace (Mooncake, median 363 tokens; docs/simulator.md, \"Simulated answers\"), not the short reference alone.";

    private static void AppendGrading(StringBuilder html, RunSummary s)
    {
        var graded = s.Backends.Where(b => b.Grading is { Graded: > 0 }).ToList();
        if (graded.Count == 0)
        {
            html.Append("<h2>Pass rates</h2>\n<p>Not graded (run <code>spark-eval grade &lt;run-dir&gt;</code>).</p>\n");
            return;
        }

        html.Append(CultureInfo.InvariantCulture, $"<h2>Pass rates by task kind and language</h2>\n<p class=\"note\">passed / graded with the 95 % Wilson interval; a slice with fewer than {PassRateSlices.MinimumGraded} graded attempts for some backend is merged with the other small slices (its interval would span most of 0–100 %).{(graded.Any(b => b.Grading!.Ungraded > 0) ? " Ungraded answers (refused by the sandbox) are left out." : "")}</p>\n<table><tr><th>slice</th>");
        foreach (var b in graded)
        {
            html.Append(CultureInfo.InvariantCulture, $"<th>{E(b.Backend)}</th>");
        }

        html.Append("</tr>\n");
        var slices = PassRateSlices.Build(graded, g => g.ByKind, "kind").Concat(PassRateSlices.Build(graded, g => g.ByLanguage, "language"));
        foreach (var slice in slices)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(slice.Label)}</td>");
            foreach (var b in graded)
            {
                html.Append(CultureInfo.InvariantCulture, $"<td>{E(ReportTables.Rate(slice.ByBackend[b.Backend].Passed, slice.ByBackend[b.Backend].Graded))}</td>");
            }

            html.Append("</tr>\n");
        }

        html.Append("<tr><td><b>all</b></td>");
        foreach (var b in graded)
        {
            var g = b.Grading!;
            html.Append(CultureInfo.InvariantCulture, $"<td><b>{E(ReportTables.Rate(g.Passed, g.Graded))}</b>{(g.Ungraded > 0 ? $" ({g.Ungraded} ungraded)" : "")}<br>{E(Ks(g.PassAtK))}</td>");
        }

        html.Append("</tr>\n");
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
        var repeats = p.Repeats == 1 ? "1 repeat" : $"{p.Repeats} repeats";
        var load = m.DescribeLoad();
        return E($"{load}, {repeats}, {p.Warmup} warm-up, seed {p.Seed}, temperature {p.Temperature.ToString("0.##", CultureInfo.InvariantCulture)}, timeout {p.TimeoutSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s");
    }

    /// <summary>The verdict section: one line per backend (meets / misses which target, by how much), then the findings.</summary>
    private static string Verdict(ReportData data)
    {
        var verdict = RunVerdict.Decide(data.Summary, data.Manifest);
        var html = new StringBuilder("<section class=\"verdict\" id=\"verdict\"><h2>Verdict</h2>\n<ul>\n");
        foreach (var b in verdict.Backends)
        {
            html.Append(CultureInfo.InvariantCulture, $"<li class=\"{(b.MeetsAll ? "meet" : "miss")}\">{E(b.Sentence)}</li>\n");
        }

        html.Append("</ul>\n<p>");
        html.AppendJoin("<br>", verdict.Findings.Select(f => E(f) + "."));
        html.Append(CultureInfo.InvariantCulture, $"</p>\n<p class=\"note\">{E(SloLine(data.Manifest.Plan.Slo))} Flow target: at least {RunVerdict.FlowTargetRatio * 100:0} % of decided attempts deliver the whole answer within 1 s. SLO targets are checked on p99 over ok attempts.</p></section>\n");
        return html.ToString();
    }

    private static string SloLine(Core.Results.SloSpec slo) => slo.IsSet
        ? $"SLO: {Core.Results.SloSyntax.Describe(slo)} (goodput = ok attempts meeting every target / decided attempts)."
        : "SLO: none set, so no goodput (set one with --slo ttft_ms=500,tpot_ms=50).";

    /// <summary>The runtime as recorded ("10.0.1" or ".NET 10.0.1"), printed once as ".NET 10.0.1".</summary>
    private static string DotNet(string version) => version.StartsWith(".NET", StringComparison.Ordinal) ? version : ".NET " + version;

    private static string Short(string text) => text.Length > 12 ? text[..12] : text;

    private static string StripXmlDeclaration(string svg) =>
        svg.StartsWith("<?xml", StringComparison.Ordinal) ? svg[(svg.IndexOf("?>", StringComparison.Ordinal) + 2)..] : svg;

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
