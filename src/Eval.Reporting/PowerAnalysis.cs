using System.Globalization;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>How many repeats one gated metric needs to flag a target worsening, from a baseline run's spread.</summary>
public sealed record PowerRecommendation(
    string Backend,
    string Metric,
    string ChangeKind,
    double Target,
    int BaselineSamples,
    int BaselineRepeats,
    int RecommendedRepeats,
    int RecommendedSamples,
    double RecommendedTolerance,
    double DetectableAtBaseline,
    string Method);

/// <summary>The answer of <c>compare --plan-power</c>: a recommendation per backend × metric, and the repeats that satisfy all.</summary>
public sealed record PowerPlan(string BaselineRun, IReadOnlyList<PowerRecommendation> Rows, int RecommendedRepeats, IReadOnlyList<string> Notes);

/// <summary>
/// Power of the compare gate. A metric is flagged when its worsening exceeds the tolerance and its 95 % interval
/// excludes no change, so with standard error SE (log scale for ratios) a true worsening δ is flagged with 80 %
/// power when δ ≥ max(tolerance, 1.96·SE) + 0.84·SE: that is the minimum detectable effect. For planning, the
/// tolerance is set at 2.576·SE (a false alarm per metric at most 0.5 % of nights) and SE so that the target
/// is met: SE = target / (2.576 + 0.842), tolerance ≈ 0.75 × target. Formulas in docs/reports.md.
/// </summary>
public static class PowerAnalysis
{
    /// <summary>z at 97.5 %: the two-sided 95 % interval the gate uses.</summary>
    public const double ZInterval = 1.959963984540054;

    /// <summary>z at 80 %: the power every recommendation aims for.</summary>
    public const double ZPower = 0.8416212335729143;

    /// <summary>z at 99.5 %: a planned tolerance keeps one metric's false-alarm rate at or below 0.5 %.</summary>
    public const double ZFalseAlarm = 2.5758293035489004;

    /// <summary>The smallest true worsening flagged with 80 % power, on the scale of <paramref name="standardError"/>.</summary>
    public static double MinimumDetectable(double standardError, double tolerance) =>
        Math.Max(tolerance, ZInterval * standardError) + (ZPower * standardError);

    /// <summary>Standard error of a difference of proportions under a common (Laplace-smoothed) rate.</summary>
    public static double DifferenceStandardError((int Hits, int Trials) baseline, (int Hits, int Trials) candidate)
    {
        var p = (baseline.Hits + candidate.Hits + 1.0) / (baseline.Trials + candidate.Trials + 2.0);
        return Math.Sqrt(p * (1 - p) * ((1.0 / Math.Max(1, baseline.Trials)) + (1.0 / Math.Max(1, candidate.Trials))));
    }

    /// <summary>Sample standard deviation of log(x) over bootstrap replicates of a ratio.</summary>
    public static double StandardDeviationOfLogs(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count < 2)
        {
            return double.NaN;
        }

        double sum = 0, sumSquares = 0;
        foreach (var v in values)
        {
            var l = Math.Log(Math.Max(v, 1e-12));
            sum += l;
            sumSquares += l * l;
        }

