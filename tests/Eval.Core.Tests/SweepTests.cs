using Spark.Eval.Core;
using Spark.Eval.Core.Running;

namespace Spark.Eval.Core.Tests;

/// <summary>The sweep's grammar (--sweep, --sweep-slo), its SLO verdict and its bisection.</summary>
public sealed class SweepTests
{
    [Fact]
    public void SweepSpec_ConcurrencyList_ParsesInOrder()
    {
        var spec = SweepSpec.Parse("concurrency=1, 4,16,64");
        Assert.Equal("concurrency", spec.Key);
        Assert.Equal([1.0, 4, 16, 64], spec.Values);
        Assert.Equal("concurrency=1,4,16,64", spec.ToString());
    }

    [Theory]
    [InlineData("load=1,2", "unknown sweep key 'load'")]
    [InlineData("concurrency=", "the list of values is empty")]
    [InlineData("concurrency", "not key=v1,v2")]
    [InlineData("concurrency=4,2", "not above the value before it")]
    [InlineData("concurrency=1,2,2", "not above the value before it")]
    [InlineData("concurrency=1.5", "whole number")]
    [InlineData("rate=0,1", "not a positive number")]
    [InlineData("rate=1,x", "'x' is not a positive number")]
    public void SweepSpec_BadList_IsInputErrorNamingTheProblem(string text, string expected)
    {
        var error = Assert.Throws<InputException>(() => SweepSpec.Parse(text));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SweepSpec_StepPlan_SetsOnlyTheSweptLoad()
    {
        var plan = new Results.RunPlanSpec { SuitePath = "s", BackendSpecs = ["sim"], Concurrency = 4, Rate = 2, Repeats = 3 };
        var closed = SweepSpec.Parse("concurrency=16").StepPlan(plan, 16);
        Assert.Equal(16, closed.Concurrency);
        Assert.Null(closed.Rate);
        Assert.Equal(3, closed.Repeats);
        Assert.Equal(0.5, SweepSpec.Parse("rate=0.5").StepPlan(plan, 0.5).Rate);
    }

    [Fact]
    public void SweepSlo_LatencyAndErrorRate_Parse_OthersRefused()
    {
        var slo = SweepSlo.Parse("ttft_p99_ms=800,tpot_p99_ms=50,error_rate=0.01");
        Assert.Equal(["ttft_p99_ms", "tpot_p99_ms", "error_rate"], slo.Targets.Select(t => t.Metric));
        Assert.Contains("not a latency figure", Assert.Throws<InputException>(() => SweepSlo.Parse("request_throughput_rps=5")).Message, StringComparison.Ordinal);
        Assert.Contains("not a latency figure", Assert.Throws<InputException>(() => SweepSlo.Parse("ttft_p98_ms=5")).Message, StringComparison.Ordinal);
        Assert.Contains("given twice", Assert.Throws<InputException>(() => SweepSlo.Parse("ttft_p99_ms=5,ttft_p99_ms=6")).Message, StringComparison.Ordinal);
        Assert.False(SweepSlo.Parse(null).IsSet);
    }

    [Fact]
    public void Verdicts_PassAboveAFailure_DoesNotCount()
    {
        // 1 and 4 meet, 16 misses, 64 meets again (noise): the limit is 4, the first failure 16.
        var slo = SweepSlo.Parse("ttft_p99_ms=100");
        var points = new[] { P(1, 50), P(4, 90), P(16, 140), P(64, 95) }.Select(p => p with { MeetsSlo = p.TtftP99Ms <= 100 }).ToList();
        var verdict = Assert.Single(SweepAnalysis.Verdicts(points, slo, "concurrency"));
        Assert.Equal(4, verdict.HighestPassingLoad);
        Assert.Equal(16, verdict.LowestFailingLoad);
        Assert.Contains("highest load meeting the SLO (ttft_p99_ms ≤ 100): concurrency 4", verdict.Text, StringComparison.Ordinal);
        Assert.Equal(10, SweepAnalysis.NextSearchLoad(SweepSpec.Parse("concurrency=1,4,16,64"), points));
    }

    [Fact]
    public void Verdicts_NoPassingLoad_SaysSoWithTheBreach()
    {
        var slo = SweepSlo.Parse("ttft_p99_ms=10");
        var points = new[] { P(1, 50) with { MeetsSlo = false, Breaches = ["ttft_p99_ms = 50 > 10"] } };
        var verdict = Assert.Single(SweepAnalysis.Verdicts(points, slo, "rate"));
        Assert.Null(verdict.HighestPassingLoad);
        Assert.Contains("no load meets the SLO", verdict.Text, StringComparison.Ordinal);
        Assert.Contains("ttft_p99_ms = 50 > 10", verdict.Text, StringComparison.Ordinal);
        Assert.Empty(SweepAnalysis.Verdicts(points, SweepSlo.None, "rate"));
    }

    [Fact]
    public void Bisect_StopsWhenTheBracketIsClosed()
    {
        var concurrency = SweepSpec.Parse("concurrency=1");
        Assert.Equal(6, concurrency.Bisect(4, 8));
        Assert.Null(concurrency.Bisect(4, 5));
        var rate = SweepSpec.Parse("rate=1");
        Assert.Equal(1.5, rate.Bisect(1, 2));
        Assert.Null(rate.Bisect(1.96, 2));
    }

    private static SweepPoint P(double load, double ttftP99) => new() { Backend = "b", Load = load, Step = (int)load, TtftP99Ms = ttftP99 };
}
