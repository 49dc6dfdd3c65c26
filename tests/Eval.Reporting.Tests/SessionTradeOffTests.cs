using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Reporting.Tests;

/// <summary>
/// Issue #18's "Done when", first item, at library level: seeded, on simulated profiles — a fast small model on a wafer-scale
/// engine, a deep model on an H100, and the committed policy that starts on the fast one and escalates on failure — the
/// session figures show the trade-off, and the report shows it (routing table, timeline, time-to-green CDF, pass@turn, flow bands).
/// </summary>
public sealed class SessionTradeOffTests
{
    public const int Seed = 7;
    public const int Sessions = 20;
    public const int TasksPerSession = 15;
    public const int RepairTurns = 2;

    private static readonly SimulatedSessions.Backend Fast = SimulatedSessions.Hwsim("wse-fast", "wse-3", "llama-3.1-8b");
    private static readonly SimulatedSessions.Backend Deep = SimulatedSessions.Hwsim("h100-deep", "h100-sxm", "qwen2.5-coder-32b");

    /// <summary>The three arms' records: fast alone, deep alone, the policy (hw-profiles/policies/fast-then-deep.yaml).</summary>
    internal static List<AttemptRecord> TradeOffRecords(int seed = Seed)
    {
        var tasks = TaskSuiteLoader.Load(Path.Combine(SimulatedSessions.RepoRoot, "datasets", "spark-bounded")).Tasks;
        var backends = new Dictionary<string, SimulatedSessions.Backend> { [Fast.Name] = Fast, [Deep.Name] = Deep };
        var policy = RoutingPolicyFile.Load(Path.Combine(SimulatedSessions.RepoRoot, "hw-profiles", "policies", "fast-then-deep.yaml"), [.. backends.Keys]);
        return
        [
            .. SimulatedSessions.Play(tasks, backends, Fast.Name, null, Sessions, TasksPerSession, RepairTurns, seed),
            .. SimulatedSessions.Play(tasks, backends, Deep.Name, null, Sessions, TasksPerSession, RepairTurns, seed),
            .. SimulatedSessions.Play(tasks, backends, null, policy, Sessions, TasksPerSession, RepairTurns, seed),
        ];
    }

    [Fact]
    public void TradeOff_Seeded_FastIsQuickerDeepPassesFirstPolicyInBetween()
    {
        var arms = SessionFlowMetrics.Compute(TradeOffRecords()).ToDictionary(a => a.Arm);
        var fast = arms["wse-fast"];
        var deep = arms["h100-deep"];
        var policy = arms["fast-then-deep"];
        Assert.True(policy.IsPolicy);

        // Lower TTFT and fewer flow breaks for the fast one. One developer per device (unloaded), the deep model's whole
        // answers take ≈ 3 s: under the default rule (first token > 1 s or whole answer > 10 s) neither breaks flow — a finding,
        // printed as 0 % in the report. Held to Nielsen's 1 s flow-of-thought limit for the whole answer, the fast one keeps
        // flow and the deep one breaks it almost every time.
        Assert.True(fast.TtftMs!.P50 < deep.TtftMs!.P50, $"TTFT p50 fast {fast.TtftMs.P50} ms, deep {deep.TtftMs.P50} ms");
        Assert.True(fast.FlowBreakRate.Value <= deep.FlowBreakRate.Value, $"flow breaks fast {fast.FlowBreakRate}, deep {deep.FlowBreakRate}");
        var strict = SessionFlowMetrics.Compute(TradeOffRecords(), new FlowBreakRule(FirstTokenMs: 1_000, WholeAnswerMs: 1_000)).ToDictionary(a => a.Arm);
        Assert.True(strict["wse-fast"].FlowBreakRate.High < strict["fast-then-deep"].FlowBreakRate.Low, $"1 s rule: fast {strict["wse-fast"].FlowBreakRate}, policy {strict["fast-then-deep"].FlowBreakRate}");
        Assert.True(strict["fast-then-deep"].FlowBreakRate.High < strict["h100-deep"].FlowBreakRate.Low, $"1 s rule: policy {strict["fast-then-deep"].FlowBreakRate}, deep {strict["h100-deep"].FlowBreakRate}");
        Assert.True(fast.WaitUnderFlow.Value > 0.95 && deep.WaitUnderFlow.Value < 0.2, $"whole answer within 1 s: fast {fast.WaitUnderFlow}, deep {deep.WaitUnderFlow}");
        // Higher first-try pass rate for the deep one (intervals apart).
        Assert.True(deep.PassAtTurn[0].Low > fast.PassAtTurn[0].High, $"first try deep {deep.PassAtTurn[0]}, fast {fast.PassAtTurn[0]}");
        // The policy starts on the fast one: its first tries are the fast model's own answers.
        Assert.Equal(fast.PassAtTurn[0].Value, policy.PassAtTurn[0].Value, 12);
        // The policy between them on pass rate (after repair turns) and on time-to-green.
        Assert.InRange(policy.PassAtTurn[^1].Value, fast.PassAtTurn[^1].Value, deep.PassAtTurn[^1].Value);
        Assert.InRange(policy.TimeToGreenSeconds!.Mean, fast.TimeToGreenSeconds!.Mean, deep.TimeToGreenSeconds!.Mean);
        Assert.True(policy.Escalations > 0);
        Assert.Equal(["h100-deep", "wse-fast"], policy.InteractionsByBackend.Keys);
        Assert.All(arms.Values, a => Assert.Equal(Sessions * TasksPerSession, a.TasksDecided));
    }

