using System.Globalization;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>Why attempts failed, in a few lines: the most frequent error classes, the backends they hit and one example message each.</summary>
public static class FailureDigest
{
    /// <summary>Up to <paramref name="top"/> error classes of measured failed attempts, most frequent first; messages cut to 160 characters.</summary>
    public static IReadOnlyList<string> Lines(IEnumerable<AttemptRecord> records, int top = 3)
    {
        ArgumentNullException.ThrowIfNull(records);
        var failed = records.Where(r => !r.Slot.Warmup && r.Outcome.Status is AttemptStatus.Error or AttemptStatus.Timeout).ToList();
        var groups = failed.GroupBy(r => r.Outcome.ErrorClass ?? r.Outcome.Status.ToString().ToLowerInvariant(), StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        var lines = groups.Take(top).Select(g =>
        {
            var backends = string.Join(", ", g.Select(r => r.Slot.Backend).Distinct(StringComparer.Ordinal));
            var example = g.Select(r => r.Outcome.Message).FirstOrDefault(m => !string.IsNullOrWhiteSpace(m));
            var text = example is null ? "" : ": e.g. " + Cut(example.ReplaceLineEndings(" "), 160);
            return string.Create(CultureInfo.InvariantCulture, $"  {g.Key} × {g.Count()} ({backends}){text}");
        }).ToList();
        if (groups.Count > top)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"  … and {groups.Count - top} other error class(es): see attempts.csv (error_class) and report.html"));
        }

        return lines;
    }

    private static string Cut(string text, int max) => text.Length <= max ? text : text[..(max - 1)] + "…";
}
