using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

/// <summary>
/// Hand-built sessions whose figures are worked out in docs/metrics.md ("Sessions", the worked example): each figure
/// below is that page's arithmetic.
/// </summary>
public sealed class SessionFlowMetricsTests
{
    private static long _sequence;

    /// <summary>One interaction: think before it (s), TTFT and whole answer (ms, null TTFT = failed at <paramref name="e2eMs"/>), grading (s), passed.</summary>
    internal static AttemptRecord Turn(string backend, int session, int task, int turn, double thinkS, double? ttftMs, double e2eMs, double? gradingS, bool passed,
        string? policy = null, string? reason = null, long output = 100, long startUs = 0)
    {
        List<StreamEvent> events = [new(0, StreamEventKind.RequestStart)];
        if (ttftMs is { } t)
        {
            events.Add(new((long)(t * 1000), StreamEventKind.Content, 10));
        }

        events.Add(new((long)(e2eMs * 1000), StreamEventKind.End));
        return new AttemptRecord
        {
            Sequence = Interlocked.Increment(ref _sequence),
            Slot = new SlotKey($"task-{task}", backend, 0),
            StartUs = startUs,
            Events = events,
            Outcome = ttftMs is null ? new AttemptOutcome(AttemptStatus.Error, "http_500", "boom") : AttemptOutcome.Ok,
            Answer = "x",
            Tokens = new TokenCounts { OutputTokenizer = output, InputTokenizer = 50, Tokenizer = "o200k_base" },
            Simulated = true,
            Grade = new AttemptGrade { Outcome = passed ? AttemptGrade.PassedOutcome : ttftMs is null ? "generation_failed" : "wrong_answer", Passed = passed, Isolation = "test" },
            Session = new SessionTurn
            {
                Session = session, TaskInSession = task, Turn = turn, ThinkBeforeUs = (long)(thinkS * 1e6),
                GradingUs = gradingS is { } g ? (long)(g * 1e6) : null, Policy = policy, RouteReason = reason,
            },
        };
    }

    /// <summary>The worked example of docs/metrics.md: two developers, R = 1.</summary>
    internal static List<AttemptRecord> WorkedExample(string backend = "fast") =>
    [
        Turn(backend, 0, 0, 0, thinkS: 30, ttftMs: 50, e2eMs: 80, gradingS: 2, passed: true),
        Turn(backend, 0, 1, 0, thinkS: 60, ttftMs: 200, e2eMs: 1_500, gradingS: 3, passed: false),
        Turn(backend, 0, 1, 1, thinkS: 20, ttftMs: 1_200, e2eMs: 12_000, gradingS: 3, passed: true),
        Turn(backend, 1, 0, 0, thinkS: 40, ttftMs: null, e2eMs: 500, gradingS: null, passed: false),
        Turn(backend, 1, 0, 1, thinkS: 10, ttftMs: 90, e2eMs: 900, gradingS: 2, passed: false),
        Turn(backend, 1, 1, 0, thinkS: 30, ttftMs: 100, e2eMs: 5_000, gradingS: 1, passed: false),
    ];

    [Fact]
    public void Compute_WorkedExample_GivesTheDocumentedBandsAndBreaks()
    {
        var arm = Assert.Single(SessionFlowMetrics.Compute(WorkedExample()));

        Assert.Equal("fast", arm.Arm);
        Assert.False(arm.IsPolicy);
        Assert.Equal(6, arm.Interactions);
        Assert.Equal(1.0 / 6, arm.WaitUnderInstant.Value, 12);
        Assert.Equal(2.0 / 6, arm.WaitUnderFlow.Value, 12);
        Assert.Equal(4.0 / 6, arm.WaitUnderAttention.Value, 12);
        // Breaks: the 1.2 s-TTFT / 12 s turn and the failed one.
        Assert.Equal(2.0 / 6, arm.FlowBreakRate.Value, 12);
        var (low, high) = ProportionInterval.Wilson95(2, 6);
        Assert.Equal((low, high), (arm.FlowBreakRate.Low, arm.FlowBreakRate.High));
    }

