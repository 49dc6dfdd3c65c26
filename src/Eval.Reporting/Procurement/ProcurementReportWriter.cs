using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Spark.Eval.Simulator.Procurement;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Reporting.Procurement;

/// <summary>Writes a procurement report as procurement.html (inline SVG charts), procurement.md, procurement.csv and procurement.json.</summary>
public static class ProcurementReportWriter
{
    public const string HtmlFile = "procurement.html";
    public const string MarkdownFile = "procurement.md";
    public const string CsvFile = "procurement.csv";
    public const string JsonFile = "procurement.json";

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Writes the four files into <paramref name="directory"/> (each written whole to a temporary file, then moved into place).</summary>
    public static IReadOnlyList<string> WriteAll(ProcurementReport report, string directory)
    {
        ArgumentNullException.ThrowIfNull(report);
        Directory.CreateDirectory(directory);
        var files = new (string Name, string Text)[]
        {
            (HtmlFile, RenderHtml(report)),
            (MarkdownFile, RenderMarkdown(report)),
            (CsvFile, RenderCsv(report)),
            (JsonFile, RenderJson(report)),
        };
        var written = new List<string>();
        foreach (var (name, text) in files)
        {
            var path = Path.Combine(directory, name);
            var tmp = path + ".tmp";
            File.WriteAllText(tmp, text, new UTF8Encoding(false));
            File.Move(tmp, path, overwrite: true);
            written.Add(path);
        }

        return written;
    }

    public static string RenderJson(ProcurementReport report) => JsonSerializer.Serialize(report, SimulatorJsonContext.Default.ProcurementReport) + "\n";

    public static string RenderCsv(ProcurementReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        sb.Append("rank,candidate,hardware,model,precision,tp,fits,meets_slo,devices,replicas,utilisation,headroom,ttft_p99_ms,tpot_p99_ms,answer_p99_ms,share_in_flow,price_kind,usd_per_month,usd_per_developer_month,usd_per_million_output_tokens,pass_rate,pass_rate_measured,pareto,slo_margin,family,family_holdout_rows,family_holdout_median_abs_error,family_holdout_worst_ratio,ttft_margin,ttft_error_bound,tpot_margin,tpot_error_bound,capacity_margin,throughput_error_bound,margin_covers_error,simulated,latency_error_source\n");
        foreach (var r in report.Candidates)
        {
            sb.Append(C, $"{r.Rank},{Q(r.Id)},{Q(r.Hardware)},{Q(r.Model)},{r.Precision},{r.TensorParallel},{B(r.Fits)},{B(r.MeetsSlo)},{r.Devices},{r.Replicas},{r.Utilisation:F4},{r.Headroom:F4},{r.TtftP99Ms:F1},{r.TpotP99Ms:F2},{r.AnswerP99Ms:F0},{r.ShareInFlow:F4},{r.PriceKind},{N(r.UsdPerMonth, "F2")},{N(r.UsdPerDeveloperMonth, "F2")},{N(r.UsdPerMillionOutputTokens, "F3")},{r.PassRate:F4},{B(r.PassRateMeasured)},{B(r.OnParetoFront)},{r.SloMargin:F3},{Q(r.Family ?? "")},{r.FamilyError?.Rows ?? 0},{N(r.FamilyError?.MedianAbsoluteError, "F4")},{N(r.FamilyError?.WorstRatio, "F3")},{N(r.TtftMargin, "F3")},{N(r.TtftErrorBound, "F3")},{N(r.TpotMargin, "F3")},{N(r.TpotErrorBound, "F3")},{N(r.CapacityMargin, "F3")},{N(r.ThroughputErrorBound, "F3")},{(r.MarginCoversError is { } m ? B(m) : "")},{B(!r.LatencyMeasured || r.LatencyRunSimulated)},{(r.LatencyMeasured ? "measured" : r.FittedSweepError is not null ? "own_sweep" : r.FamilyError is not null ? "family_holdout" : "")}\n");
        }

        return sb.ToString();
    }

