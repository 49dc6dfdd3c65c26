using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Sandbox.Tests;

public class PassAtKTests
{
    private static double Choose(int n, int k)
    {
        double r = 1;
        for (var i = 1; i <= k; i++)
        {
            r = r * (n - k + i) / i;
        }

        return r;
    }

    [Theory]
    [InlineData(10, 3, 1)]
    [InlineData(10, 3, 5)]
    [InlineData(20, 1, 10)]
    [InlineData(5, 0, 2)]
    [InlineData(7, 7, 3)]
    public void Estimate_SmallCounts_MatchesBinomialDefinition(int n, int c, int k)
    {
        var expected = n - c < k ? 1.0 : 1.0 - Choose(n - c, k) / Choose(n, k);
        Assert.Equal(expected, PassAtK.Estimate(n, c, k), 12);
    }

    [Fact]
    public void Estimate_LargeCounts_StaysFiniteAndInRange()
    {
        var value = PassAtK.Estimate(2000, 7, 100);
        Assert.InRange(value, 0.0, 1.0);
        Assert.False(double.IsNaN(value));
    }

    [Fact]
    public void EstimateAll_ThreeOfFourPassTwo_IsHalf()
    {
        // C(3,2)/C(4,2) = 3/6.
        Assert.Equal(0.5, PassAtK.EstimateAll(4, 3, 2), 12);
    }

    [Fact]
    public void Mean_SomeTaskBelowK_IsOmitted()
    {
        Assert.Null(PassAtK.Mean([(5, 2), (1, 1)], 2));
        Assert.Equal(0.5, PassAtK.Mean([(2, 1), (2, 1)], 1)!.Value, 12);
    }
}