    [Fact]
    public void Compute_WorkedExample_SplitsSessionTimeAndCountsTasksPerHour()
    {
        var arm = Assert.Single(SessionFlowMetrics.Compute(WorkedExample()));

        // Session 0: wait 13.58 s, think 110 s, grading 8 s; session 1: wait 6.4 s, think 80 s, grading 3 s.
        Assert.Equal(19.98 / 220.98, arm.WaitShare.Value, 9);
        Assert.Equal(190 / 220.98, arm.ThinkShare, 9);
        Assert.Equal(11 / 220.98, arm.GradingShare, 9);
        Assert.Equal(220.98 / 3600, arm.SessionHours, 9);
        Assert.Equal(2 / (220.98 / 3600), arm.TasksPerDeveloperHour.Value, 6);
        Assert.InRange(arm.WaitShare.Value, arm.WaitShare.Low, arm.WaitShare.High);
        Assert.Equal(2, arm.WaitShare.N);
        // Resampling sessions 0 and 1 alone bounds the interval: session 1 has no green task, session 0 has 2 in 131.58 s.
        Assert.Equal(0, arm.TasksPerDeveloperHour.Low, 9);
        Assert.Equal(2 / (131.58 / 3600), arm.TasksPerDeveloperHour.High, 6);
    }

    [Fact]
    public void Compute_WorkedExample_GivesPassAtTurnTurnsAndTimeToGreen()
    {
        var arm = Assert.Single(SessionFlowMetrics.Compute(WorkedExample()));

        Assert.Equal(4, arm.Tasks);
        Assert.Equal(3, arm.TasksDecided);
        Assert.Equal(1, arm.TasksCensored); // session 1's last task stopped at turn 0 of R = 1
        Assert.Equal(2, arm.TasksGreen);
        Assert.Equal(1, arm.RepairTurns);
        Assert.Equal([1.0 / 3, 2.0 / 3], arm.PassAtTurn.Select(p => p.Value));
        Assert.Equal(1.5, arm.TurnsToGreen!.Mean, 12);
        // Green tasks: 0.08 s wait + 2 s grading; (1.5 + 12) s wait + (3 + 3) s grading.
        Assert.Equal([2.08, 19.5], arm.TimeToGreenSamples.Select(x => Math.Round(x, 9)));
        Assert.Equal((2.08 + 19.5) / 2, arm.TimeToGreenSeconds!.Mean, 9);
        Assert.Equal(6.79, arm.MeanModelSecondsToGreen!.Value, 9);
        Assert.Equal(4, arm.MeanGradingSecondsToGreen!.Value, 9);
        Assert.Equal(10, arm.MeanRepairThinkSecondsToGreen!.Value, 9);
    }

    [Fact]
    public void Compute_StricterBreakRule_CountsMoreBreaks()
    {
        var arm = Assert.Single(SessionFlowMetrics.Compute(WorkedExample(), new FlowBreakRule(FirstTokenMs: 100, WholeAnswerMs: 1_000)));

        // Now also the 200 ms-TTFT turn (TTFT) and the 5 s turn (whole answer) break: 4 of 6.
        Assert.Equal(4.0 / 6, arm.FlowBreakRate.Value, 12);
    }

    [Fact]
    public void Compute_GivenRepairTurns_DecidesCensoringByIt()
    {
        var arm = Assert.Single(SessionFlowMetrics.Compute(WorkedExample(), repairTurns: 2));

        // With R = 2 session 1's task 0 (stopped at turn 1, last? no: task 1 follows) is still decided; task 1 is censored.
        Assert.Equal(3, arm.PassAtTurn.Count);
        Assert.Equal(3, arm.TasksDecided);
        Assert.Equal(2.0 / 3, arm.PassAtTurn[2].Value, 12);
    }

    [Fact]
    public void Compute_UngradedTasks_AreLeftOutOfPassAtTurnNotCountedAsFailed()
    {
        // --no-grade: no turn has a grade. Before, every such task counted as decided and failed (pass@turn 0 %).
        var records = WorkedExample().Select(r => r with { Grade = null }).ToList();
        // One task graded (and failed) with repairs exhausted, so the graded part is still measured.
        records.Add(Turn("fast", 2, 0, 0, thinkS: 10, ttftMs: 50, e2eMs: 100, gradingS: 1, passed: false));
        records.Add(Turn("fast", 2, 0, 1, thinkS: 10, ttftMs: 50, e2eMs: 100, gradingS: 1, passed: false));

        var arm = Assert.Single(SessionFlowMetrics.Compute(records, repairTurns: 1));

        Assert.Equal(5, arm.Tasks);
        Assert.Equal(4, arm.TasksUngraded);
        Assert.Equal(1, arm.TasksDecided);
        Assert.Equal(0, arm.TasksGreen);
        Assert.Equal([0.0, 0.0], arm.PassAtTurn.Select(p => p.Value));
        Assert.Equal(1, arm.PassAtTurn[0].N);

        var none = Assert.Single(SessionFlowMetrics.Compute(WorkedExample().Select(r => r with { Grade = null }).ToList()));
        Assert.Equal(0, none.TasksDecided);
        Assert.All(none.PassAtTurn, p => Assert.True(double.IsNaN(p.Value)));
    }

