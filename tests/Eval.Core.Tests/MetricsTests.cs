using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

public class MetricsTests
{
    internal static AttemptRecord Record(
        IReadOnlyList<StreamEvent> events, long answerTokens, AttemptStatus status = AttemptStatus.Ok,
        string backend = "b", string task = "t", int repeat = 0, long startUs = 0, long? usage = null, long? reasoning = null) => new()
    {
        Slot = new SlotKey(task, backend, repeat),
        StartUs = startUs,
        Events = events,
        Outcome = new AttemptOutcome(status, status == AttemptStatus.Ok ? null : "boom"),
        Answer = "",
        Tokens = new TokenCounts { OutputTokenizer = answerTokens, OutputUsage = usage, ReasoningUsage = reasoning, Tokenizer = "test" },
    };

    private static StreamEvent E(long ms, StreamEventKind kind, int chars = 1) => new(ms * 1000, kind, chars);

    [Fact]
    public void Compute_OneTokenAnswer_TpotUndefinedNotZero()
    {
        var m = AttemptMetrics.Compute(Record([E(0, StreamEventKind.RequestStart), E(40, StreamEventKind.Content), E(45, StreamEventKind.End)], 1));
        Assert.Equal(40, m.TtftMs);
        Assert.Equal(45, m.E2eMs);
        Assert.Null(m.TpotMs);
    }

    [Fact]
    public void Compute_ReasoningThenContent_TtftToContentTtftAnyToReasoning()
    {
        var events = new[]
        {
            E(0, StreamEventKind.RequestStart), E(10, StreamEventKind.Empty, 0), E(20, StreamEventKind.Reasoning),
            E(50, StreamEventKind.Content), E(60, StreamEventKind.Content), E(70, StreamEventKind.Content), E(71, StreamEventKind.Usage, 0), E(72, StreamEventKind.End),
        };
        // usage says 8 output tokens of which 5 reasoning: 3 answer tokens.
        var m = AttemptMetrics.Compute(Record(events, 99, usage: 8, reasoning: 5));
        Assert.Equal(50, m.TtftMs);
        Assert.Equal(10, m.TtftAnyMs);
        Assert.Equal(3, m.AnswerTokens);
        Assert.Equal((72 - 50) / 2.0, m.TpotMs);
        Assert.Equal(3 / 0.072, m.OutputTokensPerSecond!.Value, 6);
    }

    [Fact]
    public void ChunkGaps_ExcludeEmptyAndUsageUpdates()
    {
        var events = new[]
        {
            E(0, StreamEventKind.RequestStart), E(20, StreamEventKind.Content), E(25, StreamEventKind.Empty, 0),
            E(30, StreamEventKind.Content), E(31, StreamEventKind.Usage, 0), E(45, StreamEventKind.Content), E(46, StreamEventKind.End),
        };
        var histogram = new LogHistogram();
        AttemptMetrics.AddChunkGaps(Record(events, 3), histogram);
        Assert.Equal(2, histogram.Count);
        Assert.Equal(10_000, histogram.Min);
        Assert.Equal(15_000, histogram.Max);
    }

    [Fact]
    public void Compute_AfterRetry_UserFacingLatencyFromFirstTryAndServingTryBesideIt()
    {
        var events = new[]
        {
            E(0, StreamEventKind.RequestStart), E(5, StreamEventKind.ResponseHeaders), E(1000, StreamEventKind.Retry),
            E(1010, StreamEventKind.ResponseHeaders), E(1050, StreamEventKind.Content), E(1100, StreamEventKind.Content), E(1100, StreamEventKind.End),
        };
        var m = AttemptMetrics.Compute(Record(events, 2));
        // The developer waited from the first try's start: 1,050 ms to the first token, not the serving try's 50.
        Assert.Equal(1050, m.TtftMs);
        Assert.Equal(50, m.TtftServingTryMs);
        Assert.Equal(10, m.ResponseHeadersMs);
        Assert.Equal(1100, m.E2eMs);
        Assert.Equal(100, m.E2eServingTryMs);
        Assert.Equal(1100, m.E2eWithRetriesMs);
        Assert.True(m.Retried);
    }

    [Fact]
    public void Summary_ServerCountsFarFewerInputTokensThanClient_WarnsOfTruncation()
    {
        StreamEvent[] ok = [E(0, StreamEventKind.RequestStart), E(100, StreamEventKind.Content), E(200, StreamEventKind.End)];
        var full = Record(ok, 2, repeat: 0) with { Tokens = new TokenCounts { InputUsage = 1500, InputTokenizer = 1621, Tokenizer = "o200k_base" } };
        var cut = Record(ok, 2, repeat: 1) with { Tokens = new TokenCounts { InputUsage = 512, InputTokenizer = 1621, Tokenizer = "o200k_base" } };

        var clean = SummaryCalculator.Compute("r", [full], new SloSpec());
        var truncated = SummaryCalculator.Compute("r", [full, cut], new SloSpec());

        Assert.Empty(SummaryCalculator.Warnings(clean));
        var warning = Assert.Single(SummaryCalculator.Warnings(truncated));
        Assert.Contains("1 of 2 attempts", warning, StringComparison.Ordinal);
        Assert.Contains("512 against 1621", warning, StringComparison.Ordinal);
        Assert.Contains(warning, truncated.Notes);
    }

