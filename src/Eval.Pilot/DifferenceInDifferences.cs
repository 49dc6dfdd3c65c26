namespace Spark.Eval.Pilot;

/// <summary>A difference-in-differences effect with its 95 % cluster-bootstrap interval and minimum detectable effect.</summary>
public sealed record EffectEstimate(
    double Estimate,
    double Lower,
    double Upper,
    double StandardError,
    double MinimumDetectableEffect,
    int PilotDevelopers,
    int ControlDevelopers)
{
    /// <summary>True when the 95 % interval excludes zero.</summary>
    public bool Significant => Lower > 0 || Upper < 0;
}

/// <summary>
/// Difference-in-differences over developers: each developer contributes one change (during − before); the effect is
/// the pilot cohort's mean change minus the control cohort's. The interval resamples developers (clusters) with
/// replacement within each cohort, so all of one developer's events move together (docs/pilot.md).
/// </summary>
public static class DifferenceInDifferences
{
    /// <summary>z(0.975) + z(0.80): the minimum detectable effect at 5 % two-sided and 80 % power is this × the standard error.</summary>
    public const double MdeMultiplier = 1.959964 + 0.841621;

    public const int DefaultBootstrap = 2000;

    public static EffectEstimate? Estimate(IReadOnlyList<double> pilotChanges, IReadOnlyList<double> controlChanges, int bootstrap, int seed)
    {
        ArgumentNullException.ThrowIfNull(pilotChanges);
        ArgumentNullException.ThrowIfNull(controlChanges);
        if (pilotChanges.Count < 2 || controlChanges.Count < 2 || bootstrap < 100)
        {
            return null;
        }

        var pilot = pilotChanges.ToArray();
        var control = controlChanges.ToArray();
        var pilotMean = pilot.Average();
        var controlMean = control.Average();
        var estimate = pilotMean - controlMean;

        // A percentile bootstrap of a mean is too narrow by sqrt((n-1)/n) in small groups; each cohort's resampled
        // deviation is widened by sqrt(n/(n-1)) so that a 10-developer pilot still gets its nominal 95 % coverage.
        var pilotScale = Math.Sqrt(pilot.Length / (pilot.Length - 1.0));
        var controlScale = Math.Sqrt(control.Length / (control.Length - 1.0));
        var random = new Random(seed);
        var replicates = new double[bootstrap];
        for (var b = 0; b < bootstrap; b++)
        {
            var p = ResampledMean(pilot, random) - pilotMean;
            var c = ResampledMean(control, random) - controlMean;
            replicates[b] = estimate + (pilotScale * p) - (controlScale * c);
        }

        Array.Sort(replicates);
        var lower = Quantile(replicates, 0.025);
        var upper = Quantile(replicates, 0.975);
        var mean = replicates.Average();
        var se = Math.Sqrt(replicates.Sum(r => (r - mean) * (r - mean)) / (bootstrap - 1));
        return new EffectEstimate(estimate, lower, upper, se, MdeMultiplier * se, pilot.Length, control.Length);
    }

    /// <summary>The minimum detectable effect for another team size, scaling the standard error by sqrt(n / n').</summary>
    public static double MdeAtTeamSize(EffectEstimate effect, int pilotDevelopers, int controlDevelopers)
    {
        ArgumentNullException.ThrowIfNull(effect);
        var now = Math.Sqrt((1.0 / effect.PilotDevelopers) + (1.0 / effect.ControlDevelopers));
        var then = Math.Sqrt((1.0 / pilotDevelopers) + (1.0 / controlDevelopers));
        return effect.MinimumDetectableEffect * then / now;
    }

    private static double ResampledMean(double[] values, Random random)
    {
        double sum = 0;
        for (var i = 0; i < values.Length; i++)
        {
            sum += values[random.Next(values.Length)];
        }

        return sum / values.Length;
    }

    /// <summary>Linear-interpolated quantile of sorted values (type 7).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0)
        {
            return double.NaN;
        }

        var h = (sorted.Count - 1) * q;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }
}