    [Fact]
    public void Compute_PolicyAndBackends_AreSeparateArmsWithEscalationsAndTokensPerBackend()
    {
        List<AttemptRecord> records =
        [
            .. WorkedExample("fast"),
            Turn("fast", 0, 0, 0, 30, 50, 80, 2, passed: false, policy: "p", reason: "start", output: 300),
            Turn("deep", 0, 0, 1, 20, 400, 3_000, 2, passed: true, policy: "p", reason: "escalate:failed_grade", output: 200),
            Turn("fast", 0, 1, 0, 30, 50, 80, 2, passed: true, policy: "p", reason: "start", output: 300),
            Turn("fast", 0, 2, 0, 30, 50, 80, 2, passed: true) with { Slot = new SlotKey("w", "fast", 0, Warmup: true) },
            Turn("fast", 0, 2, 0, 30, 50, 80, 2, passed: true) with { Session = null },
        ];

        var arms = SessionFlowMetrics.Compute(records);

        Assert.Equal(["fast", "p"], arms.Select(a => a.Arm));
        Assert.Equal(6, arms[0].Interactions); // the warm-up and the session-less attempt are not counted
        var policy = arms[1];
        Assert.True(policy.IsPolicy);
        Assert.Equal(1, policy.Escalations);
        Assert.Equal(new Dictionary<string, int> { ["deep"] = 1, ["fast"] = 2 }, policy.InteractionsByBackend);
        Assert.Equal(new SessionTokens(100, 600), policy.TokensByBackend["fast"]);
        Assert.Equal([0.5, 1.0], policy.PassAtTurn.Select(p => p.Value));
    }

    [Fact]
    public void Compute_CancelledInteraction_IsLeftOut()
    {
        var records = WorkedExample();
        records.Add(Turn("fast", 0, 2, 0, 30, 50, 80, null, passed: false) with { Outcome = new AttemptOutcome(AttemptStatus.Cancelled, "duration_limit") });

        var arm = Assert.Single(SessionFlowMetrics.Compute(records));

        Assert.Equal(6, arm.Interactions);
        Assert.Equal(19.98 / 220.98, arm.WaitShare.Value, 9);
    }

    [Fact]
    public void Compute_Prices_ChargesBusyDeviceTimeSplitAmongConcurrentRequestsAndTokensPerToken()
    {
        // gpu: $3.60 per device-hour × 2 devices = $0.002 per second of a replica. Requests [0, 10] s and [5, 15] s overlap for
        // 5 s, split between the two: 7.5 s each, 15 s in all (the replica's busy time), $0.03 for the "gpu" arm's 2 green tasks.
        // The policy's gpu turn runs alone for 2 s ($0.004); its api turn is 50 input × $1/M + 100 answer × $2/M = $0.00025.
        List<AttemptRecord> records =
        [
            Turn("gpu", 0, 0, 0, thinkS: 1, ttftMs: 100, e2eMs: 10_000, gradingS: 1, passed: true, startUs: 0),
            Turn("gpu", 1, 0, 0, thinkS: 1, ttftMs: 100, e2eMs: 10_000, gradingS: 1, passed: true, startUs: 5_000_000),
            Turn("gpu", 0, 0, 0, thinkS: 1, ttftMs: 100, e2eMs: 2_000, gradingS: 1, passed: false, policy: "pol", reason: "start", startUs: 100_000_000),
            Turn("api", 0, 0, 1, thinkS: 1, ttftMs: 100, e2eMs: 2_000, gradingS: 1, passed: true, policy: "pol", reason: "escalate:failed_grade", startUs: 103_000_000),
            Turn("free", 0, 0, 0, thinkS: 1, ttftMs: 100, e2eMs: 2_000, gradingS: 1, passed: true, startUs: 0),
        ];
        var prices = new Dictionary<string, BackendPrice>
        {
            ["gpu"] = new() { UsdPerDeviceHour = 3.6, Devices = 2 },
            ["api"] = new() { UsdPerMillionInputTokens = 1, UsdPerMillionOutputTokens = 2 },
        };

        var arms = SessionFlowMetrics.Compute(records, prices: prices).ToDictionary(a => a.Arm);

        var gpu = arms["gpu"].Cost!;
        Assert.Equal(0.03, gpu.Usd!.Value, 12);
        Assert.Equal(0.015, gpu.UsdPerGreenTask!.Value, 12);
        Assert.Equal(30 / 3600.0, gpu.DeviceHours, 12);
        Assert.Equal("busy device-hours", gpu.Basis);
        var policy = arms["pol"].Cost!;
        Assert.Equal(0.004 + 0.00025, policy.Usd!.Value, 12);
        Assert.Equal(0.00425, policy.UsdPerGreenTask!.Value, 12);
        Assert.Equal("busy device-hours + tokens", policy.Basis);
        var free = arms["free"].Cost!;
        Assert.Null(free.Usd);
        Assert.Null(free.UsdPerGreenTask);
        Assert.Equal(["free"], free.UnpricedBackends);
        Assert.Null(SessionFlowMetrics.Compute(records)[0].Cost);

        // The same two requests on two replicas: while both are in flight each has a replica of its own, so each is charged
        // its whole 10 s: 20 s × $0.002 = $0.04. On three replicas, the same: two requests never busy a third.
        foreach (var replicas in new[] { 2, 3 })
        {
            prices["gpu"] = prices["gpu"] with { Replicas = replicas };
            var fleet = SessionFlowMetrics.Compute(records, prices: prices).Single(a => a.Arm == "gpu").Cost!;
            Assert.Equal(0.04, fleet.Usd!.Value, 12);
            Assert.Equal(40 / 3600.0, fleet.DeviceHours, 12);
        }
    }

