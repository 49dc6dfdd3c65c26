namespace Spark.Eval.Reporting.Tests;

/// <summary>The compare gate's power at the recommended size, on synthetic runs with seeded noise (no real backend timings).</summary>
public sealed class NightlyPowerTests
{
    private static readonly Dictionary<string, string> NoMap = [];

    [Fact]
    public void Plan_RecommendedSize_AtMostOneFalseAlarmInTwentyAndInjectedRegressionsFlagged()
    {
        var pilot = SyntheticRuns.Create("pilot", seed: 7, tasks: 20, repeats: 3, passRate: 0.9);
        var plan = PowerAnalysis.Plan(pilot, PowerAnalysis.ParseTargets("ttft_p50_ms=10%,pass_rate=5pts"));
        var repeats = plan.RecommendedRepeats;
        Assert.InRange(repeats, 4, 200);
        TestContext.Current.TestOutputHelper?.WriteLine($"recommended repeats: {repeats} × 20 tasks; tolerances {string.Join(", ", plan.Rows.Select(r => $"{r.Metric}={r.RecommendedTolerance:F4} ({r.RecommendedRepeats} repeats)"))}");
        var tolerances = plan.Rows.ToDictionary(r => r.Metric, r => r.RecommendedTolerance);
        Assert.InRange(tolerances["ttft_p50_ms"], 0.06, 0.08);
        Assert.InRange(tolerances["pass_rate"], 0.03, 0.04);

        var alarms = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var baseline = SyntheticRuns.Create($"b{i}", seed: 1000 + (2 * i), tasks: 20, repeats: repeats, passRate: 0.9);
            var candidate = SyntheticRuns.Create($"c{i}", seed: 1001 + (2 * i), tasks: 20, repeats: repeats, passRate: 0.9);
            var result = RunComparison.Compare(baseline, candidate, NoMap, tolerances, seed: i);
            alarms.AddRange(result.Rows.Where(r => r.Verdict == RunComparison.Regressed).Select(r => $"{i}: {r.Metric} {RunComparison.FormatChange(r)}"));
        }

        Assert.True(alarms.Count <= 1, "false alarms: " + string.Join("; ", alarms));

        var night = SyntheticRuns.Create("night", seed: 5000, tasks: 20, repeats: repeats, passRate: 0.9);
        var slower = SyntheticRuns.Create("slower", seed: 5001, tasks: 20, repeats: repeats, ttftMedianMs: 240, passRate: 0.9);
        var worse = SyntheticRuns.Create("worse", seed: 5002, tasks: 20, repeats: repeats, passRate: 0.8);
        Assert.Equal(RunComparison.Regressed, RunComparison.Compare(night, slower, NoMap, tolerances).Rows.Single(r => r.Metric == "ttft_p50_ms").Verdict);
        Assert.Equal(RunComparison.Regressed, RunComparison.Compare(night, worse, NoMap, tolerances).Rows.Single(r => r.Metric == "pass_rate").Verdict);
    }

    [Fact]
    public void Compare_NightlySizedRuns_ShowDetectableEffectLargerThanTheMissedSlowdown()
    {
        // 6 tasks × 2 repeats: a +57 % slowdown can go unflagged; the detectable column says why.
        var small = RunComparison.Compare(
            SyntheticRuns.Create("a", seed: 1, tasks: 6, repeats: 2, ttftSigma: 0.5),
            SyntheticRuns.Create("b", seed: 2, tasks: 6, repeats: 2, ttftSigma: 0.5, ttftMedianMs: 314), NoMap, new Dictionary<string, double>());
        var ttft = small.Rows.Single(r => r.Metric == "ttft_p50_ms");
        Assert.True(ttft.MinimumDetectable > 1.57, $"detectable {RunComparison.FormatDetectable(ttft)}");
        var pass = small.Rows.Single(r => r.Metric == "pass_rate");
        Assert.True(pass.MinimumDetectable > 0.25, $"detectable {RunComparison.FormatDetectable(pass)}");

        var large = RunComparison.Compare(
            SyntheticRuns.Create("a", seed: 1, tasks: 20, repeats: 20, ttftSigma: 0.5),
            SyntheticRuns.Create("b", seed: 2, tasks: 20, repeats: 20, ttftSigma: 0.5), NoMap, new Dictionary<string, double>());
        var largeTtft = large.Rows.Single(r => r.Metric == "ttft_p50_ms");
        Assert.InRange(largeTtft.MinimumDetectable!.Value, 1.10, 1.20);
    }

    [Fact]
    public void LogMedianStandardError_LogNormalSample_MatchesTheAsymptoticValue()
    {
        // Median of n normal log latencies: SE = √(π/2)·σ/√n.
        var run = SyntheticRuns.Create("big", seed: 11, tasks: 20, repeats: 50, ttftSigma: 0.3, graded: false);
        var expected = Math.Sqrt(Math.PI / 2) * 0.3 / Math.Sqrt(1000);
        Assert.InRange(PowerAnalysis.LogMedianStandardError(run.Samples[0].TtftMs), expected * 0.85, expected * 1.15);
    }

    [Fact]
    public void ParseTargets_PointsPercentAndUnknownMetric()
    {
        var targets = PowerAnalysis.ParseTargets("ttft_p50_ms=10%, pass_rate=5pts,error_rate=0.02");
        Assert.Equal(0.10, targets["ttft_p50_ms"], 9);
        Assert.Equal(0.05, targets["pass_rate"], 9);
        Assert.Equal(0.02, targets["error_rate"], 9);
        var ex = Assert.Throws<Spark.Eval.Core.InputException>(() => PowerAnalysis.ParseTargets("ttft_p99_ms=10%"));
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Aggregate_SeveralRuns_GiveOneEstimateWithAnIntervalCoveringTheTruth()
    {
        var runs = Enumerable.Range(0, 5).Select(i => SyntheticRuns.Create($"r{i}", seed: 300 + i, tasks: 20, repeats: 5)).ToList();
        var estimates = RunAggregate.Estimate(runs);
        var ttft = estimates.Single(e => e.Metric == "ttft_p50_ms");
        Assert.Equal(5, ttft.Runs);
        Assert.InRange(200, ttft.Low!.Value, ttft.High!.Value);
        Assert.True(ttft.High - ttft.Low < 40);
        var pass = estimates.Single(e => e.Metric == "pass_rate");
        Assert.InRange(0.8, pass.Low!.Value, pass.High!.Value);
        Assert.InRange(pass.Estimate * 500, 370, 430);
    }

    [Fact]
    public void BootstrapMedian_BySelection_EqualsType7Median()
    {
        var random = new Random(3);
        for (var n = 1; n < 40; n++)
        {
            var values = Enumerable.Range(0, n).Select(_ => Math.Round(random.NextDouble() * 10)).ToArray();
            var sorted = values.OrderBy(v => v).ToArray();
            Assert.Equal(Spark.Eval.Core.Metrics.LatencyStatistics.Percentile(sorted, 0.5), BootstrapMedian.Median(values), 12);
        }
    }
}
