using System.Text.Json;

namespace Spark.Eval.Cli.Tests;

/// <summary><c>simulate --engine</c>: the engine's request overhead where the profile lists one; an unknown engine is refused.</summary>
public class SimulateEngineTests
{
    private static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] extra)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string[] args = ["simulate", "--hw", "a100-80gb", "--model", "gpt-oss-120b", "--precision", "mxfp4", "--input-tokens", "229", "--output-tokens", "217", "--concurrency", "4", "--json", "--no-saturation", .. extra];
        var exit = await SparkEvalCli.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static double Ttft(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("points")[0].GetProperty("stats").GetProperty("ttftMeanMs").GetDouble();
    }

    [Fact]
    public async Task Simulate_EngineWithItsOwnOverhead_AddsTheDifferenceToTheFirstToken()
    {
        var plain = await RunAsync();
        var vllm = await RunAsync("--engine", "vllm");
        var sglang = await RunAsync("--engine", "sglang");
        Assert.Equal(0, plain.Exit);
        Assert.Equal(0, vllm.Exit);
        // a100-80gb: requestOverheadMs 5, engineRequestOverheadMs.vllm 15; sglang has no value of its own.
        Assert.Equal(10, Ttft(vllm.Out) - Ttft(plain.Out), 6);
        Assert.Equal(Ttft(plain.Out), Ttft(sglang.Out), 9);
    }

    [Fact]
    public async Task Simulate_UnknownEngine_ExitsTwoNamingTheOption()
    {
        var (exit, stdout, stderr) = await RunAsync("--engine", "vllm-0.11");
        Assert.Equal(2, exit);
        Assert.Contains("--engine", stderr, StringComparison.Ordinal);
        Assert.Contains("'vllm-0.11'", stderr, StringComparison.Ordinal);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout);
    }
}
