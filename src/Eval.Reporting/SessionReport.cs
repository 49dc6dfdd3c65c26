using System.Globalization;
using System.Net;
using System.Text;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>What a stretch of a developer's session was spent on.</summary>
public enum LaneActivity
{
    /// <summary>Reading, editing, running tests before the next request.</summary>
    Thinking,
    /// <summary>Waiting for the model's whole answer.</summary>
    Waiting,
    /// <summary>Waiting for the answer's grading (the tests) in the loop.</summary>
    Grading,
}

/// <summary>One stretch of a session lane, in seconds from the session's start.</summary>
public readonly record struct LaneSegment(double StartSeconds, double EndSeconds, LaneActivity Activity);

/// <summary>One developer's session laid end to end: think, wait, grading, turn after turn.</summary>
public sealed record SessionLane(int Session, IReadOnlyList<LaneSegment> Segments);

/// <summary>
/// The sessions part of a report (issue #18; docs/reports.md, "Sessions"): per arm (each backend alone, each routing policy)
/// the flow metrics of <see cref="SessionFlowMetrics"/>, the session lanes for the timeline, and the routing comparison.
/// Computed from the attempt records alone; null for a run without session attempts.
/// </summary>
public sealed record SessionReport
{
    /// <summary>Lanes drawn per arm in the timeline (the first sessions); more would be unreadable at 760 px.</summary>
    public const int TimelineLanes = 12;

    /// <summary>The stretch of each session the timeline shows, from its start.</summary>
    public const double TimelineSeconds = 3600;

    public required IReadOnlyList<SessionArmSummary> Arms { get; init; }

    /// <summary>The first <see cref="TimelineLanes"/> sessions of each arm, cut at <see cref="TimelineSeconds"/>.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<SessionLane>> Lanes { get; init; }

    /// <summary>The report of <paramref name="records"/>, computing the arms (priced with <paramref name="prices"/>, backend → price); null without session attempts.</summary>
    public static SessionReport? From(IEnumerable<AttemptRecord> records, IReadOnlyDictionary<string, BackendPrice>? prices = null, FlowBreakRule? rule = null, int? repairTurns = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        var sessionRecords = records.Where(r => r.Session is not null && !r.Slot.Warmup).ToList();
        return sessionRecords.Count == 0 ? null : new SessionReport
        {
            Arms = SessionFlowMetrics.Compute(sessionRecords, rule, repairTurns, prices),
            Lanes = BuildLanes(sessionRecords),
        };
    }

    /// <summary>The report with the arms summary.json already holds (<see cref="RunSummary.Sessions"/>): the lanes from the records; null without sessions.</summary>
    public static SessionReport? From(IEnumerable<AttemptRecord> records, SessionsSummary? sessions)
    {
        ArgumentNullException.ThrowIfNull(records);
        return sessions is null ? null : new SessionReport
        {
            Arms = sessions.Arms,
            Lanes = BuildLanes([.. records.Where(r => r.Session is not null && !r.Slot.Warmup)]),
        };
    }

    /// <summary>
    /// Lays each session's interactions end to end (think before, wait, grading), in session, task and turn order: a session is
    /// a closed loop, so its time is the sum of these; the lane does not depend on how the runner's clock was kept.
    /// </summary>
    private static Dictionary<string, IReadOnlyList<SessionLane>> BuildLanes(List<AttemptRecord> records)
    {
        var lanes = new Dictionary<string, IReadOnlyList<SessionLane>>(StringComparer.Ordinal);
        foreach (var arm in records.GroupBy(SessionFlowMetrics.ArmOf, StringComparer.Ordinal))
        {
            var list = new List<SessionLane>();
            foreach (var session in arm.GroupBy(r => r.Session!.Session).OrderBy(g => g.Key).Take(TimelineLanes))
            {
                var segments = new List<LaneSegment>();
                var t = 0.0;
                foreach (var r in session.OrderBy(r => r.Session!.TaskInSession).ThenBy(r => r.Session!.Turn).ThenBy(r => r.Sequence))
                {
                    if (r.Outcome.Status == AttemptStatus.Cancelled || t >= TimelineSeconds)
                    {
                        continue;
                    }

                    var wait = SessionFlowMetrics.WaitMs(r, AttemptMetrics.Compute(r)) / 1000.0;
                    Add(segments, ref t, r.Session!.ThinkBeforeUs / 1e6, LaneActivity.Thinking);
                    Add(segments, ref t, wait, LaneActivity.Waiting);
                    Add(segments, ref t, (r.Session.GradingUs ?? 0) / 1e6, LaneActivity.Grading);
                }

                list.Add(new SessionLane(session.Key, segments));
            }

            lanes[arm.Key] = list;
        }

        return lanes;
    }

    private static void Add(List<LaneSegment> segments, ref double t, double seconds, LaneActivity activity)
    {
        if (seconds <= 0 || t >= TimelineSeconds)
        {
            return;
        }

        var end = Math.Min(TimelineSeconds, t + seconds);
        segments.Add(new LaneSegment(t, end, activity));
        t = end;
    }

