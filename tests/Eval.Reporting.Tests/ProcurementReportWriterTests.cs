using System.Text.Json;
using Spark.Eval.Reporting.Procurement;
using Spark.Eval.Simulator.Procurement;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Reporting.Tests;

public class ProcurementReportWriterTests
{
    private static readonly Lazy<ProcurementReport> Report = new(() => ProcurementPlanner.Evaluate(ProfileCatalog.LoadEmbedded(), new ProcurementPlan
    {
        FormatVersion = 1,
        Name = "writer <test>",
        Developers = 100,
        Demand = new DeveloperDemand { InputTokens = 1024, OutputTokens = 128 },
        Candidates =
        [
            new ProcurementCandidate { Hardware = "h100-sxm", Model = "qwen2.5-coder-32b", Precision = "fp8" },
            new ProcurementCandidate { Hardware = "mi300x", Model = "llama-3.1-70b", Precision = "fp8" },
            new ProcurementCandidate { Hardware = "wse-3", Model = "llama-3.1-8b", Precision = "bf16" },
            new ProcurementCandidate { Hardware = "l4", Model = "llama-3.1-70b", Precision = "bf16" },
        ],
    }, validation: ErrorBands.RunKnown(ProfileCatalog.LoadEmbedded(), ValidationRunner.Load(null))));

    [Fact]
    public void RenderHtml_FittedCandidate_DrawsItsMeasuredSweepBesideTheCurve()
    {
        // The first candidate as if fitted to a sweep of three steps: each chart (TTFT, TPOT) shows the three measured points
        // and the legend says what they are; a report without such a candidate has neither.
        var first = Report.Value.Candidates[0];
        var measured = new[] { 0.5, 2.0, 4.0 }.Select(r => new LoadCurvePoint { RatePerReplica = r, TtftP99Ms = 100 * r, TpotP99Ms = 10 + r }).ToList();
        var fitted = Report.Value with { Candidates = [first with { MeasuredCurve = measured }, .. Report.Value.Candidates.Skip(1)] };

        var html = ProcurementReportWriter.RenderHtml(fitted);

        Assert.Equal(6, CountOf(html, "class=\"measured\""));
        Assert.Contains("orange squares: the sweep a fitted profile was fitted to, as measured", html, StringComparison.Ordinal);
        var plain = ProcurementReportWriter.RenderHtml(Report.Value);
        Assert.Equal(0, CountOf(plain, "class=\"measured\""));
        Assert.DoesNotContain("orange squares", plain, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteAll_WritesFourFilesWithVerdictChartsAndEveryCandidate()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"procure-{Guid.NewGuid():N}");
        try
        {
            var files = ProcurementReportWriter.WriteAll(Report.Value, dir);
            Assert.Equal(4, files.Count);
            Assert.All(files, f => Assert.True(new FileInfo(f).Length > 0, f));
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));

            var html = File.ReadAllText(Path.Combine(dir, ProcurementReportWriter.HtmlFile));
            Assert.Contains("SIMULATED", html, StringComparison.Ordinal);
            Assert.Contains(System.Net.WebUtility.HtmlEncode(Report.Value.Verdict), html, StringComparison.Ordinal);
            Assert.Contains("writer &lt;test&gt;", html, StringComparison.Ordinal);
            Assert.DoesNotContain("<test>", html, StringComparison.Ordinal);
            // Two latency-vs-load charts (TTFT, TPOT) per candidate that fits, plus the Pareto chart.
            var fits = Report.Value.Candidates.Count(c => c.Fits);
            Assert.Equal((2 * fits) + 1, CountOf(html, "<svg"));
            Assert.Contains("stroke-dasharray=\"5,3\"", html, StringComparison.Ordinal);
            Assert.Contains("does not fit", html, StringComparison.Ordinal);

            var csv = File.ReadAllLines(Path.Combine(dir, ProcurementReportWriter.CsvFile));
            Assert.Equal(1 + Report.Value.Candidates.Count, csv.Length);
            Assert.StartsWith("rank,candidate,", csv[0], StringComparison.Ordinal);

            var md = File.ReadAllText(Path.Combine(dir, ProcurementReportWriter.MarkdownFile));
            Assert.Contains("**Verdict:**", md, StringComparison.Ordinal);
            // Bought by the token, the fleet and its load are the vendor's: no utilisation or headroom of the buyer's to show.
            var api = Report.Value.Candidates.Single(c => c.Hardware == "wse-3");
            Assert.Contains($"| {api.Id} | {api.Devices} (API) | - | - |", md, StringComparison.Ordinal);

            // How far to trust each row: its SLO margin beside its family's holdout error, or why that is unknown.
            Assert.Contains("| SLO margin vs error | sim. error on unseen data (family rows, or own sweep) |", md, StringComparison.Ordinal);
            Assert.Contains("How far to trust these figures", md, StringComparison.Ordinal);
            Assert.Contains("unknown: no holdout row of cerebras-wse", md, StringComparison.Ordinal);
            var hopper = Report.Value.Candidates.Single(c => c.Hardware == "h100-sxm").FamilyError!;
            Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{hopper.MedianAbsoluteError * 100:F0} % median, {hopper.WorstRatio:F2}× worst, {hopper.Rows} rows ("), md, StringComparison.Ordinal);
            Assert.Contains("SLO margin vs error</th>", html, StringComparison.Ordinal);
            Assert.Contains(Report.Value.Candidates.Any(c => c.MarginCoversError == false) ? "class=\"m warn\"" : "</table>", html, StringComparison.Ordinal);
            var header = csv[0].Split(',');
            Assert.Contains("slo_margin", header);
            Assert.Contains("family_holdout_worst_ratio", header);
            Assert.All(csv.Skip(1), line => Assert.Equal(header.Length, line.Split(',').Length));

            var back = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(dir, ProcurementReportWriter.JsonFile)), SimulatorJsonContext.Default.ProcurementReport)!;
            Assert.True(back.Simulated);
            Assert.Equal(Report.Value.Candidates.Select(c => c.Id), back.Candidates.Select(c => c.Id));
            Assert.Equal(Report.Value.Verdict, back.Verdict);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int CountOf(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
