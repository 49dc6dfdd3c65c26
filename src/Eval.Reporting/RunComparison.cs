using System.Globalization;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>
/// How one metric moved from a baseline run to a candidate run, with its 95 % interval and a verdict. Change is
/// candidate / baseline for latencies (ChangeKind "ratio") and candidate − baseline for proportions ("difference").
/// MinimumDetectable is the smallest worsening (same scale as Change) these sample sizes flag with 80 % power
/// (<see cref="PowerAnalysis"/>).
/// </summary>
public sealed record MetricComparison(
    string Backend,
    string Metric,
    double? Baseline,
    double? Candidate,
    double? Change,
    string ChangeKind,
    double? CiLow,
    double? CiHigh,
    string Verdict,
    string Method,
    double? MinimumDetectable = null);

/// <summary>The comparison of two runs: one row per matched backend and metric.</summary>
public sealed record RunComparisonResult(string BaselineRun, string CandidateRun, IReadOnlyList<MetricComparison> Rows, IReadOnlyList<string> Notes)
{
    public bool Regressed => Rows.Any(r => r.Verdict == RunComparison.Regressed);
}

/// <summary>
/// Compares a candidate run with a baseline, backend by backend. Latency medians: percentile-bootstrap 95 % interval
/// of the ratio of medians (seeded). Proportions (pass rate, error rate, in-flow ratio): Newcombe's hybrid Wilson
/// interval of the difference. A metric regressed when its change is worse than the tolerance and the interval
/// excludes no change; improved symmetrically; otherwise no significant change.
/// </summary>
public static class RunComparison
{
    public const string Regressed = "regressed";
    public const string Improved = "improved";
    public const string NoChange = "no significant change";
    public const string NotTested = "not tested";
    private const int Resamples = 2000;

    /// <summary>Default tolerances: latency ratios 1.10 (10 % slower), proportions 0.05 absolute (error rate 0.02).</summary>
    public static IReadOnlyDictionary<string, double> DefaultTolerances { get; } = new Dictionary<string, double>(StringComparer.Ordinal)
    {
        ["ttft_p50_ms"] = 0.10,
        ["e2e_p50_ms"] = 0.10,
        ["tpot_p50_ms"] = 0.10,
        ["pass_rate"] = 0.05,
        ["error_rate"] = 0.02,
        ["flow_in_flow_ratio"] = 0.05,
    };

    public static RunComparisonResult Compare(
        ReportData baseline, ReportData candidate, IReadOnlyDictionary<string, string> backendMap,
        IReadOnlyDictionary<string, double> tolerances, int seed = 42)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(backendMap);
        ArgumentNullException.ThrowIfNull(tolerances);
        var notes = new List<string>();
        var rows = new List<MetricComparison>();
        var pairs = Pair(baseline, candidate, backendMap, notes);
        var random = new Random(seed);
        foreach (var (b, c) in pairs)
        {
            var name = b.Backend == c.Backend ? b.Backend : $"{b.Backend} → {c.Backend}";
            var bs = baseline.Samples.First(s => s.Backend == b.Backend);
            var cs = candidate.Samples.First(s => s.Backend == c.Backend);
            foreach (var (metric, stem, pick) in LatencyMetrics)
            {
                var row = MedianRatio(name, metric, pick(bs), pick(cs), Tolerance(tolerances, metric), random);
                rows.Add(row.Verdict == NotTested ? FromSummaries(row, b, c, stem) : row);
            }
            if (b.Grading is { } bg && c.Grading is { } cg)
            {
                rows.Add(Difference(name, "pass_rate", (bg.Passed, bg.Graded), (cg.Passed, cg.Graded), higherIsBetter: true, Tolerance(tolerances, "pass_rate")));
            }
            else if (b.Grading is not null || c.Grading is not null)
            {
                notes.Add($"{name}: pass_rate not compared: only one of the runs is graded.");
            }

            rows.Add(Difference(name, "error_rate", (b.Counts.Error + b.Counts.Timeout, Decided(b)), (c.Counts.Error + c.Counts.Timeout, Decided(c)), higherIsBetter: false, Tolerance(tolerances, "error_rate")));
            if (b.Flow is { } bf && c.Flow is { } cf)
            {
                rows.Add(Difference(name, "flow_in_flow_ratio", (Count(bf), bf.Decided), (Count(cf), cf.Decided), higherIsBetter: true, Tolerance(tolerances, "flow_in_flow_ratio")));
            }

            if (b.Simulated || c.Simulated)
            {
                notes.Add($"{name}: SIMULATED timings on at least one side.");
            }
        }

        if (baseline.Manifest.Suite.Sha256 != candidate.Manifest.Suite.Sha256)
        {
            notes.Add($"The runs used different suites ({baseline.Manifest.Suite.Name} {Short(baseline.Manifest.Suite.Sha256)} vs {candidate.Manifest.Suite.Name} {Short(candidate.Manifest.Suite.Sha256)}): pass rates are not like for like.");
        }