    public static string RenderMarkdown(ProcurementReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        sb.Append(C, $"# Procurement: {report.Plan}\n\n> **SIMULATED.** Latency, throughput and fleet sizes come from the hardware simulator (docs/simulator.md), not from measurements{MeasuredExceptions(report)}.\n\n");
        sb.Append(C, $"**Verdict:** {report.Verdict}\n\n");
        AppendDemand(sb, report, markdown: true);
        sb.Append("| rank | candidate | devices | utilisation | headroom | p99 TTFT ms | p99 TPOT ms | p99 answer ms | in flow | USD / dev-month | USD / 1M out tok | pass rate | Pareto | meets SLO | SLO margin vs error | sim. error on unseen data (family rows, or own sweep) |\n");
        sb.Append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|\n");
        foreach (var r in report.Candidates)
        {
            sb.Append(C, $"| {r.Rank} | {r.Id} | {DevicesCell(r)} | {Share(r, r.Utilisation)} | {Share(r, r.Headroom)} | {r.TtftP99Ms:F0} | {r.TpotP99Ms:F1} | {r.AnswerP99Ms:F0} | {r.ShareInFlow:P0} | {(r.UsdPerDeveloperMonth is { } usd ? ProcurementPlanner.Usd(usd) : "no price")} | {N(r.UsdPerMillionOutputTokens, "F2", "-")} | {r.PassRate:P0} {(r.PassRateMeasured ? "(measured)" : "(sim.)")} | {(r.OnParetoFront ? "yes" : "")} | {(r.MeetsSlo ? "yes" : "no")} | {Margin(r)} | {ErrorCell(r)} |\n");
        }

        sb.Append(C, $"\n{TrustText(report)}\n");
        sb.Append("\nPrices and quality sources:\n\n");
        foreach (var r in report.Candidates)
        {
            sb.Append(C, $"- {r.Id}: price: {r.PriceSource ?? "-"}; pass rate: {r.PassRateSource}{(r.LatencySource is null ? "" : "; latency: " + r.LatencySource)}{(r.FittedFrom is null ? "" : "; latency: " + r.FittedFrom)}{(r.SweepFitNote is null ? "" : "; simulator error: " + r.SweepFitNote)}{(r.Problem is null ? "" : "; " + r.Problem)}\n");
        }

        sb.Append('\n');
        foreach (var n in report.Notes)
        {
            sb.Append(C, $"- {n}\n");
        }

        return sb.ToString();
    }

