using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting.Tests;

/// <summary>report.html and report.md written from the committed real run: they open with a verdict and print only honest figures.</summary>
public sealed class ReportDecidesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-decides-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (string Html, string Md, string Csv) Write(SloSpec? slo = null)
    {
        var directory = ExampleRun.CopyTo(_dir, slo);
        directory.WriteSummaries(directory.ReadManifest());
        return (File.ReadAllText(Path.Combine(_dir, HtmlReport.FileName)), File.ReadAllText(Path.Combine(_dir, MarkdownReport.FileName)),
            File.ReadAllText(Path.Combine(_dir, CsvReports.SummaryFileName)));
    }

    [Fact]
    public void Html_OpensWithTheVerdictBeforeAnyTable()
    {
        var (html, md, _) = Write();
        var verdict = html.IndexOf("<h2>Verdict</h2>", StringComparison.Ordinal);
        Assert.True(verdict > 0);
        Assert.True(verdict < html.IndexOf("<table", StringComparison.Ordinal));
        Assert.True(verdict < html.IndexOf("<p>Run ", StringComparison.Ordinal));
        Assert.Contains("the flow target", html, StringComparison.Ordinal);
        Assert.Contains("## Verdict", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Html_NoGlitches_OneRepeatAndOneDotNet()
    {
        var (html, _, _) = Write();
        Assert.Contains("1 repeat,", html, StringComparison.Ordinal);
        Assert.DoesNotContain("1 repeats", html, StringComparison.Ordinal);
        Assert.DoesNotContain(".NET .NET", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Reports_WithoutSlo_GoodputIsADashAndTheSloLineSaysNone()
    {
        var (html, md, csv) = Write();
        Assert.Contains("SLO: none set, so no goodput", html, StringComparison.Ordinal);
        var goodput = ReportTables.Columns.ToList().FindIndex(c => c.Header == "goodput");
        var rows = md.Split('\n').Where(l => l.StartsWith("| sim-", StringComparison.Ordinal) || l.StartsWith("| local-", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, rows.Count);
        Assert.All(rows, r => Assert.Equal("–", r.Split('|')[goodput + 1].Trim()));
        Assert.DoesNotContain("goodput_ratio", csv.Split('\n')[0], StringComparison.Ordinal);
        Assert.Contains("local-tiny-random (random weights: timings real, text meaningless)", html, StringComparison.Ordinal);
        Assert.Contains("class=\"rand\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Reports_WithSlo_PrintTheSloBesideGoodput()
    {
        var (html, md, csv) = Write(new SloSpec(TtftMs: 100));
        Assert.Contains("SLO: TTFT ≤ 100 ms", html, StringComparison.Ordinal);
        Assert.Contains("SLO: TTFT ≤ 100 ms", md, StringComparison.Ordinal);
        var header = csv.Split('\n')[0].Split(',');
        var row = csv.Split('\n')[1].Split(',');
        Assert.Contains("goodput_ratio", header);
        Assert.Equal("100", row[Array.IndexOf(header, "slo_ttft_ms")]);
    }

    [Fact]
    public void Html_PerKindPassRates_CarryIntervalsAndMergeTinySlices()
    {
        var (html, _, _) = Write();
        // results/example has 1 attempt per task: every kind and language slice is tiny and merged.
        Assert.Contains("kinds ", html, StringComparison.Ordinal);
        Assert.Contains("(merged)", html, StringComparison.Ordinal);
        Assert.Matches(@"\d+ % \[\d+, \d+\] of \d+", html);
    }
}