        return new RunComparisonResult(baseline.Manifest.RunId, candidate.Manifest.RunId, rows, notes);
    }

    private static readonly (string Metric, string Stem, Func<BackendSamples, double[]> Pick)[] LatencyMetrics =
    [
        ("ttft_p50_ms", "ttft_ms", s => s.TtftMs), ("e2e_p50_ms", "e2e_ms", s => s.E2eMs), ("tpot_p50_ms", "tpot_ms", s => s.TpotMs),
    ];

    /// <summary>
    /// A side without per-attempt samples (an imported peer result): the medians its summary holds are set side by
    /// side with the ratio as a point estimate; with no samples there is no interval, so no verdict.
    /// </summary>
    private static MetricComparison FromSummaries(MetricComparison row, BackendSummary baseline, BackendSummary candidate, string stem)
    {
        var b = row.Baseline ?? (baseline.Metrics.TryGetValue(stem, out var bs) && double.IsFinite(bs.P50) ? bs.P50 : null);
        var c = row.Candidate ?? (candidate.Metrics.TryGetValue(stem, out var cs) && double.IsFinite(cs.P50) ? cs.P50 : null);
        if (b == row.Baseline && c == row.Candidate)
        {
            return row;
        }

        return row with
        {
            Baseline = b, Candidate = c, Change = b is > 0 && c is { } cv ? cv / b.Value : null,
            Method = "medians from an imported summary (no per-attempt samples): point estimate only, not tested",
        };
    }

    private static int Decided(BackendSummary b) => b.Counts.Ok + b.Counts.Error + b.Counts.Timeout;

    private static int Count(FlowSummary f) => (int)Math.Round(f.InFlowRatio * f.Decided);

    private static string Short(string sha) => sha.Length > 12 ? sha[..12] : sha;

    private static double Tolerance(IReadOnlyDictionary<string, double> tolerances, string metric) =>
        tolerances.TryGetValue(metric, out var t) ? t : DefaultTolerances[metric];

    private static List<(BackendSummary Baseline, BackendSummary Candidate)> Pair(
        ReportData baseline, ReportData candidate, IReadOnlyDictionary<string, string> map, List<string> notes)
    {
        var pairs = new List<(BackendSummary, BackendSummary)>();
        var candidates = candidate.Summary.Backends.ToDictionary(b => b.Backend, StringComparer.Ordinal);
        if (map.Count > 0)
        {
            foreach (var (from, to) in map)
            {
                var b = baseline.Summary.Backends.FirstOrDefault(x => x.Backend == from)
                    ?? throw new Core.InputException($"--backend {from}={to}: the baseline run has no backend '{from}'. Fix: use one of {string.Join(", ", baseline.Summary.Backends.Select(x => x.Backend))}");
                var c = candidates.GetValueOrDefault(to)
                    ?? throw new Core.InputException($"--backend {from}={to}: the candidate run has no backend '{to}'. Fix: use one of {string.Join(", ", candidates.Keys)}");
                pairs.Add((b, c));
            }

            return pairs;
        }

        foreach (var b in baseline.Summary.Backends)
        {
            if (candidates.TryGetValue(b.Backend, out var c))
            {
                pairs.Add((b, c));
            }
            else
            {
                notes.Add($"{b.Backend}: only in the baseline run; not compared.");
            }
        }

        if (pairs.Count == 0 && baseline.Summary.Backends.Count == 1 && candidate.Summary.Backends.Count == 1)
        {
            pairs.Add((baseline.Summary.Backends[0], candidate.Summary.Backends[0]));
        }

        if (pairs.Count == 0)
        {
            throw new Core.InputException(
                $"the runs share no backend name (baseline: {string.Join(", ", baseline.Summary.Backends.Select(x => x.Backend))}; candidate: {string.Join(", ", candidates.Keys)}). Fix: pair them with --backend BASELINE=CANDIDATE");
        }

        return pairs;
    }

    /// <summary>Ratio of medians with a percentile-bootstrap 95 % interval; higher is worse.</summary>
    internal static MetricComparison MedianRatio(string backend, string metric, double[] baseline, double[] candidate, double tolerance, Random random)
    {
        const string method = "ratio of medians, percentile bootstrap 95 % (2000 resamples, seeded)";
        if (baseline.Length < 3 || candidate.Length < 3)
        {
            return new MetricComparison(backend, metric, Median(baseline), Median(candidate), null, "ratio", null, null, NotTested, "fewer than 3 samples on a side");
        }

        var b = Median(baseline)!.Value;
        var c = Median(candidate)!.Value;
        var ratios = new double[Resamples];
        var bufferB = new double[baseline.Length];
        var bufferC = new double[candidate.Length];
        for (var i = 0; i < Resamples; i++)
        {
            ratios[i] = ResampledMedian(candidate, bufferC, random) / Math.Max(ResampledMedian(baseline, bufferB, random), 1e-9);
        }

        Array.Sort(ratios);
        var low = LatencyStatistics.Percentile(ratios, 0.025);
        var high = LatencyStatistics.Percentile(ratios, 0.975);
        var ratio = c / Math.Max(b, 1e-9);
        var verdict = ratio > 1 + tolerance && low > 1 ? Regressed
            : ratio < 1 / (1 + tolerance) && high < 1 ? Improved
            : NoChange;
        var logSe = PowerAnalysis.StandardDeviationOfLogs(ratios);
        var detectable = Math.Exp(PowerAnalysis.MinimumDetectable(logSe, Math.Log(1 + tolerance)));
        return new MetricComparison(backend, metric, b, c, ratio, "ratio", low, high, verdict, method, detectable);
    }

    /// <summary>Difference of proportions with Newcombe's hybrid Wilson 95 % interval.</summary>
    internal static MetricComparison Difference(string backend, string metric, (int Hits, int Trials) baseline, (int Hits, int Trials) candidate, bool higherIsBetter, double tolerance)
    {
        const string method = "difference of proportions, Newcombe hybrid Wilson 95 %";
        if (baseline.Trials == 0 || candidate.Trials == 0)
        {
            return new MetricComparison(backend, metric, null, null, null, "difference", null, null, NotTested, "no attempts on a side");
        }

        var p1 = (double)baseline.Hits / baseline.Trials;
        var p2 = (double)candidate.Hits / candidate.Trials;
        var (l1, u1) = ProportionInterval.Wilson95(baseline.Hits, baseline.Trials);
        var (l2, u2) = ProportionInterval.Wilson95(candidate.Hits, candidate.Trials);
        var d = p2 - p1;
        var low = d - Math.Sqrt(((p2 - l2) * (p2 - l2)) + ((u1 - p1) * (u1 - p1)));
        var high = d + Math.Sqrt(((u2 - p2) * (u2 - p2)) + ((p1 - l1) * (p1 - l1)));
        var worse = higherIsBetter ? -d : d;
        var worseLow = higherIsBetter ? -high : low;
        var worseHigh = higherIsBetter ? -low : high;
        var verdict = worse > tolerance && worseLow > 0 ? Regressed
            : worse < -tolerance && worseHigh < 0 ? Improved
            : NoChange;
        var detectable = PowerAnalysis.MinimumDetectable(PowerAnalysis.DifferenceStandardError(baseline, candidate), tolerance);
        return new MetricComparison(backend, metric, p1, p2, d, "difference", low, high, verdict, method, detectable);
    }

    private static double ResampledMedian(double[] source, double[] buffer, Random random) => BootstrapMedian.Resample(source, buffer, random);

    private static double? Median(double[] sorted) => sorted.Length == 0 ? null : LatencyStatistics.Percentile(sorted, 0.5);

    /// <summary>A change as people read it: "+12.0 %" for a ratio, "−3.0 pts" for a difference of proportions.</summary>
    public static string FormatChange(MetricComparison row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.Change is not { } change)
        {
            return "–";
        }

        return row.ChangeKind == "ratio"
            ? ((change - 1) * 100).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture) + " %"
            : (change * 100).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture) + " pts";
    }

    /// <summary>The minimum detectable worsening as people read it: "≥ 12.0 %" or "≥ 8.0 pts"; "–" when not computed.</summary>
    public static string FormatDetectable(MetricComparison row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.MinimumDetectable is not { } mde)
        {
            return "–";
        }

        return row.ChangeKind == "ratio"
            ? "≥ " + ((mde - 1) * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %"
            : "≥ " + (mde * 100).ToString("0.0", CultureInfo.InvariantCulture) + " pts";
    }

    /// <summary>One row in words, with its numbers: values, change, interval, detectable effect and verdict (JUnit and step summaries).</summary>
    public static string Describe(MetricComparison row)
    {
        ArgumentNullException.ThrowIfNull(row);
        string Value(double? v) => v is not { } x ? "–" : row.ChangeKind == "ratio" ? x.ToString("0.###", CultureInfo.InvariantCulture) : (x * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %";
        return $"{row.Verdict}: baseline {Value(row.Baseline)} → candidate {Value(row.Candidate)}, change {FormatChange(row)}, 95 % interval {FormatInterval(row)}, detectable {FormatDetectable(row)} ({row.Method})";
    }

    public static string FormatInterval(MetricComparison row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.CiLow is not { } low || row.CiHigh is not { } high)
        {
            return "–";
        }

        return row.ChangeKind == "ratio"
            ? $"[{((low - 1) * 100).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture)}, {((high - 1) * 100).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture)}] %"
            : $"[{(low * 100).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture)}, {(high * 100).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture)}] pts";
    }
}