    /// <summary>The routing comparison's columns with their formulas (docs/metrics.md, "Sessions"); the cost is "–" for an arm served by an unpriced backend.</summary>
    public static IReadOnlyList<(string Header, string Formula)> Columns { get; } =
    [
        ("arm", "a routing policy, or one backend alone"),
        ("sessions / tasks", "developers simulated or replayed / decided tasks (censored: cut off by the session's end)"),
        ("first-try pass", "pass@turn-0: decided tasks green on the first ask / decided tasks, Wilson 95 %"),
        ("pass@turn-R", "decided tasks green within R repair turns / decided tasks, Wilson 95 %"),
        ("time-to-green p50", "median over green tasks of Σ model wait + Σ grading up to the passing turn, s, order-statistic 95 %"),
        ("model / grading / think", "mean seconds to green of model wait, of grading, and of think before repair turns (not in time-to-green)"),
        ("TTFT p50", "median time to first token over ok interactions, ms"),
        ("flow breaks", "interactions with first token > 1 s, whole answer > 10 s, or failed / interactions, Wilson 95 %"),
        ("waiting", "Σ wait / Σ (wait + think + grading) over sessions, session bootstrap 95 %"),
        ("tasks / dev-hour", "green tasks / session hours, session bootstrap 95 %"),
        ("tokens / green task", "(input + answer tokens) / green tasks"),
        ("cost / green task", "Σ cost of the arm's interactions / green tasks, USD (total in brackets): busy device-hours × price per device-hour (each instant a replica serves k requests split among them), or tokens × price per token; – without a price (docs/metrics.md, Session cost)"),
        ("served by", "interactions per backend; escalations"),
    ];

    /// <summary>One row per arm, in <see cref="Columns"/> order.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Rows()
    {
        var rows = new List<IReadOnlyList<string>>();
        foreach (var a in Arms)
        {
            var ttg = a.TimeToGreenSeconds;
            var tokens = a.TokensByBackend.Values.Sum(t => t.Input + t.Output);
            List<string> row =
            [
                (a.IsPolicy ? "policy " : "") + a.Arm + (a.Simulated ? " (SIMULATED)" : ""),
                N(a.Sessions) + " / " + N(a.TasksDecided) + (a.TasksCensored > 0 ? $" (+{a.TasksCensored} censored)" : "") + (a.TasksUngraded > 0 ? $" (+{a.TasksUngraded} ungraded)" : ""),
                Interval(a.PassAtTurn[0], percent: true),
                a.RepairTurns > 0 ? $"R={a.RepairTurns}: " + Interval(a.PassAtTurn[^1], percent: true) : "no repair turns",
                ttg is null ? "–" : F(ttg.P50) + " s" + (ttg.Ci95P50 is { } ci ? $" [{F(ci[0])}, {F(ci[1])}]" : "") + $" (n={ttg.Count})",
                a.MeanModelSecondsToGreen is { } model ? $"{F(model)} / {F(a.MeanGradingSecondsToGreen!.Value)} / {F(a.MeanRepairThinkSecondsToGreen!.Value)} s" : "–",
                a.TtftMs is { } ttft ? F(ttft.P50) + " ms" : "–",
                Interval(a.FlowBreakRate, percent: true),
                Interval(a.WaitShare, percent: true),
                Interval(a.TasksPerDeveloperHour, percent: false),
                a.TasksGreen > 0 ? N(tokens / a.TasksGreen) : "–",
                Cost(a),
            ];
            row.Add(string.Join(", ", a.InteractionsByBackend.Select(kv => $"{kv.Key} {kv.Value}")) + (a.IsPolicy ? $"; {a.Escalations} escalated" : ""));
            rows.Add(row);
        }

        return rows;
    }

    private static string Cost(SessionArmSummary a) => a.Cost is not { Usd: { } usd } ? "–"
        : (a.Cost.UsdPerGreenTask is { } perTask ? Usd(perTask) : "–") + $" ({Usd(usd)})";

    /// <summary>Dollars: cents for a dollar or more, else four decimals, or more for fractions of a cent.</summary>
    private static string Usd(double usd) => "$" + usd.ToString(usd >= 1 ? "0.00" : usd >= 0.01 ? "0.####" : "0.########", CultureInfo.InvariantCulture);

