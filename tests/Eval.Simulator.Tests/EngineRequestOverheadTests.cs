using System.Text;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

/// <summary>A serving engine's own request overhead (engineRequestOverheadMs) in place of the profile's, selected by a row's engine.</summary>
public class EngineRequestOverheadTests
{
    private static readonly HardwareProfile Hw = TestProfiles.Gpu(requestMs: 5) with
    {
        EngineRequestOverheadMs = new Dictionary<string, double> { ["vllm"] = 40 },
    };

    private static readonly ValidationRow Row = new()
    {
        Id = "r", Source = "s", Quote = "q", Hardware = Hw.Id, Model = "test-1b", Precision = "bf16", Metric = "ttft_ms",
        Requests = 1, InputTokens = 1000, OutputTokens = 1,
    };

    [Fact]
    public void Predict_VllmRow_ChargesTheEngineOverheadInsteadOfTheProfileOne()
    {
        // One request alone: TTFT = request overhead + the prefill of 1,000 tokens (no network round trip in the test profile).
        var catalog = new ProfileCatalog([Hw], [TestProfiles.Dense()], "test");
        var prefillMs = new Latency.LatencyModel(Hw, TestProfiles.Dense(), TestProfiles.Bf16, 1).PrefillSeconds(1000) * 1000;

        Assert.Equal(40 + prefillMs, ValidationRunner.Predict(catalog, Row with { Engine = "vllm" }), 9);
        // No engine, or an engine the profile lists no value for: the profile's 5 ms.
        Assert.Equal(5 + prefillMs, ValidationRunner.Predict(catalog, Row), 9);
        Assert.Equal(5 + prefillMs, ValidationRunner.Predict(catalog, Row with { Engine = "sglang" }), 9);
        // In process replaces the engine's server path as it replaces the profile's.
        Assert.Equal(prefillMs, ValidationRunner.Predict(catalog, Row with { Engine = "vllm", InProcess = true }), 9);
    }

    [Fact]
    public void LoadValidation_UnknownEngine_RejectedNamingTheField()
    {
        var path = Path.Combine(Path.GetTempPath(), $"validation-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"formatVersion":1,"rows":[{"id":"a","source":"s","quote":"q","hardware":"h100-sxm","engine":"vLLM-0.11","model":"qwen3-8b","precision":"bf16","metric":"ttft_ms","value":64,"inputTokens":233,"outputTokens":221}]}""");
        try
        {
            var ex = Assert.Throws<InputException>(() => ValidationRunner.Load(path));
            Assert.Contains("rows[0].engine", ex.Message, StringComparison.Ordinal);
            Assert.Contains("vLLM-0.11", ex.Message, StringComparison.Ordinal);
            Assert.Contains("vllm, sglang", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("\"engineRequestOverheadMs\":{\"vllm-server\":30}", "engineRequestOverheadMs.vllm-server", "known serving engine")]
    [InlineData("\"engineRequestOverheadMs\":{\"vllm\":-1}", "engineRequestOverheadMs.vllm", ">= 0")]
    public void ParseHardware_BadEngineOverhead_RejectedNamingTheField(string figure, string field, string problem)
    {
        var sources = string.Join(',', new[] { "memoryGB", "memoryBandwidthGBps", "peakTflops", "computeEfficiency", "bandwidthEfficiency", "engineRequestOverheadMs" }.Select(f => $$"""{"field":"{{f}}","url":"u","quote":"q"}"""));
        var json = $$"""{"formatVersion":1,"hardware":[{"id":"x","name":"X","family":"f","memoryGB":80,"memoryBandwidthGBps":3000,"peakTflops":{"bf16":900},{{figure}},"sources":[{{sources}}]}]}""";
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseHardware("hw.json", Encoding.UTF8.GetBytes(json)));
        Assert.Contains($"hardware[0] ('x').{field}", ex.Message, StringComparison.Ordinal);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_RecoversTheEngineOverheadFromTheEnginesRowsOnly()
    {
        // Published TTFT = 40 ms of vLLM request path + the prefill; a TensorRT-LLM row of the same device is unaffected by the constant.
        var start = Hw with { EngineRequestOverheadMs = new Dictionary<string, double>() };
        var catalog = new ProfileCatalog([start], [TestProfiles.Dense()], "test");
        var prefillMs = new Latency.LatencyModel(start, TestProfiles.Dense(), TestProfiles.Bf16, 1).PrefillSeconds(1000) * 1000;
        var file = new ValidationFile
        {
            FormatVersion = 1,
            Rows = [Row with { Id = "v", Engine = "vllm", Value = 40 + prefillMs }, Row with { Id = "t", Engine = "trtllm", Value = 5 + prefillMs }],
        };

        var fit = ProfileFitter.Fit(catalog, file, start.Id, ["engineRequestOverheadMs.vllm"]);

        Assert.Equal(40, fit.Constants.Single().Value, 1);
        Assert.All(fit.Rows, r => Assert.InRange(Math.Abs(r.Error), 0, 0.01));
    }

    [Fact]
    public void EmbeddedValidationRows_EachNameTheirServingEngine()
    {
        var rows = ValidationRunner.Load(null).Rows;
        Assert.All(rows, r => Assert.True(ServingEngines.IsKnown(r.Engine), $"{r.Id}: engine '{r.Engine}'"));
    }
}