        var mean = sum / values.Count;
        return Math.Sqrt(Math.Max(0, (sumSquares - (values.Count * mean * mean)) / (values.Count - 1)));
    }

    /// <summary>
    /// Parses targets such as <c>ttft_p50_ms=10%,pass_rate=5pts</c>: latency medians as a relative slowdown, proportions
    /// in points (5pts) or as a fraction (0.05).
    /// </summary>
    public static IReadOnlyDictionary<string, double> ParseTargets(string text)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var part in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var at = part.IndexOf('=', StringComparison.Ordinal);
            var name = at > 0 ? part[..at] : part;
            if (!RunComparison.DefaultTolerances.ContainsKey(name))
            {
                throw new InputException($"--plan-power '{part}': unknown metric '{name}'. Fix: use one of {string.Join(", ", RunComparison.DefaultTolerances.Keys)}, e.g. ttft_p50_ms=10%,pass_rate=5pts");
            }

            var raw = at > 0 ? part[(at + 1)..] : "";
            var scale = raw.EndsWith("pts", StringComparison.Ordinal) ? 0.01 : raw.EndsWith('%') ? 0.01 : 1.0;
            var number = raw.EndsWith("pts", StringComparison.Ordinal) ? raw[..^3] : raw.EndsWith('%') ? raw[..^1] : raw;
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || value * scale >= 1)
            {
                throw new InputException($"--plan-power '{part}': '{raw}' is not a worsening between 0 and 1. Fix: write e.g. ttft_p50_ms=10% or pass_rate=5pts");
            }

            result[name] = value * scale;
        }

        if (result.Count == 0)
        {
            throw new InputException("--plan-power: no target. Fix: write e.g. --plan-power \"ttft_p50_ms=10%,pass_rate=5pts\"");
        }

        return result;
    }

    /// <summary>Recommends repeats (and the tolerance to gate with) per backend so each target worsening is flagged with 80 % power.</summary>
    public static PowerPlan Plan(ReportData baseline, IReadOnlyDictionary<string, double> targets)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(targets);
        var rows = new List<PowerRecommendation>();
        var notes = new List<string>();
        var repeats = Math.Max(1, baseline.Manifest.Plan.Repeats);
        foreach (var backend in baseline.Summary.Backends)
        {
            var samples = baseline.Samples.First(s => s.Backend == backend.Backend);
            foreach (var (metric, target) in targets)
            {
                var row = metric switch
                {
                    "ttft_p50_ms" => Latency(backend.Backend, metric, samples.TtftMs, target, repeats, notes),
                    "e2e_p50_ms" => Latency(backend.Backend, metric, samples.E2eMs, target, repeats, notes),
                    "tpot_p50_ms" => Latency(backend.Backend, metric, samples.TpotMs, target, repeats, notes),
                    "pass_rate" => backend.Grading is { } g
                        ? Proportion(backend.Backend, metric, g.Passed, g.Graded, higherIsBetter: true, target, repeats, notes)
                        : Skip(notes, $"{backend.Backend}: pass_rate not planned: the baseline run is not graded."),
                    "error_rate" => Proportion(backend.Backend, metric, backend.Counts.Error + backend.Counts.Timeout,
                        backend.Counts.Ok + backend.Counts.Error + backend.Counts.Timeout, higherIsBetter: false, target, repeats, notes),
                    "flow_in_flow_ratio" => backend.Flow is { } f
                        ? Proportion(backend.Backend, metric, (int)Math.Round(f.InFlowRatio * f.Decided), f.Decided, higherIsBetter: true, target, repeats, notes)
                        : Skip(notes, $"{backend.Backend}: flow_in_flow_ratio not planned: no flow figures."),
                    _ => null,
                };
                if (row is not null)
                {
                    rows.Add(row);
                }
            }
        }

        notes.Add("Assumes attempts are independent draws from one configuration; runs that differ night to night (machine load, remote endpoints) need more: aggregate several baseline runs (--also-baseline) to see the run-to-run spread.");
        return new PowerPlan(baseline.Manifest.RunId, rows, rows.Count == 0 ? repeats : rows.Max(r => r.RecommendedRepeats), notes);
    }

    private static PowerRecommendation? Skip(List<string> notes, string note)
    {
        notes.Add(note);
        return null;
    }

    private static PowerRecommendation? Latency(string backend, string metric, double[] samples, double target, int repeats, List<string> notes)
    {
        if (samples.Length < 5)
        {
            return Skip(notes, $"{backend}: {metric} not planned: fewer than 5 ok attempts in the baseline.");
        }

        // Spread of one run's log median from the density at the median (a bootstrap of the median is too unstable on
        // small pilots); two independent runs give √2 times that for their log ratio.
        var pairSe = Math.Sqrt(2) * LogMedianStandardError(samples);
        var logTarget = Math.Log(1 + target);
        var neededSe = logTarget / (ZFalseAlarm + ZPower);
        var neededSamples = (int)Math.Ceiling(samples.Length * Math.Pow(pairSe / neededSe, 2));
        var recommendedRepeats = Math.Max(1, (int)Math.Ceiling(repeats * (double)neededSamples / samples.Length));
        var tolerance = Math.Exp(ZFalseAlarm * neededSe) - 1;
        var detectable = Math.Exp(MinimumDetectable(pairSe, Math.Log(1 + RunComparison.DefaultTolerances[metric]))) - 1;
        return new PowerRecommendation(backend, metric, "ratio", target, samples.Length, repeats, recommendedRepeats, neededSamples, tolerance, detectable,
            "SE of the log median = 1 / (2·f̂(median)·√n), f̂ a Gaussian kernel density of the log latencies (Silverman bandwidth); ×√2 for two runs");
    }

    /// <summary>Asymptotic standard error of the median of log(x): 1 / (2 f(m) √n), with f a Gaussian kernel density estimate at the median.</summary>
    public static double LogMedianStandardError(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var logs = values.Select(v => Math.Log(Math.Max(v, 1e-9))).Order().ToArray();
        var n = logs.Length;
        var median = LatencyStatistics.Percentile(logs, 0.5);
        var mean = logs.Average();
        var sd = Math.Sqrt(logs.Sum(l => (l - mean) * (l - mean)) / Math.Max(1, n - 1));
        var iqr = LatencyStatistics.Percentile(logs, 0.75) - LatencyStatistics.Percentile(logs, 0.25);
        var spread = iqr > 0 ? Math.Min(sd, iqr / 1.34) : sd;
        var bandwidth = Math.Max(0.9 * spread * Math.Pow(n, -0.2), 1e-6);
        var density = logs.Sum(l => Math.Exp(-0.5 * Math.Pow((l - median) / bandwidth, 2))) / (n * bandwidth * Math.Sqrt(2 * Math.PI));
        return 1 / (2 * density * Math.Sqrt(n));
    }

    private static PowerRecommendation Proportion(string backend, string metric, int hits, int trials, bool higherIsBetter, double target, int repeats, List<string> notes)
    {
        // Smoothed so a baseline at 0 % or 100 % still has a spread to plan with.
        var p = (hits + 0.5) / (trials + 1.0);
        var worse = Math.Clamp(higherIsBetter ? p - target : p + target, 0, 1);
        var variance = (p * (1 - p)) + (worse * (1 - worse));
        var neededSe = target / (ZFalseAlarm + ZPower);
        var neededSamples = (int)Math.Ceiling(variance / (neededSe * neededSe));
        var perRepeat = Math.Max(1.0, (double)trials / repeats);
        var recommendedRepeats = Math.Max(1, (int)Math.Ceiling(neededSamples / perRepeat));
        var detectable = trials == 0 ? double.NaN
            : MinimumDetectable(Math.Sqrt(variance / trials), RunComparison.DefaultTolerances[metric]);
        if (trials == 0)
        {
            notes.Add($"{backend}: {metric}: no attempts in the baseline; planned from a 50 % rate.");
        }

        return new PowerRecommendation(backend, metric, "difference", target, trials, repeats, recommendedRepeats, neededSamples, ZFalseAlarm * neededSe, detectable,
            "normal approximation: n = (2.576 + 0.842)² · (p(1−p) + p′(1−p′)) / target², p from the baseline");
    }
}

