using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>One metric of one backend estimated from several runs of one configuration, with its 95 % interval.</summary>
public sealed record AggregateEstimate(string Backend, string Metric, int Runs, double Estimate, double? Low, double? High, IReadOnlyList<double> PerRun, string Method);

/// <summary>
/// Several runs of one configuration as one estimate. Latency medians: the mean of the runs' medians with a
/// Student-t 95 % interval across runs (it carries the run-to-run spread a single run cannot show). Proportions:
/// the pooled rate over all attempts with its Wilson 95 % interval.
/// </summary>
public static class RunAggregate
{
    /// <summary>Loads run directories and pools them into one: every attempt of every run, under a joined run id.</summary>
    public static (ReportData Pooled, IReadOnlyList<ReportData> Runs) Load(IReadOnlyList<string> directories)
    {
        ArgumentNullException.ThrowIfNull(directories);
        var runs = new List<ReportData>();
        var all = new List<AttemptRecord>();
        RunManifest? first = null;
        foreach (var path in directories)
        {
            var directory = new RunDirectory(path);
            var manifest = directory.ReadManifest();
            var (records, _) = AttemptLog.Read(directory.AttemptsPath);
            runs.Add(ReportData.From(manifest, SummaryCalculator.Compute(manifest, records), records));
            first ??= manifest;
            all.AddRange(records);
        }

        if (first is null)
        {
            throw new ArgumentException("no run directory given", nameof(directories));
        }

        var pooledManifest = first with { RunId = string.Join('+', runs.Select(r => r.Manifest.RunId)) };
        var pooled = ReportData.From(pooledManifest, SummaryCalculator.Compute(pooledManifest, all), all);
        return (pooled, runs);
    }

    public static IReadOnlyList<AggregateEstimate> Estimate(IReadOnlyList<ReportData> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var result = new List<AggregateEstimate>();
        var backends = runs.SelectMany(r => r.Summary.Backends.Select(b => b.Backend)).Distinct(StringComparer.Ordinal).ToList();
        foreach (var backend in backends)
        {
            var samples = runs.Select(r => r.Samples.FirstOrDefault(s => s.Backend == backend)).OfType<BackendSamples>().ToList();
            foreach (var (metric, pick) in new (string, Func<BackendSamples, double[]>)[] { ("ttft_p50_ms", s => s.TtftMs), ("e2e_p50_ms", s => s.E2eMs), ("tpot_p50_ms", s => s.TpotMs) })
            {
                var medians = samples.Select(pick).Where(v => v.Length > 0).Select(v => LatencyStatistics.Percentile(v, 0.5)).ToList();
                if (medians.Count > 0)
                {
                    result.Add(MeanOfRuns(backend, metric, medians));
                }
            }

            var summaries = runs.Select(r => r.Summary.Backends.FirstOrDefault(b => b.Backend == backend)).OfType<BackendSummary>().ToList();
            var graded = summaries.Where(b => b.Grading is not null).Select(b => b.Grading!).ToList();
            if (graded.Count > 0)
            {
                result.Add(Pooled(backend, "pass_rate", graded.Sum(g => g.Passed), graded.Sum(g => g.Graded), [.. graded.Select(g => g.PassRate)]));
            }

            var decided = summaries.Sum(b => b.Counts.Ok + b.Counts.Error + b.Counts.Timeout);
            result.Add(Pooled(backend, "error_rate", summaries.Sum(b => b.Counts.Error + b.Counts.Timeout), decided, [.. summaries.Select(b => b.ErrorRate)]));
        }

        return result;
    }

    private static AggregateEstimate MeanOfRuns(string backend, string metric, List<double> medians)
    {
        var n = medians.Count;
        var mean = medians.Average();
        if (n < 2)
        {
            return new AggregateEstimate(backend, metric, n, mean, null, null, medians, "one run: no run-to-run interval");
        }

        var sd = Math.Sqrt(medians.Sum(m => (m - mean) * (m - mean)) / (n - 1));
        var half = StudentT975(n - 1) * sd / Math.Sqrt(n);
        return new AggregateEstimate(backend, metric, n, mean, mean - half, mean + half, medians, "mean of the runs' medians, Student-t 95 % across runs");
    }

    private static AggregateEstimate Pooled(string backend, string metric, int hits, int trials, double[] perRun)
    {
        if (trials == 0)
        {
            return new AggregateEstimate(backend, metric, perRun.Length, double.NaN, null, null, perRun, "no attempts");
        }

        var (low, high) = ProportionInterval.Wilson95(hits, trials);
        return new AggregateEstimate(backend, metric, perRun.Length, (double)hits / trials, low, high, perRun, $"pooled over {trials} attempts, Wilson 95 %");
    }

    /// <summary>The 97.5 % quantile of Student's t (exact table to 10 degrees of freedom, Cornish–Fisher beyond).</summary>
    internal static double StudentT975(int df)
    {
        double[] table = [double.NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
        if (df < table.Length)
        {
            return table[df];
        }

        const double z = 1.959963984540054;
        var z3 = z * z * z;
        var z5 = z3 * z * z;
        return z + ((z3 + z) / (4 * df)) + (((5 * z5) + (16 * z3) + (3 * z)) / (96.0 * df * df));
    }
}
