using Spark.Eval.Core;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;

namespace Spark.Eval.Simulator.Tests;

/// <summary>Issue #20 thirteenth pass: request lengths drawn from a measured dataset's shape, scaled to the run's means.</summary>
public class LengthDistributionTests
{
    [Fact]
    public void Draw_TwoComponents_AveragesTheAskedMeans_AndKeepsEachComponentsShape()
    {
        // Component A (weight 3): prompts uniform on 10..30 (mean 20), outputs uniform on 100..300 (mean 200).
        // Component B (weight 1): prompts uniform on 200..600 (mean 400), outputs fixed at 4.
        // Mixture means: 0.75·20 + 0.25·400 = 115 and 0.75·200 + 0.25·4 = 151; asked 230 and 302 scale both by 2.
        static double[] Uniform(double lo, double hi) => [.. LengthDistribution.Probabilities.Select(p => lo + ((hi - lo) * p))];
        var shape = new LengthDistribution("test", "hand-made", [
            new LengthDistribution.Component(3, Uniform(10, 30), Uniform(100, 300)),
            new LengthDistribution.Component(1, Uniform(200, 600), Uniform(4, 4)),
        ]);
        var random = new Random(3);
        var draws = Enumerable.Range(0, 40_000).Select(_ => shape.Draw(230, 302, random)).ToArray();

        Assert.InRange(draws.Average(d => d.Input), 230 * 0.985, 230 * 1.015);
        Assert.InRange(draws.Average(d => d.Output), 302 * 0.985, 302 * 1.015);
        // B's long prompts (400..1,200 after scaling) come with 8-token outputs: about a quarter of the draws.
        var longPrompts = draws.Where(d => d.Input >= 400).ToArray();
        Assert.InRange(longPrompts.Length / (double)draws.Length, 0.23, 0.27);
        Assert.All(longPrompts, d => Assert.Equal(8, d.Output));
        Assert.All(draws.Where(d => d.Input < 400), d => Assert.InRange(d.Output, 200, 600));
    }

    [Fact]
    public void ShareGpt_DrawsTheMeasuredShape_SkewedAndNegativelyCorrelated()
    {
        // The measured sample (878 pairs, o200k tokens): input mean 205.6, median/mean 0.42, P90/mean 2.91; output mean 206.4,
        // median/mean 0.72; Pearson correlation −0.26 (answers used as prompts come with short user follow-ups).
        var random = new Random(11);
        var draws = Enumerable.Range(0, 40_000).Select(_ => LengthDistribution.ShareGpt.Draw(206, 206, random)).ToArray();
        double Median(IEnumerable<int> xs) => xs.Order().ElementAt(draws.Length / 2);
        double P90(IEnumerable<int> xs) => xs.Order().ElementAt(draws.Length * 9 / 10);

        Assert.InRange(Median(draws.Select(d => d.Input)) / 206, 0.36, 0.48);
        Assert.InRange(P90(draws.Select(d => d.Input)) / 206, 2.6, 3.2);
        Assert.InRange(Median(draws.Select(d => d.Output)) / 206, 0.64, 0.80);
        var mi = draws.Average(d => d.Input);
        var mo = draws.Average(d => d.Output);
        var cov = draws.Average(d => (d.Input - mi) * (d.Output - mo));
        var r = cov / Math.Sqrt(draws.Average(d => Math.Pow(d.Input - mi, 2)) * draws.Average(d => Math.Pow(d.Output - mo, 2)));
        Assert.InRange(r, -0.35, -0.15);
    }

    [Fact]
    public void Find_NamesTheShapes_AndRefusesAnUnknownOneWithTheFix()
    {
        Assert.Null(LengthDistribution.Find("fixed"));
        Assert.Null(LengthDistribution.Find(null));
        Assert.Same(LengthDistribution.ShareGpt, LengthDistribution.Find("ShareGPT"));
        var error = Assert.Throws<InputException>(() => LengthDistribution.Find("alpaca"));
        Assert.Contains("Fix:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_ShareGptLengths_DesynchroniseAClosedLoop_SameSeedSameResult()
    {
        // Identical requests in a closed loop finish together, wave after wave: every TTFT is the same. ShareGPT's spread of
        // lengths breaks the waves (TTFTs differ), averages the asked output, and a seed reproduces the run exactly.
        var model = new LatencyModel(TestProfiles.Gpu(stepMs: 1), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var options = new LoadOptions { Requests = 400, Concurrency = 4, InputTokens = 230, OutputTokens = 220, ChunkedPrefill = true, WarmupFraction = 0.25, Seed = 5 };

        var fixedLengths = LoadSimulator.Run(model, options);
        var shareGpt = LoadSimulator.Run(model, options with { Lengths = LengthDistribution.ShareGpt });
        var again = LoadSimulator.Run(model, options with { Lengths = LengthDistribution.ShareGpt });

        Assert.Single(fixedLengths.Ttft.Select(t => Math.Round(t, 9)).Distinct());
        Assert.True(shareGpt.Ttft.Select(t => Math.Round(t, 9)).Distinct().Count() > 100);
        Assert.InRange(shareGpt.OutputTokens / (double)shareGpt.Ttft.Length, 220 * 0.8, 220 * 1.2);
        Assert.Equal(shareGpt.Ttft, again.Ttft);
    }
}