    /// <summary>The notes under the table: how the figures were made and what they rest on.</summary>
    public IReadOnlyList<string> Notes()
    {
        var notes = new List<string>
        {
            $"An arm is one routing policy (its turns may be served by several backends) or one backend alone. Flow breaks: first token over {F(Arms[0].FlowBreakRule.FirstTokenMs / 1000)} s or whole answer over {F(Arms[0].FlowBreakRule.WholeAnswerMs / 1000)} s (Nielsen's 1 s and 10 s limits), or a failed request.",
            "Pass@turn counts decided tasks: a task cut off by the end of its session before passing or using its repair turns is censored and left out, and so is a task with no graded turn (ungraded: `--no-grade`, or every answer refused by the sandbox).",
            $"Intervals of ratios over sessions (waiting share, tasks per developer-hour) come from a seeded bootstrap over sessions ({SessionFlowMetrics.BootstrapResamples} resamples); proportions use Wilson's interval.",
        };
        var unpriced = Arms.SelectMany(a => a.Cost?.UnpricedBackends ?? (IEnumerable<string>)a.InteractionsByBackend.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        notes.Add("Cost: a backend priced per device-hour (a simulated profile: its hardware's sourced price × the devices one replica spans) is charged for its busy time only — each instant a replica serves k requests is split equally among them, the developers' think time is not charged (pay per use; a dedicated fleet also pays its idle hours, see 'spark-eval procure'); a backend priced per token for its input and answer tokens."
            + (unpriced.Count > 0 ? $" No price for {string.Join(", ", unpriced)}: its arms show –." : ""));
        if (Arms.Any(a => a.ScheduleLagMs is { Max: > 0 }))
        {
            notes.Add("Schedule lag (request start − end of the think time, real time): " + string.Join("; ", Arms.Where(a => a.ScheduleLagMs is not null).Select(a =>
                $"{a.Arm} p50 {F3(a.ScheduleLagMs!.P50)} / p99 {F3(a.ScheduleLagMs.P99)} / max {F3(a.ScheduleLagMs.Max)} ms, {a.DroppedInteractions} dropped, {a.DuplicateInteractions} recorded twice")) + ".");
        }
        else if (Arms.Any(a => a.DroppedInteractions > 0 || a.DuplicateInteractions > 0))
        {
            notes.Add("Interactions missing from the log / recorded twice: " + string.Join("; ", Arms.Select(a => $"{a.Arm} {a.DroppedInteractions} / {a.DuplicateInteractions}")) + ".");
        }

        if (Arms.Any(a => a.Simulated))
        {
            notes.Add("SIMULATED arms: timings come from the latency model; answers are the task's reference or a mutant drawn by the model's capability (the same model answers the same on every device; a repair turn succeeds at half a first try's chance, from Aider's benchmark), padded to lengths drawn from a real chat-assistant trace (docs/simulator.md, \"Simulated answers\").");
        }

        return notes;
    }

    /// <summary>The HTML section: heading, routing comparison table and its notes (the plots are drawn with the others).</summary>
    public string RenderHtml()
    {
        // 14 columns with intervals: let this table's cells wrap, or it runs past the page's width.
        var html = new StringBuilder("<h2 id=\"sessions\">Sessions and routing</h2>\n<style>table.sessions td:not(:first-child){white-space:normal;min-width:5em}</style>\n<table class=\"sessions\"><tr>");
        foreach (var (header, formula) in Columns)
        {
            html.Append(CultureInfo.InvariantCulture, $"<th title=\"{E(formula)}\">{E(header)}</th>");
        }

        html.Append("</tr>\n");
        foreach (var row in Rows())
        {
            html.Append("<tr>").AppendJoin("", row.Select(cell => $"<td>{E(cell)}</td>")).Append("</tr>\n");
        }

        html.Append("</table>\n<p class=\"note\">");
        html.AppendJoin("; ", Columns.Skip(1).Select(c => $"<b>{E(c.Header)}</b> = {E(c.Formula)}"));
        html.Append(".</p>\n<ul class=\"note\">\n");
        foreach (var note in Notes())
        {
            html.Append(CultureInfo.InvariantCulture, $"<li>{E(note)}</li>\n");
        }

        html.Append("</ul>\n");
        return html.ToString();
    }

    /// <summary>The Markdown section: the routing comparison table and its notes.</summary>
    public string RenderMarkdown()
    {
        var md = new StringBuilder("## Sessions and routing\n\n| ");
        md.AppendJoin(" | ", Columns.Select(c => c.Header)).Append(" |\n|").Append(string.Concat(Enumerable.Repeat("---|", Columns.Count))).Append('\n');
        foreach (var row in Rows())
        {
            md.Append("| ").AppendJoin(" | ", row.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))).Append(" |\n");
        }

        md.Append('\n');
        foreach (var note in Notes())
        {
            md.Append(CultureInfo.InvariantCulture, $"- {note}\n");
        }

        return md.Append('\n').ToString();
    }

    private static string Interval(IntervalEstimate e, bool percent) => double.IsNaN(e.Value) ? "–"
        : percent ? $"{Pct(e.Value)} [{Pct(e.Low)}, {Pct(e.High)}]"
        : $"{F(e.Value)} [{F(e.Low)}, {F(e.High)}]";

    private static string Pct(double v) => (v * 100).ToString("0.#", CultureInfo.InvariantCulture) + " %";

    private static string F(double v) => v.ToString(Math.Abs(v) >= 100 ? "0" : "0.##", CultureInfo.InvariantCulture);

    private static string F3(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