    [Fact]
    public void Compute_RequestSentMarked_SendDelayIsTheClientsOwnFigureFromTheFirstTry()
    {
        StreamEvent[] events = [E(0, StreamEventKind.RequestStart), E(3, StreamEventKind.RequestSent), E(400, StreamEventKind.Retry), E(402, StreamEventKind.RequestSent),
            E(450, StreamEventKind.Content), E(460, StreamEventKind.End)];
        StreamEvent[] simulated = [E(0, StreamEventKind.RequestStart), E(50, StreamEventKind.Content), E(60, StreamEventKind.End)];

        Assert.Equal(3, AttemptMetrics.Compute(Record(events, 2)).SendDelayMs);
        Assert.Null(AttemptMetrics.Compute(Record(simulated, 2)).SendDelayMs);
        var summary = Assert.Single(SummaryCalculator.Compute("r", [Record(simulated, 2)], new SloSpec()).Backends);
        Assert.False(summary.Metrics.ContainsKey("send_delay_ms"));
    }

    [Fact]
    public void Summary_SomeAttemptRetried_ReportsServingTryDistributionsBesideTheUserFacingOnes()
    {
        StreamEvent[] plain = [E(0, StreamEventKind.RequestStart), E(100, StreamEventKind.Content), E(200, StreamEventKind.End)];
        StreamEvent[] retried = [E(0, StreamEventKind.RequestStart), E(700, StreamEventKind.Retry), E(800, StreamEventKind.Content), E(900, StreamEventKind.End)];

        var without = Assert.Single(SummaryCalculator.Compute("r", [Record(plain, 2, repeat: 0), Record(plain, 2, repeat: 1)], new SloSpec()).Backends);
        var with = Assert.Single(SummaryCalculator.Compute("r", [Record(plain, 2, repeat: 0), Record(retried, 2, repeat: 1)], new SloSpec()).Backends);

        Assert.False(without.Metrics.ContainsKey("ttft_serving_try_ms"));
        Assert.Equal(800, with.Metrics["ttft_ms"].Max);
        Assert.Equal(100, with.Metrics["ttft_serving_try_ms"].Max);
        Assert.Equal(200, with.Metrics["e2e_serving_try_ms"].Max);
    }

    [Fact]
    public void Summary_FailedAttempts_CountInErrorRateAndAgainstGoodputButNotInLatency()
    {
        StreamEvent[] ok(long ttft) => [E(0, StreamEventKind.RequestStart), E(ttft, StreamEventKind.Content), E(ttft + 10, StreamEventKind.Content), E(ttft + 10, StreamEventKind.End)];
        var records = new[]
        {
            Record(ok(100), 2, startUs: 0, repeat: 0),
            Record(ok(300), 2, startUs: 500_000, repeat: 1),
            Record([E(0, StreamEventKind.RequestStart), E(50, StreamEventKind.End)], 0, AttemptStatus.Error, repeat: 2, startUs: 100_000),
            Record([E(0, StreamEventKind.RequestStart), E(5, StreamEventKind.End)], 0, AttemptStatus.Cancelled, repeat: 3, startUs: 200_000),
            Record(ok(10), 2, repeat: 4) with { Slot = new SlotKey("t", "b", 0, Warmup: true) },
        };
        var summary = SummaryCalculator.Compute("r", records, new SloSpec(TtftMs: 200));
        var b = Assert.Single(summary.Backends);
        Assert.Equal(new AttemptCounts(4, 2, 1, 0, 1, 1), b.Counts);
        Assert.Equal(1 / 3.0, b.ErrorRate, 9);
        Assert.Equal(2, b.Metrics["ttft_ms"].Count);
        Assert.Equal(200, b.Metrics["ttft_ms"].P50);
        // Good: only the 100 ms attempt; denominator ok + error + timeout = 3.
        Assert.Equal(1, b.Goodput.GoodAttempts);
        Assert.Equal(1 / 3.0, b.Goodput.Ratio, 9);
        // Duration: first start 0 µs to last end 500 ms + 310 ms.
        Assert.Equal(0.81, b.DurationSeconds, 9);
        Assert.Equal(2 / 0.81, b.RequestThroughputRps, 9);
        Assert.Equal(4 / 0.81, b.OutputTokenThroughputTps, 9);
        Assert.Equal(1, b.ErrorClasses["boom"]);
    }

    [Fact]
    public void Percentile_Type7_MatchesNumpy()
    {
        double[] values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        Assert.Equal(5.5, LatencyStatistics.Percentile(values, 0.5), 12);
        Assert.Equal(9.1, LatencyStatistics.Percentile(values, 0.9), 12);
        Assert.Equal(9.91, LatencyStatistics.Percentile(values, 0.99), 12);
        var stats = LatencyStatistics.FromSamples(values, "ms")!;
        Assert.Equal(3.0276503540974917, stats.StdDev, 12);
        // t(0.975, 9) = 2.2622
        Assert.Equal(5.5 - (2.2622 * 3.0276503540974917 / Math.Sqrt(10)), stats.Ci95Mean![0], 2);
    }

    [Theory]
    [InlineData(10, 2.2281)]
    [InlineData(30, 2.0423)]
    [InlineData(1000, 1.9623)]
    public void StudentT975_MatchesTables(long df, double expected) =>
        Assert.Equal(expected, LatencyStatistics.StudentT975(df), 3);

    [Fact]
    public void LogHistogram_PercentilesWithinStatedRelativeError()
    {
        var random = new Random(7);
        var histogram = new LogHistogram();
        var values = new double[200_000];
        for (var i = 0; i < values.Length; i++)
        {
            var v = (long)Math.Exp(random.NextDouble() * 16);
            values[i] = v;
            histogram.Add(v);
        }

        Array.Sort(values);
        foreach (var p in new[] { 0.5, 0.9, 0.95, 0.99, 0.999 })
        {
            var exact = LatencyStatistics.Percentile(values, p);
            Assert.InRange(histogram.Percentile(p), exact * 0.9995, exact * 1.0005);
        }

        Assert.Equal(values.Average(), histogram.Mean, 6);
    }
}
