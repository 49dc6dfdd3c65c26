using System.Globalization;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Metrics;

/// <summary>pass@k and pass^k estimators over n attempts per task with c passing.</summary>
public static class PassAtK
{
    /// <summary>Unbiased pass@k = 1 − C(n−c,k)/C(n,k), in the stable product form 1 − Π_{i=n−c+1}^{n} (1 − k/i).</summary>
    public static double Estimate(int n, int c, int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, k);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(c, n);
        if (n - c < k)
        {
            return 1.0;
        }

        var product = 1.0;
        for (var i = n - c + 1; i <= n; i++)
        {
            product *= 1.0 - (double)k / i;
        }

        return 1.0 - product;
    }

    /// <summary>pass^k = C(c,k)/C(n,k) = Π_{i=0}^{k−1} (c−i)/(n−i): the chance that k draws without replacement all pass (exposes flaky answers).</summary>
    public static double EstimateAll(int n, int c, int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, k);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(c, n);
        var product = 1.0;
        for (var i = 0; i < k; i++)
        {
            product *= (double)(c - i) / (n - i);
        }

        return Math.Max(0, product);
    }

    /// <summary>Mean over tasks of pass@k (or pass^k); null when some task has fewer than k graded attempts.</summary>
    public static double? Mean(IReadOnlyCollection<(int N, int C)> tasks, int k, bool all = false)
    {
        if (tasks.Count == 0 || tasks.Any(t => t.N < k))
        {
            return null;
        }

        return tasks.Average(t => all ? EstimateAll(t.N, t.C, k) : Estimate(t.N, t.C, k));
    }
}

/// <summary>Pass rates of one backend's graded attempts (quarantined tasks excluded).</summary>
public sealed record GradingSummary
{
    /// <summary>Graded attempts counted (ok generations with a grade, quarantined tasks excluded).</summary>
    public int Graded { get; init; }
    public int Passed { get; init; }
    /// <summary>passed / graded.</summary>
    public double PassRate { get; init; }
    public IReadOnlyDictionary<string, int> Outcomes { get; init; } = new Dictionary<string, int>();
    /// <summary>pass@k (unbiased estimator, mean over tasks) for k = 1, 2, 5, 10 where every task has n ≥ k.</summary>
    public IReadOnlyDictionary<string, double> PassAtK { get; init; } = new Dictionary<string, double>();
    /// <summary>pass^k = mean over tasks of C(c,k)/C(n,k), for the same k.</summary>
    public IReadOnlyDictionary<string, double> PassAllK { get; init; } = new Dictionary<string, double>();
    public IReadOnlyDictionary<string, PassRates> ByKind { get; init; } = new Dictionary<string, PassRates>();
    public IReadOnlyDictionary<string, PassRates> ByLanguage { get; init; } = new Dictionary<string, PassRates>();
    /// <summary>unit-tests: mean of killed / mutants over graded attempts.</summary>
    public double? MeanMutationScore { get; init; }
    /// <summary>Answers the sandbox refused to run (bubblewrap missing): neither passed nor failed, left out of every pass rate.</summary>
    public int Ungraded { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>How a stored grade is read: which grades say nothing about the answer.</summary>
public static class GradeMarks
{
    /// <summary>
    /// True when the sandbox refused to run the answer (no bubblewrap, not suite text): the answer was never judged, so it is
    /// "ungraded", not failed (src/Eval.Sandbox/CodeSandbox.cs writes this detail).
    /// </summary>
    public static bool IsRefused(AttemptGrade? grade) =>
        grade?.Outcome == "harness_error"
        && grade.Detail is { } detail
        && (detail.StartsWith("refused", StringComparison.Ordinal) || detail.Contains("refused: bubblewrap", StringComparison.Ordinal));
}

/// <summary>Pass figures of one slice (a task kind or a language).</summary>
public sealed record PassRates(int Graded, int Passed, double PassRate, IReadOnlyDictionary<string, double> PassAtK, IReadOnlyDictionary<string, double> PassAllK);

/// <summary>Collects grades of one backend's attempts into a <see cref="GradingSummary"/>.</summary>
internal sealed class GradingAccumulator
{
    private static readonly int[] Ks = [1, 2, 5, 10];
    private readonly Dictionary<string, (string Kind, string Language, int N, int C)> _tasks = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, int> _outcomes = new(StringComparer.Ordinal);
    private readonly List<double> _mutation = [];
    private readonly List<AttemptRecord> _failedGenerations = [];
    private int _quarantined, _ungraded;

    public void Add(AttemptRecord record)
    {
        // A generation that failed (error, timeout) produced no answer: it counts as not passed, never out of the
        // denominator. Cancelled attempts are re-planned by --resume and stay out.
        if (record.Outcome.Status is AttemptStatus.Error or AttemptStatus.Timeout)
        {
            _failedGenerations.Add(record);
            return;
        }

        if (record.Grade is not { } grade || record.Outcome.Status != AttemptStatus.Ok)
        {
            return;
        }

        if (grade.Quarantined is not null)
        {
            _quarantined++;
            return;
        }

        if (GradeMarks.IsRefused(grade))
        {
            _ungraded++;
            return;
        }

        var outcome = grade.Outcome;
        var passed = grade.IsPassed;
        _outcomes[outcome] = _outcomes.GetValueOrDefault(outcome) + 1;
        var key = record.Slot.TaskId;
        (string Kind, string Language, int N, int C) entry = _tasks.TryGetValue(key, out var seen) ? seen : (KindName(record.TaskKind), record.Language ?? "?", 0, 0);
        _tasks[key] = (entry.Kind, entry.Language, entry.N + 1, entry.C + (passed ? 1 : 0));
        if (grade.MutationScore is { } score)
        {
            _mutation.Add(score);
        }
    }

    private static string KindName(string? kind) => kind switch
    {
        null => "?",
        "UnitTests" => "unit-tests",
        _ => kind.ToLowerInvariant(),
    };

    public GradingSummary? Build()
    {
        if (_tasks.Count == 0)
        {
            // Every answer refused: nothing was judged, so there is no pass rate, only the count of what was not graded.
            return _ungraded == 0 ? null : new GradingSummary
            {
                Ungraded = _ungraded,
                Notes = [string.Create(CultureInfo.InvariantCulture, $"{_ungraded} answer(s) ungraded: the sandbox refused to run them (bubblewrap missing); no pass rate. Fix: install bubblewrap and run spark-eval grade <run-dir>.")],
            };
        }

        foreach (var failed in _failedGenerations)
        {
            var key = failed.Slot.TaskId;
            var entry = _tasks.TryGetValue(key, out var seen) ? seen : (KindName(failed.TaskKind), failed.Language ?? "?", 0, 0);
            _tasks[key] = (entry.Item1, entry.Item2, entry.Item3 + 1, entry.Item4);
            _outcomes["generation_failed"] = _outcomes.GetValueOrDefault("generation_failed") + 1;
        }

        _failedGenerations.Clear();
        var notes = new List<string>
        {
            "pass_rate = passed / (graded attempts + failed generations): an attempt whose generation failed counts as not passed; pass@k = mean over tasks of 1 − C(n−c,k)/C(n,k); pass^k = mean over tasks of C(c,k)/C(n,k).",
        };
        var minN = _tasks.Values.Min(t => t.N);
        var omitted = Ks.Where(k => k > minN && k <= _tasks.Values.Max(t => t.N)).ToList();
        if (omitted.Count > 0)
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"pass@k for k = {string.Join(", ", omitted)} omitted: some task has only {minN} graded attempt(s) (needs n ≥ k)."));
        }

