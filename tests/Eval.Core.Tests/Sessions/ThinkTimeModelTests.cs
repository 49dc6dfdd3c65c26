using Spark.Eval.Core.Sessions;

namespace Spark.Eval.Core.Tests.Sessions;

/// <summary>Think-time sampling: the documented default medians, inverse-CDF sampling of a quantile table, seeding, and bad files refused.</summary>
public class ThinkTimeModelTests
{
    private static double MedianOf(ThinkTimeModel model, string kind, int turn = 0)
    {
        var draws = Enumerable.Range(0, 4001).Select(i => model.Sample(42, i, i % 7, turn, kind).TotalSeconds).Order().ToList();
        return draws[draws.Count / 2];
    }

    [Theory]
    [InlineData("stub", 30)]
    [InlineData("refactor", 60)]
    [InlineData("unit-tests", 45)]
    [InlineData("explain", 90)]
    [InlineData("fix", 40)]
    public void Defaults_ManyDraws_MedianIsTheDocumentedOne(string kind, double median)
    {
        Assert.InRange(MedianOf(ThinkTimeModel.Defaults, kind), median * 0.93, median * 1.07);
    }

    [Fact]
    public void Defaults_RepairTurn_UsesTheRepairDistribution()
    {
        Assert.InRange(MedianOf(ThinkTimeModel.Defaults, "explain", turn: 1), 20 * 0.93, 20 * 1.07);
    }

    [Fact]
    public void QuantileTable_Draws_FollowTheTableByInverseCdf()
    {
        var model = ThinkTimeModel.Checked("t.json", [new ThinkTimeDistribution { Kind = "all", Quantiles = [(0.1, 10), (0.5, 20), (0.9, 100)] }]);
        var draws = Enumerable.Range(0, 5000).Select(i => model.Sample(1, i, 0, 0, "fix").TotalSeconds).ToList();
        Assert.All(draws, d => Assert.InRange(d, 10, 100));
        // P(draw ≤ 20) = 0.5 and P(draw ≤ 60) = 0.7 (linear between p 0.5 → 20 s and p 0.9 → 100 s).
        Assert.InRange(draws.Count(d => d <= 20) / 5000.0, 0.47, 0.53);
        Assert.InRange(draws.Count(d => d <= 60) / 5000.0, 0.67, 0.73);
    }

    [Fact]
    public void Sample_SameSeedAndPosition_SameDrawAndDifferentPositionsDiffer()
    {
        var a = ThinkTimeModel.Defaults.Sample(7, 3, 4, 0, "stub");
        Assert.Equal(a, ThinkTimeModel.Defaults.Sample(7, 3, 4, 0, "stub"));
        Assert.NotEqual(a, ThinkTimeModel.Defaults.Sample(7, 3, 5, 0, "stub"));
        Assert.NotEqual(a, ThinkTimeModel.Defaults.Sample(8, 3, 4, 0, "stub"));
    }

    [Fact]
    public void Checked_FallingQuantiles_RefusedNamingFileKindAndFix()
    {
        var ex = Assert.Throws<InputException>(() => ThinkTimeModel.Checked("think.json", [new ThinkTimeDistribution { Kind = "fix", Quantiles = [(0.5, 30), (0.9, 10)] }]));
        Assert.Contains("think.json", ex.Message, StringComparison.Ordinal);
        Assert.Contains("kinds[fix]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void For_KindMissingWithoutAll_RefusedNamingTheKind()
    {
        var model = ThinkTimeModel.Checked("think.json", [new ThinkTimeDistribution { Kind = "fix", LogNormal = (3, 0.5) }]);
        var ex = Assert.Throws<InputException>(() => model.Sample(1, 0, 0, 0, "explain"));
        Assert.Contains("'explain'", ex.Message, StringComparison.Ordinal);
    }
}
