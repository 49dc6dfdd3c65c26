using System.Globalization;

namespace Spark.Eval.Reporting.Tests;

public sealed class TrendPlotTests
{
    [Fact]
    public void SaveTrend_TwelveBackendsLongRunIds_WritesPngAndSvgWithEveryLabel()
    {
        var shots = Path.Combine(AppContext.BaseDirectory, "plots-trend");
        Directory.CreateDirectory(shots);
        var points = new List<HistoryPoint>();
        for (var run = 0; run < 6; run++)
        {
            var runId = string.Create(CultureInfo.InvariantCulture, $"20261206-1{run}0000-s42-nightly");
            for (var b = 0; b < 12; b++)
            {
                points.Add(new HistoryPoint(runId, DateTimeOffset.UnixEpoch.AddDays(run), null, "sha", $"backend-{b:00}", b % 3 == 0, "ttft_p50_ms", 20 + (b * 10) + run));
            }
        }

        var png = Path.Combine(shots, "trend.png");
        var svg = Path.Combine(shots, "trend.svg");
        ReportPlots.SaveTrend(points, png);
        ReportPlots.SaveTrend(points, svg);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
        var text = File.ReadAllText(svg);
        // Every backend in the legend and every run id on the axis.
        Assert.All(Enumerable.Range(0, 12), b => Assert.Contains($"backend-{b:00}", text, StringComparison.Ordinal));
        Assert.All(points.Select(p => p.RunId).Distinct(), r => Assert.Contains(r, text, StringComparison.Ordinal));
    }
}