    public static string RenderHtml(ProcurementReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        sb.Append(C, $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Procurement — {E(report.Plan)}</title>
            <style>
            body{"{"}font-family:system-ui,sans-serif;margin:2em auto;max-width:1440px;color:#222;line-height:1.4{"}"}
            table{"{"}border-collapse:collapse;margin:1em 0;font-size:0.88em{"}"}
            th,td{"{"}border:1px solid #ccc;padding:3px 7px;text-align:right{"}"}
            td:nth-child(2),th:nth-child(2){"{"}text-align:left{"}"}
            th{"{"}background:#f3f3f3{"}"}
            tr.pick td{"{"}background:#e6f4ea;font-weight:600{"}"}
            tr.fail td{"{"}color:#888{"}"}
            td.warn{"{"}background:#fdecea{"}"}
            td.err{"{"}text-align:left;min-width:14em{"}"}
            td.m{"{"}white-space:nowrap{"}"}
            .sim{"{"}background:#fff4d6;border:1px solid #e0b040;padding:0.6em 1em{"}"}
            .verdict{"{"}font-size:1.15em;background:#e6f4ea;border:1px solid #5a9;padding:0.7em 1em{"}"}
            .grid{"{"}display:grid;grid-template-columns:repeat(2,1fr);gap:12px{"}"}
            .card{"{"}border:1px solid #ddd;padding:6px{"}"}
            .card h4{"{"}margin:0 0 4px 0;font-size:0.95em{"}"}
            </style></head><body>
            <h1>Procurement: {E(report.Plan)}</h1>
            <p class="sim"><b>SIMULATED.</b> Latency, throughput and fleet sizes come from the hardware simulator (docs/simulator.md), not from measurements{E(MeasuredExceptions(report))}; its error per device family and regime is on docs/simulator-validation.md.</p>
            <p class="verdict"><b>Verdict:</b> {E(report.Verdict)}</p>

            """);
        AppendDemand(sb, report, markdown: false);
        sb.Append("<h2>Candidates, ranked</h2>\n<table><tr><th>rank</th><th>candidate</th><th>devices</th><th>utilisation</th><th>headroom</th><th>p99 TTFT ms</th><th>p99 TPOT ms</th><th>p99 answer ms</th><th>in flow</th><th>USD / developer-month</th><th>USD / 1M output tokens</th><th>pass rate</th><th>Pareto</th><th>meets SLO</th><th>SLO margin vs error</th><th>sim. error on unseen data (family rows, or own sweep)</th></tr>\n");
        foreach (var r in report.Candidates)
        {
            var cls = r.Id == report.Recommended ? " class=\"pick\"" : r.MeetsSlo ? "" : " class=\"fail\"";
            sb.Append(C, $"<tr{cls}><td>{r.Rank}</td><td>{E(r.Id)}</td><td>{DevicesCell(r)}</td><td>{Share(r, r.Utilisation)}</td><td>{Share(r, r.Headroom)}</td><td>{r.TtftP99Ms:F0}</td><td>{r.TpotP99Ms:F1}</td><td>{r.AnswerP99Ms:F0}</td><td>{r.ShareInFlow:P0}</td><td>{(r.UsdPerDeveloperMonth is { } usd ? ProcurementPlanner.Usd(usd) : "no price")}</td><td>{N(r.UsdPerMillionOutputTokens, "F2", "-")}</td><td>{r.PassRate:P0} {(r.PassRateMeasured ? "measured" : "sim.")}</td><td>{(r.OnParetoFront ? "●" : "")}</td><td>{(r.MeetsSlo ? "yes" : "no")}</td><td class=\"{(r.MarginCoversError == false ? "m warn" : "m")}\">{E(Margin(r)).Replace(", ", "<br>", StringComparison.Ordinal)}</td><td class=\"err\">{E(ErrorCell(r))}</td></tr>\n");
        }

        sb.Append(C, $"</table>\n<p>{E(TrustText(report))}</p>\n<h2>Cost vs quality (Pareto front)</h2>\n");
        sb.Append(ParetoSvg(report));
        sb.Append(C, $"<h2>Latency vs load, per replica</h2>\n<p>Poisson arrivals per replica (req/s) against p99 TTFT and p99 TPOT; dashed red: the SLO; dotted grey: saturation (closed-loop throughput stops growing); green: the largest load meeting every SLO; blue dot: the operating point at this demand{(report.Candidates.Any(r => r.MeasuredCurve.Count > 0) ? "; orange squares: the sweep a fitted profile was fitted to, as measured (each step at the request rate it reached, closed loop where the sweep stepped concurrency)" : "")}.</p>\n<div class=\"grid\">\n");
        foreach (var r in report.Candidates.Where(r => r.Fits && r.Curve.Count > 0))
        {
            sb.Append(C, $"<div class=\"card\"><h4>{E(r.Id)}</h4>");
            sb.Append(CurveSvg(r, p => p.TtftP99Ms, "p99 TTFT (ms)", report.Slo.TtftP99Ms, report.DemandRequestsPerSecond));
            sb.Append(CurveSvg(r, p => p.TpotP99Ms, "p99 TPOT (ms)", report.Slo.TpotP99Ms, report.DemandRequestsPerSecond));
            sb.Append("</div>\n");
        }

        sb.Append("</div>\n<h2>Sources</h2>\n<ul>\n");
        foreach (var r in report.Candidates)
        {
            sb.Append(C, $"<li>{E(r.Id)}: price: {E(r.PriceSource ?? "-")}; pass rate: {E(r.PassRateSource)}{(r.LatencySource is null ? "" : "; latency: " + E(r.LatencySource))}{(r.FittedFrom is null ? "" : "; latency: " + E(r.FittedFrom))}{(r.SweepFitNote is null ? "" : "; simulator error: " + E(r.SweepFitNote))}{(r.Problem is null ? "" : "; " + E(r.Problem))}</li>\n");
        }

        foreach (var n in report.Notes)
        {
            sb.Append(C, $"<li>{E(n)}</li>\n");
        }

        sb.Append("</ul>\n</body></html>\n");
        return sb.ToString();
    }

    /// <summary>Devices a candidate needs; "(API)" where it is bought by the token, so the count is what the model spans, not a bill.</summary>
    private static string DevicesCell(CandidateResult r) => !r.Fits ? "does not fit" : r.PriceKind == PriceKind.PerToken ? $"{r.Devices.ToString(C)} (API)" : r.Devices.ToString(C);

    /// <summary>Utilisation or headroom; "-" for a candidate bought by the token, whose fleet (and its load) is the vendor's.</summary>
    private static string Share(CandidateResult r, double value) => r.PriceKind == PriceKind.PerToken ? "-" : value.ToString("P0", C);

    /// <summary>Each bounded latency's SLO margin, and the capacity margin (1 / utilisation), against the error it must cover: "TTFT 3.61× &lt; 3.86×, TPOT 2.28× ≥ 1.20×, capacity 4.20× ≥ 1.33×"; "?" where the error is unknown.</summary>
    private static string Margin(CandidateResult r)
    {
        if (!r.MeetsSlo)
        {
            return "-";
        }

        static string Term(string name, double? margin, double? bound) => margin is not { } m ? ""
            : string.Create(C, $"{name} {m:F2}×{(bound is { } b ? (m >= b ? " ≥ " : " < ") + b.ToString("F2", C) + "×" : " vs ?")}");
        var text = string.Join(", ", new[] { Term("TTFT", r.TtftMargin, r.TtftErrorBound), Term("TPOT", r.TpotMargin, r.TpotErrorBound), Term("answer", r.AnswerMargin, r.AnswerErrorBound), Term("capacity", r.CapacityMargin, r.ThroughputErrorBound) }.Where(x => x.Length > 0));
        return text.Length > 0 ? text : "-";
    }

    /// <summary>The family's holdout error: "16 % median, 1.33× worst, 14 rows (0 under load)", a fitted profile's error on its own sweep, or why there is none.</summary>
    private static string ErrorCell(CandidateResult r) => r.LatencyMeasured
        ? string.Create(C, $"none: latency measured ({r.LatencyAttempts} attempts)")
        : r.FittedSweepError is { } f
        ? string.Create(C, $"own sweep, steps left out: TTFT {f.TtftWorstRatio:F2}×, TPOT {f.TpotWorstRatio:F2}× worst ({f.Steps} steps, {f.MedianAbsoluteError * 100:F0} % median)")
        : r.FamilyError is { } e
        ? string.Create(C, $"{e.MedianAbsoluteError * 100:F0} % median, {e.WorstRatio:F2}× worst, {e.Rows} rows ({r.FamilyErrorUnderLoad?.Rows ?? 0} under load)")
        : r.Family is null ? "-" : $"unknown: no holdout row of {r.Family}";

    /// <summary>", except the latencies of …, read from a run against an endpoint" where candidates' latencies come from their latencyRunDirectory.</summary>
    private static string MeasuredExceptions(ProcurementReport report) =>
        report.Candidates.Where(r => r.LatencyMeasured).Select(r => r.Id).ToList() is { Count: > 0 } ids
            ? $", except the latencies of {string.Join(", ", ids)}, read from a run against an endpoint (Sources below)"
            : "";

    private static string TrustText(ProcurementReport r) => r.UnderLoadError is { } u
        ? string.Create(C, $"How far to trust these figures: SLO margin is how many times longer a bounded p99 latency could be before its SLO is missed, and capacity how many times slower the device could serve (1 / utilisation); the error column is the simulator's on the validation page's holdout rows (published measurements never fitted) of the candidate's device family, or, for a profile fitted to your own sweep (a candidate's sweepRunDirectory, or simulate calibrate --from-run) at an operating point inside what that sweep measured, its error on each step of the sweep left out of the fit. Under load, all families together: {u.MedianAbsoluteError * 100:F0} % median, {u.WorstRatio:F2}× worst ({u.Rows} rows, worst {u.WorstRow}). Each latency's margin is set against the worst error on unseen rows measuring that latency (the family's, or every family's under load when larger or when the family has none there); where a margin is below it, the simulator cannot tell whether the candidate meets that SLO: measure it (spark-eval run --sweep) before buying.")
        : "How far to trust these figures: the simulator's error on unseen data was not computed for this report.";

    private static void AppendDemand(StringBuilder sb, ProcurementReport r, bool markdown)
    {
        var d = r.Demand;
        var s = r.Slo;
        var text = string.Create(C, $"{r.Developers} developers × {d.InteractionsPerDeveloperHour:G3} interactions per developer-hour = {r.DemandRequestsPerSecond:F2} req/s ({d.InputTokens} input / {d.OutputTokens} output tokens, think time {d.ThinkTimeSeconds:G3} s, {d.WorkingHoursPerMonth:G4} working h/month; device-hour fleets paid {r.FleetHoursPerMonth:G4} h/month). SLO: p99 TTFT ≤ {N(s.TtftP99Ms, "F0", "-")} ms, p99 TPOT ≤ {N(s.TpotP99Ms, "F0", "-")} ms, p99 answer {(s.AnswerP99Ms is { } a ? $"≤ {a:F0} ms" : "not bounded")}, in flow ≥ {N(s.MinShareInFlow * 100, "F0", "-")} % (flow: first token ≤ {s.FlowTtftMs:F0} ms and answer ≤ {s.FlowAnswerMs:F0} ms).{(d.Source is { } src ? " Demand: " + src + "." : "")}");
        sb.Append(markdown ? text + "\n\n" : $"<p>{E(text)}</p>\n");
    }

    private static string ParetoSvg(ProcurementReport report)
    {
        var pts = report.Candidates.Where(r => r.MeetsSlo && r.UsdPerDeveloperMonth is not null).ToList();
        if (pts.Count == 0)
        {
            return "<p>No priced candidate meets the SLOs.</p>\n";
        }

        const double W = 1000, H = 360, L = 70, R = 160, T = 20, Bm = 50;
        var xMax = pts.Max(p => p.UsdPerDeveloperMonth!.Value) * 1.15;
        var yMin = Math.Max(0, pts.Min(p => p.PassRate) - 0.05);
        var yMax = Math.Min(1, pts.Max(p => p.PassRate) + 0.05);
        double X(double v) => L + (v / xMax * (W - L - R));
        double Y(double v) => H - Bm - ((v - yMin) / Math.Max(1e-9, yMax - yMin) * (H - T - Bm));
        var sb = new StringBuilder();
        sb.Append(C, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-size=\"11\">");
        Axes(sb, W, H, L, R, T, Bm, "USD per developer-month", "pass rate");
        for (var i = 0; i <= 4; i++)
        {
            var xv = xMax * i / 4;
            var yv = yMin + ((yMax - yMin) * i / 4);
            sb.Append(C, $"<text x=\"{X(xv):F0}\" y=\"{H - Bm + 14}\" text-anchor=\"middle\">{xv:F0}</text><text x=\"{L - 6}\" y=\"{Y(yv) + 4:F0}\" text-anchor=\"end\">{yv:P0}</text>");
        }

        var front = pts.Where(p => p.OnParetoFront).OrderBy(p => p.UsdPerDeveloperMonth).ToList();
        if (front.Count > 1)
        {
            sb.Append("<polyline fill=\"none\" stroke=\"#2a7\" stroke-width=\"2\" points=\"");
            foreach (var p in front)
            {
                sb.Append(C, $"{X(p.UsdPerDeveloperMonth!.Value):F1},{Y(p.PassRate):F1} ");
            }

            sb.Append("\"/>");
        }

        var n = 0;
        foreach (var p in pts.OrderBy(p => p.UsdPerDeveloperMonth))
        {
            var dy = (n++ % 3) switch { 0 => -8, 1 => 16, _ => 28 };
            var color = p.Id == report.Recommended ? "#0a0" : p.OnParetoFront ? "#2a7" : "#888";
            sb.Append(C, $"<circle cx=\"{X(p.UsdPerDeveloperMonth!.Value):F1}\" cy=\"{Y(p.PassRate):F1}\" r=\"{(p.Id == report.Recommended ? 7 : 5)}\" fill=\"{color}\"/><text x=\"{X(p.UsdPerDeveloperMonth!.Value) + 8:F1}\" y=\"{Y(p.PassRate) + dy:F1}\">{E($"{p.Hardware} {p.Model}")}</text>");
        }

        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string CurveSvg(CandidateResult r, Func<LoadCurvePoint, double> metric, string label, double? slo, double demand)
    {
        const double W = 280, H = 190, L = 62, R = 10, T = 12, Bm = 36;
        var xMax = Math.Max(r.Curve.Concat(r.MeasuredCurve).Max(p => p.RatePerReplica), r.MaxRatePerReplica) * 1.05;
        var values = r.Curve.Concat(r.MeasuredCurve).Select(metric).Where(v => v > 0 && double.IsFinite(v)).ToList();
        if (values.Count == 0 || xMax <= 0)
        {
            return string.Empty;
        }

        // Log scale: queueing past saturation grows by orders of magnitude.
        var yLo = Math.Log10(Math.Max(1e-3, Math.Min(values.Min(), slo ?? double.MaxValue) * 0.8));
        var yHi = Math.Log10(Math.Max(values.Max(), slo ?? 0) * 1.3);
        double X(double v) => L + (v / xMax * (W - L - R));
        double Y(double v) => H - Bm - ((Math.Log10(Math.Max(v, 1e-3)) - yLo) / Math.Max(1e-9, yHi - yLo) * (H - T - Bm));
        var sb = new StringBuilder();
        sb.Append(C, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-size=\"10\">");
        Axes(sb, W, H, L, R, T, Bm, "req/s per replica", label);
        for (var i = 0; i <= 3; i++)
        {
            var xv = xMax * i / 3;
            var yv = Math.Pow(10, yLo + ((yHi - yLo) * i / 3));
            sb.Append(C, $"<text x=\"{X(xv):F0}\" y=\"{H - Bm + 12}\" text-anchor=\"middle\">{Tick(xv)}</text><text x=\"{L - 4}\" y=\"{Y(yv) + 3:F0}\" text-anchor=\"end\">{Tick(yv)}</text>");
        }

        if (slo is { } s)
        {
            sb.Append(C, $"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{Y(s):F1}\" y2=\"{Y(s):F1}\" stroke=\"#d33\" stroke-dasharray=\"5,3\"/>");
        }

        sb.Append(C, $"<line x1=\"{X(r.SaturationRatePerReplica):F1}\" x2=\"{X(r.SaturationRatePerReplica):F1}\" y1=\"{T}\" y2=\"{H - Bm}\" stroke=\"#999\" stroke-dasharray=\"2,2\"/>");
        if (r.MaxRatePerReplica > 0)
        {
            sb.Append(C, $"<line x1=\"{X(r.MaxRatePerReplica):F1}\" x2=\"{X(r.MaxRatePerReplica):F1}\" y1=\"{T}\" y2=\"{H - Bm}\" stroke=\"#2a7\"/>");
        }

        sb.Append("<polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"1.5\" points=\"");
        foreach (var p in r.Curve)
        {
            sb.Append(C, $"{X(p.RatePerReplica):F1},{Y(metric(p)):F1} ");
        }

        sb.Append("\"/>");
        // The sweep the profile was fitted to, as measured: hollow orange squares at the rate each step reached.
        foreach (var p in r.MeasuredCurve)
        {
            sb.Append(C, $"<rect class=\"measured\" x=\"{X(p.RatePerReplica) - 3.5:F1}\" y=\"{Y(metric(p)) - 3.5:F1}\" width=\"7\" height=\"7\" fill=\"none\" stroke=\"#e67e22\" stroke-width=\"1.5\"/>");
        }

        if (r.Replicas > 0)
        {
            var op = demand / r.Replicas;
            var opValue = label.Contains("TTFT", StringComparison.Ordinal) ? r.TtftP99Ms : r.TpotP99Ms;
            sb.Append(C, $"<circle cx=\"{X(op):F1}\" cy=\"{Y(opValue):F1}\" r=\"4\" fill=\"#36c\"/>");
        }

        sb.Append("</svg>");
        return sb.ToString();
    }

    private static void Axes(StringBuilder sb, double w, double h, double l, double r, double t, double b, string xLabel, string yLabel)
    {
        sb.Append(C, $"<rect x=\"{l}\" y=\"{t}\" width=\"{w - l - r}\" height=\"{h - t - b}\" fill=\"none\" stroke=\"#bbb\"/>");
        sb.Append(C, $"<text x=\"{(l + w - r) / 2:F0}\" y=\"{h - 4}\" text-anchor=\"middle\">{E(xLabel)}</text>");
        sb.Append(C, $"<text transform=\"translate(10,{(t + h - b) / 2:F0}) rotate(-90)\" text-anchor=\"middle\">{E(yLabel)}</text>");
    }

    private static string Tick(double v) => v >= 100 ? v.ToString("N0", C) : v >= 10 ? v.ToString("F0", C) : v.ToString("0.##", C);

    private static string N(double? v, string format, string missing = "") => v is { } x ? x.ToString(format, C) : missing;

    private static string B(bool b) => b ? "true" : "false";

    private static string Q(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal) ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
