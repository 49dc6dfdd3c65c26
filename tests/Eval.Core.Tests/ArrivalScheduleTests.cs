using Spark.Eval.Core.Running;

namespace Spark.Eval.Core.Tests;

public class ArrivalScheduleTests
{
    private static (double Mean, double Cv2) GapStats(long[] offsets)
    {
        var gaps = offsets.Zip(offsets.Skip(1), (a, b) => (b - a) / 1e6).ToArray();
        var mean = gaps.Average();
        var variance = gaps.Sum(g => (g - mean) * (g - mean)) / (gaps.Length - 1);
        return (mean, variance / (mean * mean));
    }

    [Fact]
    public void Compute_Poisson_MeanGapIsOneOverRateAndCvSquaredIsOne()
    {
        var offsets = ArrivalSchedule.Compute(50_000, 20, "poisson", 1, seed: 3);
        Assert.Equal(0, offsets[0]);
        var (mean, cv2) = GapStats(offsets);
        Assert.InRange(mean, 0.049, 0.051);
        Assert.InRange(cv2, 0.95, 1.05);
    }

    [Theory]
    [InlineData(0.25, 4.0)]
    [InlineData(4.0, 0.25)]
    public void Compute_Gamma_BurstinessSetsCvSquaredToItsInverse(double burstiness, double expectedCv2)
    {
        var (mean, cv2) = GapStats(ArrivalSchedule.Compute(50_000, 10, "gamma", burstiness, seed: 5));
        Assert.InRange(mean, 0.098, 0.102);
        Assert.InRange(cv2, expectedCv2 * 0.93, expectedCv2 * 1.07);
    }

    [Fact]
    public void Compute_SameSeed_SameSchedule_OtherSeed_Differs()
    {
        Assert.Equal(ArrivalSchedule.Compute(100, 5, "gamma", 0.5, 9), ArrivalSchedule.Compute(100, 5, "gamma", 0.5, 9));
        Assert.NotEqual(ArrivalSchedule.Compute(100, 5, "gamma", 0.5, 9), ArrivalSchedule.Compute(100, 5, "gamma", 0.5, 10));
    }
}
