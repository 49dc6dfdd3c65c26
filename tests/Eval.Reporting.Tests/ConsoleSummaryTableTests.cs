using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting.Tests;

public sealed class ConsoleSummaryTableTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-table-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Lines_ExampleRun_FitsHundredColumnsWithKeyColumnsAndVerdict()
    {
        var data = ExampleRun.CopyTo(_dir).Load();
        var lines = ConsoleSummaryTable.Lines(data.Summary, data.Manifest);
        Assert.All(lines, l => Assert.True(l.Length <= 100, $"{l.Length} columns: {l}"));
        var header = lines[0];
        foreach (var column in new[] { "backend", "kind", "ok/all", "TTFT p50", "TTFT p99", "TPOT p50", "E2E p50", "pass", "in flow" })
        {
            Assert.Contains(column, header, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("ITL", header, StringComparison.Ordinal);
        // Without an SLO there is no goodput column and the legend says so.
        Assert.DoesNotContain("goodput", header, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("goodput: no SLO set", StringComparison.Ordinal));
        var local = Assert.Single(lines, l => l.StartsWith("local-tiny-random", StringComparison.Ordinal));
        Assert.Contains("rand-w", local, StringComparison.Ordinal);
        Assert.Contains("sim", Assert.Single(lines, l => l.StartsWith("sim-wse3-llama70b", StringComparison.Ordinal)), StringComparison.Ordinal);
        // The verdict ends the output: every line from the first "verdict:" on is a verdict line or its continuation.
        var first = lines.ToList().FindIndex(l => l.StartsWith("verdict:", StringComparison.Ordinal));
        Assert.True(first > 0);
        Assert.All(lines.Skip(first), l => Assert.True(l.StartsWith("verdict:", StringComparison.Ordinal) || l.StartsWith("    ", StringComparison.Ordinal), l));
        var verdict = System.Text.RegularExpressions.Regex.Replace(string.Join(" ", lines.Skip(first)), @"\s+", " ");
        Assert.Contains("verdict: meet flow target: sim-wse3-llama70b, local-tiny-random · miss: sim-m2ultra-qwen7b (in flow 83 %), sim-h100-qwen32b (in flow 67 %)", verdict, StringComparison.Ordinal);
        Assert.Contains("best pass rate: sim-wse3-llama70b 83 % [44, 97]", verdict, StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_Wide_AddsEveryOtherColumn()
    {
        var data = ExampleRun.CopyTo(_dir).Load();
        var header = ConsoleSummaryTable.Lines(data.Summary, data.Manifest, wide: true)[0];
        foreach (var column in new[] { "err %", "ITL p50", "tok/s p50", "req/s†", "goodput", "pass 95% CI", "ungraded", "s/pass" })
        {
            Assert.Contains(column, header, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Lines_WithSlo_ShowsGoodputAndTheSloStillWithinHundredColumns()
    {
        var data = ExampleRun.CopyTo(_dir, new SloSpec(TtftMs: 100, E2eMs: 1000)).Load();
        var lines = ConsoleSummaryTable.Lines(data.Summary, data.Manifest);
        Assert.All(lines, l => Assert.True(l.Length <= 100, $"{l.Length} columns: {l}"));
        Assert.Contains("goodput", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.Contains("SLO (TTFT ≤ 100 ms, E2E ≤ 1000 ms)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("TTFT p99 +", StringComparison.Ordinal));
    }

    [Fact]
    public void Lines_LongBackendName_IsShortenedNotWrapped()
    {
        var data = ExampleRun.CopyTo(_dir).Load();
        var renamed = data.Summary with { Backends = [.. data.Summary.Backends.Select(b => b with { Backend = b.Backend + "-with-a-very-long-suffix-nobody-reads" })] };
        var lines = ConsoleSummaryTable.Lines(renamed, null);
        Assert.All(lines, l => Assert.True(l.Length <= 100, $"{l.Length} columns: {l}"));
        Assert.Contains(lines, l => l.Contains('…', StringComparison.Ordinal));
    }
}