/// <summary>Bootstrap medians by selection (O(n) per resample) rather than a full sort.</summary>
public static class BootstrapMedian
{
    /// <summary>The median (type 7) of a resample with replacement of <paramref name="source"/>, using <paramref name="buffer"/> as scratch.</summary>
    public static double Resample(double[] source, double[] buffer, Random random)
    {
        for (var i = 0; i < buffer.Length; i++)
        {
            buffer[i] = source[random.Next(source.Length)];
        }

        return Median(buffer);
    }

    /// <summary>The median of <paramref name="values"/> (reordered in place), equal to the type-7 50th percentile.</summary>
    public static double Median(double[] values)
    {
        var n = values.Length;
        var k = (n - 1) / 2;
        var lower = Select(values, k);
        if (n % 2 == 1)
        {
            return lower;
        }

        // After selection everything right of k is ≥ values[k]: the next order statistic is their minimum.
        var upper = double.PositiveInfinity;
        for (var i = k + 1; i < n; i++)
        {
            upper = Math.Min(upper, values[i]);
        }

        return (lower + upper) / 2;
    }

    private static double Select(double[] a, int k)
    {
        int left = 0, right = a.Length - 1;
        while (left < right)
        {
            var pivot = a[left + ((right - left) / 2)];
            int i = left, j = right;
            while (i <= j)
            {
                while (a[i] < pivot)
                {
                    i++;
                }

                while (a[j] > pivot)
                {
                    j--;
                }

                if (i <= j)
                {
                    (a[i], a[j]) = (a[j], a[i]);
                    i++;
                    j--;
                }
            }

            if (k <= j)
            {
                right = j;
            }
            else if (k >= i)
            {
                left = i;
            }
            else
            {
                return a[k];
            }
        }

        return a[k];
    }
}