    [Fact]
    public void Completeness_SkippedTaskSkippedTurnAndRepeat_CountedAsDroppedAndDuplicate()
    {
        List<AttemptRecord> records =
        [
            Turn("b", 0, 0, 0, thinkS: 1, ttftMs: 100, e2eMs: 200, gradingS: 1, passed: false),
            Turn("b", 0, 0, 1, thinkS: 1, ttftMs: 100, e2eMs: 200, gradingS: 1, passed: true),
            Turn("b", 0, 0, 1, thinkS: 1, ttftMs: 100, e2eMs: 200, gradingS: 1, passed: true), // recorded twice
            Turn("b", 0, 2, 0, thinkS: 1, ttftMs: 100, e2eMs: 200, gradingS: 1, passed: true), // task 1 missing
            Turn("b", 1, 0, 0, thinkS: 1, ttftMs: 100, e2eMs: 200, gradingS: 1, passed: false),
            Turn("b", 1, 0, 2, thinkS: 1, ttftMs: 100, e2eMs: 200, gradingS: 1, passed: true), // turn 1 missing
        ];
        var cancelled = Turn("b", 1, 3, 0, thinkS: 1, ttftMs: 100, e2eMs: 200, gradingS: 1, passed: false) with
        {
            Outcome = new AttemptOutcome(AttemptStatus.Cancelled, "interrupted", "stopped"),
        };

        Assert.Equal((2, 1), SessionFlowMetrics.Completeness([.. records, cancelled]));
        Assert.Equal((0, 0), SessionFlowMetrics.Completeness(WorkedExample()));
        var arm = Assert.Single(SessionFlowMetrics.Compute([.. records, cancelled]));
        Assert.Equal(2, arm.DroppedInteractions);
        Assert.Equal(1, arm.DuplicateInteractions);
    }

    [Fact]
    public void ScheduleLag_RealTimeTurns_StatisticsInMsAndConsoleLine()
    {
        var records = WorkedExample().Select((r, i) => r with { StartUs = 1_000_000 * (i + 1), ScheduledUs = (1_000_000 * (i + 1)) - (100 * (i + 1)) }).ToList();

        var arm = Assert.Single(SessionFlowMetrics.Compute(records));

        var lag = arm.ScheduleLagMs!;
        Assert.Equal(6, lag.Count);
        Assert.Equal(0.1, lag.Min, 9);
        Assert.Equal(0.6, lag.Max, 9);
        var text = SessionSummary.Text(SessionSummary.Compute(records));
        Assert.Contains("schedule lag p50 ", text, StringComparison.Ordinal);
        Assert.Contains("/ max 0.6 ms; 0 interactions dropped, 0 recorded twice", text, StringComparison.Ordinal);
        // Virtual time: no lag to speak of, no line about it.
        Assert.DoesNotContain("schedule lag", SessionSummary.Text(SessionSummary.Compute(WorkedExample())), StringComparison.Ordinal);
    }
}
