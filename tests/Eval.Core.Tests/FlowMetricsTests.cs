using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

public class FlowMetricsTests
{
    private static AttemptRecord Attempt(int repeat, long ttftMs, long endMs, AttemptStatus status = AttemptStatus.Ok, string? grade = null)
    {
        List<StreamEvent> events = [new(0, StreamEventKind.RequestStart)];
        if (status == AttemptStatus.Ok)
        {
            events.Add(new(ttftMs * 1000, StreamEventKind.Content, 1));
            events.Add(new(endMs * 1000, StreamEventKind.End));
        }
        else
        {
            events.Add(new(endMs * 1000, StreamEventKind.End));
        }

        return MetricsTests.Record(events, 2, status, repeat: repeat) with
        {
            TaskKind = "Stub",
            Language = "python",
            Grade = grade is null ? null : new AttemptGrade { Outcome = grade, Isolation = "test" },
        };
    }

    [Fact]
    public void Flow_Bands_CountFailuresAsBreaksInTheDenominator()
    {
        // instant+flow, flow only, attention only, too slow, failed after 3 s.
        var summary = SummaryCalculator.Compute("r",
        [
            Attempt(0, 50, 800), Attempt(1, 300, 999), Attempt(2, 90, 4_000), Attempt(3, 200, 12_000),
            Attempt(4, 0, 3_000, AttemptStatus.Error),
        ], new SloSpec());
        var flow = summary.Backends[0].Flow!;
        Assert.Equal(5, flow.Decided);
        Assert.Equal(2 / 5.0, flow.InstantFeedbackRatio, 9);
        Assert.Equal(2 / 5.0, flow.InFlowRatio, 9);
        Assert.Equal(3 / 5.0, flow.AttentionKeptRatio, 9);
        Assert.Equal(2 / 5.0, flow.FlowBreakRatio, 9);
        Assert.Equal((0.8 + 0.999 + 4 + 12 + 3) / 5, flow.MeanWaitSeconds, 9);
        Assert.Null(flow.WaitPerPassSeconds);
    }

    [Fact]
    public void Flow_WaitPerPass_IsAllWaitingOverPassedAnswers()
    {
        var summary = SummaryCalculator.Compute("r",
        [
            Attempt(0, 100, 1_000, grade: "passed"), Attempt(1, 100, 2_000, grade: "wrong_answer"),
            Attempt(2, 0, 3_000, AttemptStatus.Timeout),
        ], new SloSpec());
        var backend = summary.Backends[0];
        Assert.Equal(6.0, backend.Flow!.WaitPerPassSeconds!.Value, 9);
        Assert.Equal(6.0, SummaryCalculator.Scalars(backend)["flow_wait_per_pass_s"], 9);
    }
}

public class ProportionIntervalTests
{
    [Theory]
    [InlineData(0, 10, 0.0, 0.2775)]
    [InlineData(5, 10, 0.2366, 0.7634)]
    [InlineData(10, 10, 0.7225, 1.0)]
    public void Wilson95_MatchesPublishedValues(int passed, int n, double low, double high)
    {
        var (l, h) = Spark.Eval.Core.Metrics.ProportionInterval.Wilson95(passed, n);
        Assert.Equal(low, l, 3);
        Assert.Equal(high, h, 3);
    }
}
