namespace Spark.Eval.Core.Running;

/// <summary>Open-loop send times, computed up front from the seed so a run can be replayed exactly.</summary>
public static class ArrivalSchedule
{
    /// <summary>
    /// Offsets in µs from the run's start of <paramref name="count"/> requests at <paramref name="rate"/> requests/s.
    /// Poisson: exponential gaps. Gamma: shape = burstiness, scale = 1/(rate·burstiness) (vLLM's convention;
    /// burstiness 1 is Poisson, below 1 burstier, above 1 more regular). The first request is sent at 0.
    /// </summary>
    public static long[] Compute(int count, double rate, string arrival, double burstiness, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        var random = new Random(seed);
        var shape = arrival == "gamma" ? burstiness : 1.0;
        var scale = 1.0 / (rate * shape);
        var offsets = new long[count];
        double t = 0;
        for (var i = 0; i < count; i++)
        {
            offsets[i] = (long)Math.Round(t * 1e6);
            t += SampleGamma(random, shape) * scale;
        }

        return offsets;
    }

    /// <summary>Marsaglia–Tsang gamma(shape, 1) sampler; boosts shapes below 1.</summary>
    internal static double SampleGamma(Random random, double shape)
    {
        if (shape < 1)
        {
            var u = random.NextDouble();
            return SampleGamma(random, shape + 1) * Math.Pow(u, 1.0 / shape);
        }

        var d = shape - (1.0 / 3);
        var c = 1.0 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = NextGaussian(random);
                v = 1 + (c * x);
            }
            while (v <= 0);

            v = v * v * v;
            var u = random.NextDouble();
            if (u < 1 - (0.0331 * x * x * x * x) || Math.Log(u) < (0.5 * x * x) + (d * (1 - v + Math.Log(v))))
            {
                return d * v;
            }
        }
    }

    private static double NextGaussian(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
