using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting.Tests;

public sealed class RunVerdictTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-verdict-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Decide_SloOnP99_SaysWhoMissesAndByHowMuch()
    {
        var data = ExampleRun.CopyTo(_dir).Load();
        var wse = data.Summary.Backends.Single(b => b.Backend == "sim-wse3-llama70b");
        var p99 = wse.Metrics["ttft_ms"].P99;
        // A target 20 % below the measured p99: missed by 25 % (p99 / limit − 1).
        var limit = p99 / 1.25;
        var verdict = RunVerdict.Decide(data.Summary, data.Manifest with { Plan = data.Manifest.Plan with { Slo = new SloSpec(TtftMs: limit) } });
        var check = verdict.Backends.Single(b => b.Backend == "sim-wse3-llama70b").Checks.Single(c => c.Target.StartsWith("TTFT", StringComparison.Ordinal));
        Assert.False(check.Met);
        Assert.Equal(0.25, check.Miss, 6);
        Assert.Contains("misses TTFT p99 by 25 %", verdict.Backends.Single(b => b.Backend == "sim-wse3-llama70b").Sentence, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_ExampleRun_FlowTargetAndLabels()
    {
        var data = ExampleRun.CopyTo(_dir).Load();
        var verdict = RunVerdict.Decide(data.Summary, data.Manifest);
        foreach (var b in verdict.Backends)
        {
            var inFlow = data.Summary.Backends.Single(s => s.Backend == b.Backend).Flow!.InFlowRatio;
            Assert.Equal(inFlow >= RunVerdict.FlowTargetRatio, b.MeetsAll);
        }

        Assert.Equal(BackendNature.RandomWeights, verdict.Backends.Single(b => b.Backend == "local-tiny-random").Nature);
        Assert.Contains(verdict.Findings, f => f.Contains("random weights: timings real, text meaningless", StringComparison.Ordinal));
        // The random-weight model is never "best pass rate".
        Assert.DoesNotContain(verdict.Findings, f => f.StartsWith("best pass rate: local", StringComparison.Ordinal));
    }

    [Fact]
    public void Slices_TinyN_AreMergedAndLargeOnesStandAlone()
    {
        var rates = new Dictionary<string, PassRates>
        {
            ["stub"] = new(10, 9, 0.9, new Dictionary<string, double>(), new Dictionary<string, double>()),
            ["fix"] = new(2, 1, 0.5, new Dictionary<string, double>(), new Dictionary<string, double>()),
            ["explain"] = new(3, 3, 1.0, new Dictionary<string, double>(), new Dictionary<string, double>()),
        };
        var backend = new BackendSummary
        {
            Backend = "b",
            Counts = new AttemptCounts(15, 15, 0, 0, 0, 0),
            Goodput = new GoodputSummary(new SloSpec(), 15, 1, 1),
            Metrics = new Dictionary<string, LatencyStatistics>(),
            Tokens = new TokenSummary(0, 0, 0, "tokenizer", null, null, "t"),
            Grading = new GradingSummary { Graded = 15, Passed = 13, PassRate = 13 / 15.0, ByKind = rates },
        };
        var slices = PassRateSlices.Build([backend], g => g.ByKind, "kind");
        Assert.Equal(2, slices.Count);
        Assert.Equal("kind stub", slices[0].Label);
        Assert.Equal("kinds explain + fix (merged)", slices[1].Label);
        Assert.Equal((4, 5), slices[1].ByBackend["b"]);
        Assert.Equal("80 % [38, 96] of 5", ReportTables.Rate(4, 5));
    }
}
