namespace Spark.Eval.Core.Metrics;

/// <summary>
/// Summary statistics of one metric over attempts: the one place percentiles and confidence intervals are
/// computed. Percentiles interpolate linearly between closest ranks (Hyndman–Fan type 7, numpy's default).
/// </summary>
public sealed record LatencyStatistics
{
    public required string Unit { get; init; }
    public long Count { get; init; }
    public double Mean { get; init; }
    /// <summary>Sample standard deviation (n − 1); NaN below two samples.</summary>
    public double StdDev { get; init; }
    public double Min { get; init; }
    public double Max { get; init; }
    public double P50 { get; init; }
    public double P90 { get; init; }
    public double P95 { get; init; }
    public double P99 { get; init; }
    /// <summary>95% confidence interval of the mean: mean ± t(0.975, n−1)·s/√n.</summary>
    public double[]? Ci95Mean { get; init; }
    /// <summary>95% distribution-free interval of the median from order statistics (binomial, normal approximation).</summary>
    public double[]? Ci95P50 { get; init; }
    /// <summary>95% distribution-free interval of p99; null when n is too small to bound it.</summary>
    public double[]? Ci95P99 { get; init; }
    /// <summary>"exact" or the histogram's stated relative error.</summary>
    public string Method { get; init; } = "exact";

    /// <summary>Computes the statistics of <paramref name="values"/>, which it sorts in place.</summary>
    public static LatencyStatistics? FromSamples(double[] values, string unit)
    {
        if (values.Length == 0)
        {
            return null;
        }

        Array.Sort(values);
        var n = values.Length;
        double sum = 0;
        foreach (var v in values)
        {
            sum += v;
        }

        var mean = sum / n;
        double ss = 0;
        foreach (var v in values)
        {
            ss += (v - mean) * (v - mean);
        }

        var std = n > 1 ? Math.Sqrt(ss / (n - 1)) : double.NaN;
        return new LatencyStatistics
        {
            Unit = unit,
            Count = n,
            Mean = mean,
            StdDev = std,
            Min = values[0],
            Max = values[^1],
            P50 = Percentile(values, 0.50),
            P90 = Percentile(values, 0.90),
            P95 = Percentile(values, 0.95),
            P99 = Percentile(values, 0.99),
            Ci95Mean = n > 1 ? [mean - (StudentT975(n - 1) * std / Math.Sqrt(n)), mean + (StudentT975(n - 1) * std / Math.Sqrt(n))] : null,
            Ci95P50 = OrderStatisticInterval(values, 0.50),
            Ci95P99 = OrderStatisticInterval(values, 0.99),
        };
    }

    /// <summary>Statistics of a histogram of microseconds, reported in milliseconds.</summary>
    public static LatencyStatistics? FromHistogram(LogHistogram histogram)
    {
        if (histogram.Count == 0)
        {
            return null;
        }

        var n = histogram.Count;
        var mean = histogram.Mean / 1000.0;
        var std = histogram.StandardDeviation / 1000.0;
        return new LatencyStatistics
        {
            Unit = "ms",
            Count = n,
            Mean = mean,
            StdDev = std,
            Min = histogram.Min / 1000.0,
            Max = histogram.Max / 1000.0,
            P50 = histogram.Percentile(0.50) / 1000.0,
            P90 = histogram.Percentile(0.90) / 1000.0,
            P95 = histogram.Percentile(0.95) / 1000.0,
            P99 = histogram.Percentile(0.99) / 1000.0,
            Ci95Mean = n > 1 ? [mean - (StudentT975(n - 1) * std / Math.Sqrt(n)), mean + (StudentT975(n - 1) * std / Math.Sqrt(n))] : null,
            Method = "histogram (percentiles within 0.05% relative; exact below 2.048 ms)",
        };
    }

    /// <summary>Type-7 percentile of sorted values: h = p·(n−1), interpolate between ⌊h⌋ and ⌈h⌉.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return double.NaN;
        }

        var h = p * (sorted.Count - 1);
        var lo = (int)Math.Floor(h);
        var hi = (int)Math.Ceiling(h);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }

    /// <summary>
    /// Ranks j, k with n·p ∓ 1.96·√(n·p·(1−p)) (1-based, rounded outward); null when either falls outside the sample.
    /// </summary>
    public static double[]? OrderStatisticInterval(IReadOnlyList<double> sorted, double p)
    {
        var n = sorted.Count;
        var half = 1.96 * Math.Sqrt(n * p * (1 - p));
        var j = (int)Math.Floor((n * p) - half);
        var k = (int)Math.Ceiling((n * p) + half) + 1;
        if (j < 1 || k > n)
        {
            return null;
        }

        return [sorted[j - 1], sorted[k - 1]];
    }

    /// <summary>The 0.975 quantile of Student's t with <paramref name="df"/> degrees of freedom (Cornish–Fisher; exact table below 5).</summary>
    public static double StudentT975(long df)
    {
        switch (df)
        {
            case < 1: return double.NaN;
            case 1: return 12.7062;
            case 2: return 4.3027;
            case 3: return 3.1824;
            case 4: return 2.7764;
            default:
                const double z = 1.959964;
                double d = df, z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
                return z + ((z3 + z) / (4 * d)) + (((5 * z5) + (16 * z3) + (3 * z)) / (96 * d * d))
                    + (((3 * z7) + (19 * z5) + (17 * z3) - (15 * z)) / (384 * d * d * d));
        }
    }
}
