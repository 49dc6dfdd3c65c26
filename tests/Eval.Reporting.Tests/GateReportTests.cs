using System.Xml;
using System.Xml.Linq;
using System.Xml.Schema;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting.Tests;

public sealed class GateReportTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 3, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spark-eval-gate-" + Guid.NewGuid().ToString("N"));

    public GateReportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static GateReport RegressedComparison()
    {
        var baseline = SyntheticRuns.Create("night-1", seed: 1, tasks: 10, repeats: 4, ttftMedianMs: 200, passRate: 0.9);
        var candidate = SyntheticRuns.Create("night-2", seed: 2, tasks: 10, repeats: 4, ttftMedianMs: 400, passRate: 0.9);
        var result = RunComparison.Compare(baseline, candidate, new Dictionary<string, string>(), new Dictionary<string, double>());
        return GateReport.FromComparison(result, Now);
    }

    private static List<string> Validate(string xml)
    {
        var schemas = new XmlSchemaSet();
        schemas.Add(null, Path.Combine(AppContext.BaseDirectory, "Schemas", "junit-common.xsd"));
        var errors = new List<string>();
        XDocument.Parse(xml).Validate(schemas, (_, e) => errors.Add(e.Message));
        return errors;
    }

    [Fact]
    public void JUnit_Comparison_ValidatesAgainstCommonSchemaWithOneCasePerBackendAndMetric()
    {
        var gate = RegressedComparison();
        var xml = JUnitReport.Render(gate);

        Assert.Empty(Validate(xml));
        var doc = XDocument.Parse(xml);
        var cases = doc.Descendants("testcase").ToList();
        Assert.Equal(gate.Cases.Count, cases.Count);
        Assert.Equal(cases.Count, cases.Select(c => (string?)c.Attribute("classname") + "/" + (string?)c.Attribute("name")).Distinct().Count());
        var failure = Assert.Single(doc.Descendants("failure"), f => f.Parent!.Attribute("name")!.Value == "ttft_p50_ms");
        Assert.Contains("baseline", failure.Value, StringComparison.Ordinal);
        Assert.Matches(@"\+\d+\.\d %", failure.Value);
        Assert.Equal(gate.Count(GateStatus.Failed).ToString(System.Globalization.CultureInfo.InvariantCulture), doc.Root!.Attribute("failures")!.Value);
    }

    [Fact]
    public void JUnit_SchemaCheck_RejectsADocumentMissingARequiredCount()
    {
        // The schema check is live: the same document without a suite's test count is invalid.
        var doc = XDocument.Parse(JUnitReport.Render(RegressedComparison()));
        doc.Descendants("testsuite").First().Attribute("tests")!.Remove();
        Assert.NotEmpty(Validate(doc.ToString()));
    }

    [Fact]
    public void JUnit_SkippedAndPassedCases_ValidateAndCount()
    {
        var gate = new GateReport("spark-eval run --fail-if x", Now,
        [
            new GateCase("a <&> b", "ttft_p99_ms", GateStatus.Passed, "ttft_p99_ms = 100 within ttft_p99_ms>800"),
            new GateCase("a <&> b", "pass_rate", GateStatus.Skipped, "not graded"),
        ], []);
        var xml = JUnitReport.Render(gate);
        Assert.Empty(Validate(xml));
        var root = XDocument.Parse(xml).Root!;
        Assert.Equal("0", root.Attribute("failures")!.Value);
        Assert.Equal("1", root.Attribute("skipped")!.Value);
        Assert.Equal("a <&> b", root.Element("testsuite")!.Attribute("name")!.Value);
    }

    [Fact]
    public void Publish_WithStepSummary_AppendsMarkdownWritesJUnitAndEndsWithFailLine()
    {
        var gate = RegressedComparison();
        var summary = Path.Combine(_dir, "summary.md");
        File.WriteAllText(summary, "earlier step\n");
        var junit = Path.Combine(_dir, "out", "gate.xml");
        using var verdict = new StringWriter();

        gate.Publish(junit, summary, verdict);

        var markdown = File.ReadAllText(summary);
        Assert.StartsWith("earlier step\n", markdown, StringComparison.Ordinal);
        Assert.Contains("| sim-a | ttft_p50_ms | **FAIL** |", markdown, StringComparison.Ordinal);
        Assert.Empty(Validate(File.ReadAllText(junit)));
        var line = Assert.Single(verdict.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("FAIL: spark-eval compare night-1 → night-2", line, StringComparison.Ordinal);
        Assert.Contains("sim-a ttft_p50_ms", line, StringComparison.Ordinal);
    }

    [Fact]
    public void VerdictLine_NothingFailed_IsPass()
    {
        var gate = new GateReport("g", Now, [new GateCase("a", "error_rate", GateStatus.Passed, "ok")], []);
        Assert.Equal("PASS: g: 1 checks, 0 failed, 0 skipped", gate.VerdictLine());
        Assert.False(gate.Failed);
    }
}