    [Fact]
    public void TradeOff_SameSeed_SameFigures_OtherSeed_OtherFigures()
    {
        static string Figures(int seed) => string.Join("\n", SessionFlowMetrics.Compute(TradeOffRecords(seed))
            .Select(a => $"{a.Arm} {a.PassAtTurn[0].Value} {a.PassAtTurn[^1].Value} {a.TimeToGreenSeconds!.Mean} {a.FlowBreakRate.Value} {a.TasksPerDeveloperHour}"));

        Assert.Equal(Figures(Seed), Figures(Seed));
        Assert.NotEqual(Figures(Seed), Figures(Seed + 1));
    }

    [Fact]
    public void Report_TradeOff_HasTheRoutingTableAndEverySessionPlot()
    {
        var records = TradeOffRecords();
        var manifest = SimulatedSessions.Manifest("trade-off", [Fast, Deep], Seed);
        var data = ReportData.From(manifest, SimulatedSessions.Summary("trade-off", records), records);
        var plots = ReportPlots.Build(data);

        Assert.NotNull(data.Sessions);
        Assert.Equal(
            ["session_timeline_0", "session_timeline_1", "session_timeline_2", "time_to_green_cdf", "pass_at_turn", "session_flow_bands"],
            plots.Select(p => p.Name).Where(n => !n.StartsWith("ttft", StringComparison.Ordinal) && !n.StartsWith("e2e", StringComparison.Ordinal) && n is not "flow_bands" and not "pass_rate"));
        var html = HtmlReport.Render(data, plots, ReportPlots.Write(plots, Directory.CreateTempSubdirectory("spark-session-plots-").FullName));
        Assert.Contains("<h2 id=\"sessions\">Sessions and routing</h2>", html, StringComparison.Ordinal);
        Assert.Contains("policy fast-then-deep (SIMULATED)", html, StringComparison.Ordinal);
        Assert.Contains("hwsim answers are the task&#39;s reference", html, StringComparison.Ordinal);
        var markdown = MarkdownReport.Render(data, plots);
        Assert.Contains("## Sessions and routing", markdown, StringComparison.Ordinal);
        Assert.Contains("| policy fast-then-deep (SIMULATED) | 20 / 300 |", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void Report_PlainRun_HasNoSessionSection()
    {
        var data = SyntheticRuns.Create("plain", seed: 1, tasks: 10, repeats: 2);

        Assert.Null(data.Sessions);
        Assert.DoesNotContain(ReportPlots.Build(data), p => p.Name.StartsWith("session", StringComparison.Ordinal));
        Assert.DoesNotContain("Sessions and routing", MarkdownReport.Render(data, ReportPlots.Build(data)), StringComparison.Ordinal);
    }

    [Fact]
    public void SessionReport_WithPrices_ShowsCostPerGreenTaskAndDashWithout()
    {
        var records = SessionFlowMetricsFixtures.TwoTurns();
        var report = SessionReport.From(records, new Dictionary<string, BackendPrice> { ["fast"] = new() { UsdPerMillionInputTokens = 1.0, UsdPerMillionOutputTokens = 2.0 } })!;

        // One green task; 2 interactions × (50 input, 100 output) tokens: (100 × $1 + 200 × $2) / 1e6 = $0.0005.
        var row = Assert.Single(report.Rows());
        Assert.Equal("$0.0005 ($0.0005)", row[11]);
        Assert.Equal("300", row[10]);
        Assert.Equal(row.Count, SessionReport.Columns.Count);
        // Busy device time: both 0.4 s answers are stamped at 0, so the $9/h device is busy 0.4 s: 0.4 × $0.0025 = $0.001.
        var hourly = SessionReport.From(records, new Dictionary<string, BackendPrice> { ["fast"] = new() { UsdPerDeviceHour = 9 } })!;
        Assert.Equal("$0.001 ($0.001)", Assert.Single(hourly.Rows())[11]);
        var unpriced = SessionReport.From(records)!;
        Assert.Equal("–", Assert.Single(unpriced.Rows())[11]);
        Assert.Contains(unpriced.Notes(), n => n.Contains("No price for fast", StringComparison.Ordinal));
        Assert.Null(SessionReport.From([]));
    }
}

/// <summary>Two hand-built turns of one task on "fast": a wrong answer, then a pass.</summary>
internal static class SessionFlowMetricsFixtures
{
    public static List<AttemptRecord> TwoTurns() =>
    [
        Turn(0, passed: false),
        Turn(1, passed: true),
    ];

    private static AttemptRecord Turn(int turn, bool passed) => new()
    {
        Sequence = turn,
        Slot = new SlotKey("t", "fast", 0),
        Events = [new(0, Core.Timing.StreamEventKind.RequestStart), new(50_000, Core.Timing.StreamEventKind.Content, 4), new(400_000, Core.Timing.StreamEventKind.End)],
        Outcome = AttemptOutcome.Ok,
        Answer = "a",
        Tokens = new TokenCounts { OutputTokenizer = 100, InputTokenizer = 50, Tokenizer = "o200k_base" },
        Grade = new AttemptGrade { Outcome = passed ? "passed" : "wrong_answer", Passed = passed, Isolation = "test" },
        Session = new SessionTurn { Session = 0, TaskInSession = 0, Turn = turn, ThinkBeforeUs = 20_000_000, GradingUs = 1_000_000 },
    };
}
