using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>One row of the per-slice pass-rate table: a label and, per backend, passed of graded.</summary>
public sealed record PassRateSlice(string Label, bool Merged, IReadOnlyDictionary<string, (int Passed, int Graded)> ByBackend);

/// <summary>
/// Pass rates by task kind or language, with slices too small to say anything merged: a slice stands alone only when
/// every graded backend has at least <see cref="MinimumGraded"/> graded attempts in it; the rest are pooled into one row.
/// </summary>
public static class PassRateSlices
{
    /// <summary>Below this many graded attempts a slice's 95 % interval spans most of [0, 1]: it is merged instead.</summary>
    public const int MinimumGraded = 8;

    public static IReadOnlyList<PassRateSlice> Build(IReadOnlyList<BackendSummary> backends, Func<GradingSummary, IReadOnlyDictionary<string, PassRates>> pick, string what)
    {
        ArgumentNullException.ThrowIfNull(backends);
        ArgumentNullException.ThrowIfNull(pick);
        var graded = backends.Where(b => b.Grading is { Graded: > 0 }).ToList();
        var keys = graded.SelectMany(b => pick(b.Grading!).Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var rows = new List<PassRateSlice>();
        var small = new List<string>();
        foreach (var key in keys)
        {
            var cells = graded.ToDictionary(b => b.Backend, b => pick(b.Grading!).TryGetValue(key, out var r) ? (r.Passed, r.Graded) : (0, 0), StringComparer.Ordinal);
            if (cells.Values.All(c => c.Item2 >= MinimumGraded))
            {
                rows.Add(new PassRateSlice($"{what} {key}", false, cells));
            }
            else
            {
                small.Add(key);
            }
        }

        if (small.Count > 0)
        {
            var pooled = graded.ToDictionary(b => b.Backend, b =>
            {
                var slices = pick(b.Grading!);
                return (small.Sum(k => slices.TryGetValue(k, out var r) ? r.Passed : 0), small.Sum(k => slices.TryGetValue(k, out var r) ? r.Graded : 0));
            }, StringComparer.Ordinal);
            var label = small.Count == 1 ? $"{what} {small[0]}" : $"{what}s {string.Join(" + ", small)} (merged)";
            rows.Add(new PassRateSlice(label, small.Count > 1, pooled));
        }

        return rows;
    }
}