        if (_quarantined > 0)
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{_quarantined} attempt(s) on quarantined tasks are graded but not counted."));
        }

        if (_ungraded > 0)
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{_ungraded} answer(s) ungraded: the sandbox refused to run them (bubblewrap missing); they are left out of every pass rate, not counted as failed."));
        }

        var graded = _tasks.Values.Sum(t => t.N);
        var passed = _tasks.Values.Sum(t => t.C);
        return new GradingSummary
        {
            Graded = graded,
            Passed = passed,
            PassRate = (double)passed / graded,
            Outcomes = _outcomes,
            PassAtK = AtK(_tasks.Values, false),
            PassAllK = AtK(_tasks.Values, true),
            ByKind = Slice(t => t.Kind),
            ByLanguage = Slice(t => t.Language),
            MeanMutationScore = _mutation.Count > 0 ? _mutation.Average() : null,
            Ungraded = _ungraded,
            Notes = notes,
        };
    }

    private SortedDictionary<string, PassRates> Slice(Func<(string Kind, string Language, int N, int C), string> by)
    {
        var result = new SortedDictionary<string, PassRates>(StringComparer.Ordinal);
        foreach (var group in _tasks.Values.GroupBy(by))
        {
            var n = group.Sum(t => t.N);
            var c = group.Sum(t => t.C);
            result[group.Key] = new PassRates(n, c, (double)c / n, AtK([.. group], false), AtK([.. group], true));
        }

        return result;
    }

    private static SortedDictionary<string, double> AtK(IEnumerable<(string Kind, string Language, int N, int C)> tasks, bool all)
    {
        var list = tasks.Select(t => (t.N, t.C)).ToList();
        var result = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var k in Ks)
        {
            if (PassAtK.Mean(list, k, all) is { } value)
            {
                result[string.Create(CultureInfo.InvariantCulture, $"{(all ? "pass^" : "pass@")}{k}")] = value;
            }
        }

        return result;
    }
}
