namespace Spark.Eval.Core.Metrics;

/// <summary>Confidence intervals for a proportion such as a pass rate.</summary>
public static class ProportionInterval
{
    /// <summary>
    /// The Wilson score interval at 95 %: (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), z = 1.96.
    /// It stays inside [0, 1] and behaves at p̂ = 0 or 1, where the normal interval collapses.
    /// </summary>
    public static (double Low, double High) Wilson95(int successes, int trials)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(successes);
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, successes);
        if (trials == 0)
        {
            return (0, 1);
        }

        const double z = 1.959963984540054;
        var n = (double)trials;
        var p = successes / n;
        var denominator = 1 + (z * z / n);
        var centre = p + (z * z / (2 * n));
        var half = z * Math.Sqrt((p * (1 - p) / n) + (z * z / (4 * n * n)));
        return (Math.Max(0, (centre - half) / denominator), Math.Min(1, (centre + half) / denominator));
    }
}
