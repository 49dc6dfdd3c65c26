using System.Globalization;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Metrics;

/// <summary>The judge's own figures over a graded run (kept apart from every attempt metric); see <see cref="JudgeReport"/>.</summary>
public sealed record JudgeSummary
{
    public int Answers { get; init; }
    public int Calls { get; init; }
    public int PassedRubricAndJudge { get; init; }
    public IReadOnlyDictionary<string, int> Failures { get; init; } = new Dictionary<string, int>();
    public double? AgreementWithRubric { get; init; }
    public double? LatencyMsP50 { get; init; }
    public double? LatencyMsP99 { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public bool Simulated { get; init; }
    public required string Formulas { get; init; }
    public required string Text { get; init; }
}

/// <summary>
/// The judge's own figures over a graded run: answers judged, judge calls made, failures by class, agreement with the rubric,
/// and the judge's latency and tokens over its calls.
/// </summary>
public static class JudgeReport
{
    /// <summary>Null when no attempt carries a judge verdict.</summary>
    public static JudgeSummary? Build(IEnumerable<AttemptRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var judged = records.Select(r => r.Grade).OfType<AttemptGrade>().Where(g => g.Judge is not null).ToList();
        if (judged.Count == 0)
        {
            return null;
        }

        // A grade shared by identical answers was judged once: count calls, latency and tokens over the first use only.
        var calls = judged.Where(g => g.Grading?.Reused != true).Select(g => g.Judge!).ToList();
        var verdicts = judged.Select(g => g.Judge!).ToList();
        var failures = verdicts.Where(j => j.Status == "failed")
            .GroupBy(j => j.ErrorClass ?? "?", StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var withVerdict = verdicts.Where(j => j.AgreesWithRubric is not null).ToList();
        var agree = withVerdict.Count(j => j.AgreesWithRubric == true);
        var passed = judged.Count(g => g.Passed);
        var latency = LatencyStatistics.FromSamples([.. calls.Select(j => j.LatencyMs)], "ms");
        var simulated = verdicts.Any(j => j.Simulated);
        var ic = CultureInfo.InvariantCulture;
        var failureText = failures.Count == 0 ? "none" : string.Join(", ", failures.Select(kv => $"{kv.Key} {kv.Value.ToString(ic)}"));
        var text = string.Create(ic,
            $"judge{(simulated ? " (SIMULATED verdicts)" : "")}: {judged.Count} explain answers judged ({calls.Count} judge calls); passed rubric AND judge {passed}/{judged.Count}; judge failures: {failureText}; agreement with the rubric {agree}/{withVerdict.Count}; judge latency p50 {latency?.P50 ?? 0:0.0} ms (not in any attempt metric)");
        return new JudgeSummary
        {
            Answers = judged.Count,
            Calls = calls.Count,
            PassedRubricAndJudge = passed,
            Failures = failures,
            AgreementWithRubric = withVerdict.Count == 0 ? null : (double)agree / withVerdict.Count,
            LatencyMsP50 = latency?.P50,
            LatencyMsP99 = latency?.P99,
            InputTokens = calls.Sum(j => j.InputTokens ?? 0),
            OutputTokens = calls.Sum(j => j.OutputTokens ?? 0),
            Simulated = simulated,
            Formulas = "agreement = judge verdicts equal to the rubric's / answers with a judge verdict; latency over judge calls (all tries of one answer), never in the attempt's metrics",
            Text = text,
        };
    }
}
