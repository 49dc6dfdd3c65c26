using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

/// <summary>Figures that must not look measured when they are not: refused answers, goodput without an SLO.</summary>
public class HonestColumnsTests
{
    private const string RefusedDetail = "refused: bubblewrap is not installed and this answer is not a suite reference or mutant. Fix: install bubblewrap";

    private static AttemptRecord Graded(int repeat, AttemptGrade? grade, long e2eMs = 2) =>
        MetricsTests.Record([new StreamEvent(0, StreamEventKind.RequestStart), new StreamEvent(1000, StreamEventKind.Content, 1), new StreamEvent(e2eMs * 1000, StreamEventKind.End)], 1, repeat: repeat, task: "t" + repeat)
        with { TaskKind = "Stub", Language = "python", Grade = grade };

    private static AttemptGrade Outcome(string outcome, string? detail = null) =>
        new() { Outcome = outcome, Passed = outcome == "passed", Detail = detail, Isolation = "test" };

    [Fact]
    public void PassRate_SandboxRefusedAnswers_AreUngradedNotFailed()
    {
        var summary = SummaryCalculator.Compute("r",
        [
            Graded(0, Outcome("passed")), Graded(1, Outcome("wrong_answer")),
            Graded(2, Outcome("harness_error", RefusedDetail)), Graded(3, Outcome("harness_error", RefusedDetail)),
            Graded(4, Outcome("harness_error", "judge failed (timeout): no verdict")),
        ], new SloSpec());
        var grading = summary.Backends[0].Grading!;
        // The judge failure is a real harness error and counts as not passed; the two refusals are left out.
        Assert.Equal(3, grading.Graded);
        Assert.Equal(1, grading.Passed);
        Assert.Equal(2, grading.Ungraded);
        Assert.Equal(1, grading.Outcomes["harness_error"]);
        Assert.Contains(grading.Notes, n => n.Contains("2 answer(s) ungraded", StringComparison.Ordinal));
        Assert.Equal(2, SummaryCalculator.Scalars(summary.Backends[0])["ungraded"]);
    }

    [Fact]
    public void PassRate_EveryAnswerRefused_HasNoPassRateOnlyTheUngradedCount()
    {
        var summary = SummaryCalculator.Compute("r", [Graded(0, Outcome("harness_error", RefusedDetail)), Graded(1, Outcome("harness_error", RefusedDetail))], new SloSpec());
        var grading = summary.Backends[0].Grading!;
        Assert.Equal(0, grading.Graded);
        Assert.Equal(2, grading.Ungraded);
        Assert.False(SummaryCalculator.Scalars(summary.Backends[0]).ContainsKey("pass_rate"));
    }

    [Fact]
    public void Goodput_WithoutSlo_IsNoFigureOfItsOwn()
    {
        var summary = SummaryCalculator.Compute("r", [Graded(0, null), Graded(1, null)], new SloSpec());
        var b = summary.Backends[0];
        Assert.False(b.Goodput.SloSet);
        var scalars = SummaryCalculator.Scalars(b);
        Assert.False(scalars.ContainsKey("goodput_ratio"));
        Assert.False(scalars.ContainsKey("goodput_rps"));
        var json = System.Text.Json.JsonSerializer.Serialize(summary, CoreJsonContext.Default.RunSummary);
        Assert.Contains("\"sloSet\":false", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Goodput_WithSlo_CountsAttemptsMeetingIt()
    {
        var summary = SummaryCalculator.Compute("r", [Graded(0, null, e2eMs: 2), Graded(1, null, e2eMs: 50)], new SloSpec(E2eMs: 10));
        var b = summary.Backends[0];
        Assert.True(b.Goodput.SloSet);
        Assert.Equal(0.5, SummaryCalculator.Scalars(b)["goodput_ratio"], 9);
    }
}

public class SloSyntaxTests
{
    [Fact]
    public void Parse_List_GivesEveryTarget()
    {
        Assert.Equal(new SloSpec(500, 50, 2000), SloSyntax.Parse("ttft_ms=500, tpot_ms=50,e2e_ms=2000"));
    }

    [Fact]
    public void Combine_BothSpellings_MeanTheSameAndMix()
    {
        Assert.Equal(SloSyntax.Combine("ttft_ms=500", null, null, null), SloSyntax.Combine(null, 500, null, null));
        Assert.Equal(new SloSpec(500, 40, null), SloSyntax.Combine("ttft_ms=500", null, 40, null));
        // A plan file's targets fill what the command line leaves out.
        Assert.Equal(new SloSpec(500, 40, 900), SloSyntax.Combine(null, 500, null, null, new SloSpec(100, 40, 900)));
    }

    [Theory]
    [InlineData("ttft_ms=abc", "not key=number")]
    [InlineData("ttft=500", "unknown key 'ttft'")]
    [InlineData("ttft_ms=-5", "not key=number")]
    [InlineData("ttft_ms=5,ttft_ms=6", "given twice")]
    [InlineData(",", "no target given")]
    public void Parse_BadList_IsBadInputNamingTheFix(string text, string expected)
    {
        var ex = Assert.Throws<InputException>(() => SloSyntax.Parse(text));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Combine_SameTargetInBothSpellings_IsBadInput()
    {
        var ex = Assert.Throws<InputException>(() => SloSyntax.Combine("ttft_ms=500", 400, null, null));
        Assert.Contains("both set ttft_ms", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_KeyACommandDoesNotKnow_IsBadInput()
    {
        var ex = Assert.Throws<InputException>(() => SloSyntax.Parse("e2e_ms=900", ["ttft_ms", "tpot_ms"]));
        Assert.Contains("use ttft_ms, tpot_ms", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_PrintsTargetsInWords()
    {
        Assert.Equal("TTFT ≤ 500 ms, E2E ≤ 2000 ms", SloSyntax.Describe(new SloSpec(500, null, 2000)));
        Assert.Equal("none", SloSyntax.Describe(new SloSpec()));
    }
}
