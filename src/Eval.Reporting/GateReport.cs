using System.Globalization;
using System.Text;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>
/// The outcome of one gate (<c>run --fail-if</c> or <c>compare</c>): every backend × gated metric as a case. It is
/// written as JUnit XML, as a Markdown step summary, and as one closing PASS/FAIL line.
/// </summary>
public sealed record GateReport(string Name, DateTimeOffset TimestampUtc, IReadOnlyList<GateCase> Cases, IReadOnlyList<string> Notes)
{
    public bool Failed => Cases.Any(c => c.Status == GateStatus.Failed);

    public int Count(GateStatus status) => Cases.Count(c => c.Status == status);

    /// <summary>One plain line: <c>PASS: …</c>, or <c>FAIL: …</c> naming every failed backend and metric.</summary>
    public string VerdictLine()
    {
        var failed = Cases.Where(c => c.Status == GateStatus.Failed).ToList();
        var counts = string.Create(CultureInfo.InvariantCulture, $"{Cases.Count} checks, {failed.Count} failed, {Count(GateStatus.Skipped)} skipped");
        return failed.Count == 0
            ? $"PASS: {Name}: {counts}"
            : $"FAIL: {Name}: {counts}: {string.Join("; ", failed.Select(c => $"{c.Backend} {c.Metric}"))}";
    }

    /// <summary>The gate of a comparison: one case per compared backend × metric; "not tested" rows are skipped cases.</summary>
    public static GateReport FromComparison(RunComparisonResult result, DateTimeOffset timestampUtc)
    {
        ArgumentNullException.ThrowIfNull(result);
        var cases = result.Rows.Select(r => new GateCase(
            r.Backend,
            r.Metric,
            r.Verdict == RunComparison.Regressed ? GateStatus.Failed : r.Verdict == RunComparison.NotTested ? GateStatus.Skipped : GateStatus.Passed,
            RunComparison.Describe(r))).ToList();
        return new GateReport($"spark-eval compare {result.BaselineRun} → {result.CandidateRun}", timestampUtc, cases, result.Notes);
    }

    /// <summary>
    /// Writes the gate where CI reads it: JUnit XML to <paramref name="junitPath"/> when given (atomically), a Markdown
    /// summary appended to <paramref name="stepSummaryPath"/> when given (GitHub's GITHUB_STEP_SUMMARY), and the
    /// closing PASS/FAIL line to <paramref name="verdictWriter"/>.
    /// </summary>
    public void Publish(string? junitPath, string? stepSummaryPath, TextWriter verdictWriter)
    {
        ArgumentNullException.ThrowIfNull(verdictWriter);
        // The verdict first: a file that cannot be written must not cost CI the line it reads.
        verdictWriter.WriteLine(VerdictLine());
        if (!string.IsNullOrEmpty(junitPath))
        {
            if (Path.GetDirectoryName(Path.GetFullPath(junitPath)) is { } parent)
            {
                Directory.CreateDirectory(parent);
            }

            RunDirectory.WriteAtomic(junitPath, Encoding.UTF8.GetBytes(JUnitReport.Render(this)));
        }

        if (!string.IsNullOrEmpty(stepSummaryPath))
        {
            File.AppendAllText(stepSummaryPath, StepSummary.Render(this), Encoding.UTF8);
        }
    }

    /// <summary>
    /// Checks before any work that <paramref name="path"/> (given with <paramref name="option"/>) can be written: not a directory,
    /// and its nearest existing parent is a writable directory. Throws an <see cref="InputException"/> naming the option and the fix.
    /// </summary>
    public static void CheckWritable(string? path, string option)
    {
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new InputException($"{option} {path}: is a directory. Fix: name a file, e.g. {option} {Path.Combine(path, "gate.xml")}");
        }

        var parent = Path.GetDirectoryName(full);
        while (parent is not null && !Directory.Exists(parent))
        {
            if (File.Exists(parent))
            {
                throw new InputException($"{option} {path}: {parent} is a file, not a directory. Fix: pass a path in a writable directory");
            }

            parent = Path.GetDirectoryName(parent);
        }

        if (parent is null)
        {
            return;
        }

        var probe = Path.Combine(parent, $".spark-eval-write-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{option} {path}: cannot write in {parent} ({e.Message}). Fix: pass a path in a writable directory");
        }
    }
}
