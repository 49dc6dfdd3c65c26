using System.Globalization;
using System.Text;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Sessions;

/// <summary>
/// One group's sessions at a glance (docs/metrics.md, "Sessions"): pass@turn-r, turns-to-green and time-to-green over the
/// tasks the sessions worked on. The full session report (flow, timelines, routing table) is written by the reports.
/// </summary>
public sealed record SessionGroupSummary
{
    /// <summary>A backend alone, or "policy:&lt;name&gt;".</summary>
    public required string Group { get; init; }
    public required int Sessions { get; init; }
    public required int Interactions { get; init; }
    /// <summary>Tasks the sessions worked on with at least one graded turn.</summary>
    public required int TasksGraded { get; init; }
    public required int TasksGreen { get; init; }
    /// <summary>[r] = share of graded tasks green by turn r (0 = first try).</summary>
    public required IReadOnlyList<double> PassAtTurn { get; init; }
    /// <summary>Median over green tasks of model time + grading time up to the passing turn, seconds.</summary>
    public double? MedianTimeToGreenSeconds { get; init; }
    /// <summary>Median over tasks green after a repair of the think time before their repair turns (shown apart from time-to-green), seconds.</summary>
    public double? MedianRepairThinkSeconds { get; init; }
    /// <summary>Mean turns to green (1 = first try) over green tasks.</summary>
    public double? MeanTurnsToGreen { get; init; }
    /// <summary>Request start − end of think time, ms (<see cref="SessionFlowMetrics.ScheduleLag"/>); 0 throughout in virtual time.</summary>
    public LatencyStatistics? ScheduleLagMs { get; init; }
    /// <summary>Interactions missing from the log, and recorded twice (<see cref="SessionFlowMetrics.Completeness"/>).</summary>
    public int DroppedInteractions { get; init; }
    public int DuplicateInteractions { get; init; }
}

/// <summary>Computes <see cref="SessionGroupSummary"/> from a run's attempts (those with a <see cref="SessionTurn"/>).</summary>
public static class SessionSummary
{
    public static IReadOnlyList<SessionGroupSummary> Compute(IEnumerable<AttemptRecord> attempts)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        var result = new List<SessionGroupSummary>();
        foreach (var group in attempts.Where(a => a.Session is not null && a.Outcome.Status != AttemptStatus.Cancelled)
            .GroupBy(SessionRunner.GroupOf, StringComparer.Ordinal).OrderBy(g => g.Key.StartsWith("policy:", StringComparison.Ordinal)).ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            var tasks = group.GroupBy(a => (a.Session!.Session, a.Session.TaskInSession))
                .Select(g => g.OrderBy(a => a.Session!.Turn).ToList())
                .Where(turns => turns.Any(a => a.Grade is not null))
                .ToList();
            var maxTurn = group.Max(a => a.Session!.Turn);
            var green = tasks.Select(turns => (Turns: turns, Green: turns.FindIndex(a => a.Grade?.IsPassed == true))).Where(x => x.Green >= 0).ToList();
            var passAt = Enumerable.Range(0, maxTurn + 1)
                .Select(r => tasks.Count == 0 ? 0 : green.Count(x => x.Turns[x.Green].Session!.Turn <= r) / (double)tasks.Count).ToList();
            var ttg = green.Select(x => x.Turns.Take(x.Green + 1).Sum(a => SessionRunner.DurationUs(a) + (a.Session!.GradingUs ?? 0)) / 1e6).ToList();
            var think = green.Where(x => x.Green > 0).Select(x => x.Turns.Take(x.Green + 1).Skip(1).Sum(a => a.Session!.ThinkBeforeUs) / 1e6).ToList();
            var (dropped, duplicates) = SessionFlowMetrics.Completeness(group);
            result.Add(new SessionGroupSummary
            {
                Group = group.Key,
                Sessions = group.Select(a => a.Session!.Session).Distinct().Count(),
                Interactions = group.Count(),
                TasksGraded = tasks.Count,
                TasksGreen = green.Count,
                PassAtTurn = passAt,
                MedianTimeToGreenSeconds = Median(ttg),
                MedianRepairThinkSeconds = Median(think),
                MeanTurnsToGreen = green.Count == 0 ? null : green.Average(x => x.Turns[x.Green].Session!.Turn + 1.0),
                ScheduleLagMs = SessionFlowMetrics.ScheduleLag(group),
                DroppedInteractions = dropped,
                DuplicateInteractions = duplicates,
            });
        }

        return result;
    }

    /// <summary>The median (mean of the middle two for an even count), or null for none.</summary>
    public static double? Median(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return null;
        }

        var sorted = values.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>The console lines: one per group.</summary>
    public static string Text(IReadOnlyList<SessionGroupSummary> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var ic = CultureInfo.InvariantCulture;
        var text = new StringBuilder("sessions (pass@turn r = tasks green by turn r; time-to-green = model + grading time, think time apart; docs/metrics.md):");
        foreach (var g in groups)
        {
            var passAt = string.Join(" ", g.PassAtTurn.Select((p, r) => $"@{r} {p.ToString("P0", ic)}"));
            text.Append(ic, $"\n  {g.Group}: {g.Sessions} sessions, {g.Interactions} interactions, {g.TasksGreen}/{g.TasksGraded} tasks green; pass@turn {(passAt.Length == 0 ? "-" : passAt)}");
            text.Append(g.MedianTimeToGreenSeconds is { } t
                ? string.Create(ic, $"; time-to-green median {t:0.00} s{(g.MedianRepairThinkSeconds is { } rt ? $" (repaired tasks: + {rt:0.0} s think)" : "")}; turns-to-green mean {g.MeanTurnsToGreen:0.00}")
                : "; no task green");
            if (g.ScheduleLagMs is { Max: > 0 } lag)
            {
                // Real time only (virtual time has no lag): how late requests left after their think time ended.
                text.Append(ic, $"; schedule lag p50 {lag.P50:0.###} / p99 {lag.P99:0.###} / max {lag.Max:0.###} ms");
            }

            if (g.ScheduleLagMs is { Max: > 0 } || g.DroppedInteractions > 0 || g.DuplicateInteractions > 0)
            {
                text.Append(ic, $"; {g.DroppedInteractions} interactions dropped, {g.DuplicateInteractions} recorded twice");
            }
        }

        return text.ToString();
    }
}
