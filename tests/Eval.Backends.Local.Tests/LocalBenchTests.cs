using System.Text.Json;
using Spark.Eval.Backends.Local.Bench;

namespace Spark.Eval.Backends.Local.Tests;

public sealed class LocalBenchTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Theory]
    [InlineData(32)]
    [InlineData(200)]
    public void PromptOfLength_Target_RenderedPromptAtMostTargetAndWithinFiveTokens(int target)
    {
        var messages = LocalBench.PromptOfLength(fixture.Model, target);

        var tokens = fixture.Model.Tokenize(fixture.Model.FormatPrompt(messages)).Length;
        Assert.InRange(tokens, target - 5, target);
    }

    [Fact]
    public async Task Run_TinySweep_OnePointPerThreadsAndLengthWithBothPathsMeasured()
    {
        var settings = new LocalBenchSettings { PromptTokens = [24, 48], Threads = [1], DecodeTokens = 6, Warmup = 0, Repeats = 2 };
        var lines = new List<string>();

        var report = await new LocalBench(TimeProvider.System, lines.Add).RunAsync(fixture.ModelPath, settings, "test-cpu", TestContext.Current.CancellationToken);

        Assert.Equal(2, report.Points.Count);
        Assert.All(report.Points, p =>
        {
            Assert.Equal(2, p.Harness.Samples.Count);
            Assert.Equal(2, p.Bare.Samples.Count);
            Assert.All(p.Harness.Samples, s => Assert.Equal(6, s.OutputTokens));
            Assert.True(p.Harness.DecodeTokensPerSecondMedian > 0 && p.Bare.DecodeTokensPerSecondMedian > 0);
            Assert.Equal(p.Harness.DecodeTokensPerSecondMedian / p.Bare.DecodeTokensPerSecondMedian, p.DecodeRatio, 9);
        });
        Assert.Equal("7", report.Model.RandomWeightsSeed);
        Assert.Equal(4, report.HarnessAttempts.Count);
        Assert.All(report.HarnessAttempts, a => Assert.Equal(6, a.Tokens.OutputUsage));
        Assert.Equal(["prompt-24", "prompt-48"], report.HarnessAttempts.Select(a => a.Slot.TaskId).Distinct());
        Assert.Equal("local-t1", Assert.Single(report.Backends).Name);
        Assert.NotEqual("unknown", report.SimdBuild);
        Assert.Contains("decodeRatio", report.Definitions.Keys);
        Assert.Contains("decode ratio harness/bare", LocalBench.FormatTable(report), StringComparison.Ordinal);
        var json = JsonSerializer.Serialize(report, LocalBenchJsonContext.Default.LocalBenchReport);
        Assert.Contains("\"simdBuild\"", json, StringComparison.Ordinal);
    }
}
