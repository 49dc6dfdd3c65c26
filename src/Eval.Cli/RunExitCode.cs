using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli;

/// <summary>A run's exit code: 130 interrupted, 1 when every attempt failed or a --fail-if threshold is met, else 0.</summary>
public static class RunExitCode
{
    public static int ExitCode(EvaluationResult result, IReadOnlyList<Threshold> thresholds, string runDirectory, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(stderr);
        stderr.WriteLine($"run directory: {runDirectory}  (status {EvaluationRun.StatusName(result.Status)}; report: {Path.Combine(runDirectory, HtmlReport.FileName)}; recompute with: spark-eval summarize {runDirectory})");
        if (result.Status == RunStatus.Interrupted)
        {
            stderr.WriteLine($"interrupted: finished attempts are kept; continue with: spark-eval run --resume {runDirectory}");
            return SparkEvalCli.ExitInterrupted;
        }

        var summary = result.Summary;
        var measured = summary.Backends.Sum(b => b.Counts.Ok + b.Counts.Error + b.Counts.Timeout);
        if (measured > 0 && summary.Backends.All(b => b.Counts.Ok == 0))
        {
            stderr.WriteLine("FAILED: every attempt failed; the most frequent error classes (all of them: attempts.csv, report.html):");
            var (records, _) = AttemptLog.Read(new RunDirectory(runDirectory).AttemptsPath);
            foreach (var line in FailureDigest.Lines(records))
            {
                stderr.WriteLine(line);
            }

            return SparkEvalCli.ExitThresholdFailed;
        }

        var breaches = Threshold.Evaluate(thresholds, summary);
        foreach (var breach in breaches)
        {
            stderr.WriteLine($"FAILED threshold: {breach}");
        }

        return breaches.Count > 0 ? SparkEvalCli.ExitThresholdFailed : SparkEvalCli.ExitOk;
    }
}
