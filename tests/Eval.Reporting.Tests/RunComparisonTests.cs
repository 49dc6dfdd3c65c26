using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Reporting.Tests;

public class RunComparisonTests
{
    private static readonly Dictionary<string, string> NoMap = [];
    private static readonly Dictionary<string, double> Defaults = [];

    private static ReportData Run(string backend, Func<int, long> ttftMs, int count, Func<int, bool>? passes = null, string sha = "s")
    {
        var records = Enumerable.Range(0, count).Select(i => new AttemptRecord
        {
            Slot = new SlotKey("t" + i, backend, 0),
            Events = [new(0, StreamEventKind.RequestStart), new(ttftMs(i) * 1000, StreamEventKind.Content, 3), new((ttftMs(i) + 100) * 1000, StreamEventKind.Content, 3), new((ttftMs(i) + 100) * 1000, StreamEventKind.End)],
            Outcome = new AttemptOutcome(AttemptStatus.Ok, null),
            Answer = "abc",
            Tokens = new TokenCounts { OutputTokenizer = 2, Tokenizer = "o200k_base" },
            TaskKind = "Stub",
            Language = "python",
            Grade = passes is null ? null : new AttemptGrade { Outcome = passes(i) ? "passed" : "wrong_answer", Isolation = "test" },
        }).ToList();
        var manifest = new RunManifest
        {
            RunId = backend + sha,
            HarnessVersion = "test",
            Plan = new RunPlanSpec { SuitePath = "suite", BackendSpecs = [backend] },
            Suite = new SuiteInfo("mini", "embedded", sha, count),
            Backends = [],
            Environment = new EnvironmentInfo("linux", "cpu", 2, "10.0", null, "host"),
            StartedUtc = DateTimeOffset.UnixEpoch,
        };
        return ReportData.From(manifest, SummaryCalculator.Compute(manifest.RunId, records, new SloSpec()), records);
    }

    private static MetricComparison Row(RunComparisonResult result, string metric) => result.Rows.Single(r => r.Metric == metric);

    [Fact]
    public void Compare_SlowerFirstToken_IsARegression()
    {
        var result = RunComparison.Compare(Run("a", i => 50 + (i % 5), 40), Run("a", i => 70 + (i % 5), 40), NoMap, Defaults);
        var ttft = Row(result, "ttft_p50_ms");
        Assert.Equal(RunComparison.Regressed, ttft.Verdict);
        Assert.Equal(72 / 52.0, ttft.Change!.Value, 3);
        Assert.True(ttft.CiLow > 1);
        Assert.True(result.Regressed);
    }

    [Fact]
    public void Compare_SameDistribution_IsNoSignificantChange()
    {
        var result = RunComparison.Compare(Run("a", i => 50 + (i % 7), 40), Run("a", i => 50 + ((i + 3) % 7), 40), NoMap, Defaults);
        Assert.Equal(RunComparison.NoChange, Row(result, "ttft_p50_ms").Verdict);
        Assert.False(result.Regressed);
    }

    [Fact]
    public void Compare_ChangeWithinTolerance_IsNotARegressionEvenWhenSignificant()
    {
        var tolerances = new Dictionary<string, double> { ["ttft_p50_ms"] = 0.5 };
        var result = RunComparison.Compare(Run("a", i => 50 + (i % 5), 40), Run("a", i => 70 + (i % 5), 40), NoMap, tolerances);
        Assert.Equal(RunComparison.NoChange, Row(result, "ttft_p50_ms").Verdict);
    }

    [Fact]
    public void Compare_PassRateDrop_UsesNewcombeInterval()
    {
        var result = RunComparison.Compare(Run("a", _ => 50, 100, i => i % 10 < 9), Run("a", _ => 50, 100, i => i % 10 < 6), NoMap, Defaults);
        var pass = Row(result, "pass_rate");
        Assert.Equal(-0.3, pass.Change!.Value, 9);
        Assert.Equal(RunComparison.Regressed, pass.Verdict);
        Assert.True(pass.CiHigh < 0);
        Assert.True(pass.CiLow > -0.45);
    }

    [Fact]
    public void Compare_DifferentNamesWithoutMap_PairsSingleBackendsAndNotesOtherSuite()
    {
        var result = RunComparison.Compare(Run("a", _ => 50, 10), Run("b", _ => 50, 10, sha: "other"), NoMap, Defaults);
        Assert.Equal("a → b", result.Rows[0].Backend);
        Assert.Contains(result.Notes, n => n.Contains("different suites", StringComparison.Ordinal));
    }

    [Fact]
    public void Compare_MapNamingUnknownBackend_IsBadInputNamingTheFix()
    {
        var ex = Assert.Throws<InputException>(() => RunComparison.Compare(Run("a", _ => 50, 10), Run("b", _ => 50, 10), new Dictionary<string, string> { ["zz"] = "b" }, Defaults));
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }
}
