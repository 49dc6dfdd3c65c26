using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

public class PassRateTests
{
    private static AttemptRecord Graded(int repeat, string? outcome, AttemptStatus status = AttemptStatus.Ok) =>
        MetricsTests.Record([new StreamEvent(0, StreamEventKind.RequestStart), new StreamEvent(1000, StreamEventKind.Content, 1), new StreamEvent(2000, StreamEventKind.End)], 1, status, repeat: repeat)
        with { TaskKind = "Stub", Language = "python", Grade = outcome is null ? null : new AttemptGrade { Outcome = outcome, Isolation = "test" } };

    [Fact]
    public void PassRate_FailedGeneration_CountsAsNotPassedNeverDropped()
    {
        var summary = SummaryCalculator.Compute("r", [Graded(0, "passed"), Graded(1, "wrong_answer"), Graded(2, null, AttemptStatus.Error)], new SloSpec());
        var grading = summary.Backends[0].Grading!;
        Assert.Equal(3, grading.Graded);
        Assert.Equal(1, grading.Passed);
        Assert.Equal(1 / 3.0, grading.PassRate, 9);
        Assert.Equal(1, grading.Outcomes["generation_failed"]);
    }

    [Fact]
    public void PassRate_UngradedRun_HasNoGradingSummary()
    {
        var summary = SummaryCalculator.Compute("r", [Graded(0, null), Graded(1, null, AttemptStatus.Timeout)], new SloSpec());
        Assert.Null(summary.Backends[0].Grading);
    }
}
