using System.Text;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

/// <summary>
/// Mixture-of-experts step cost (issue #20, hop20 pass): a cost per routed expert a step touches, per MoE layer, on the
/// memory side of the linear roofline, and MoE costs charged on MoE layers only (dense-MLP layers excluded). Hand-computed
/// on TestProfiles.Moe(): 10 layers, 8 experts, top 2, 8 B parameters of which 7 B in experts, 2 B active, bf16, on a
/// 100 TFLOPS / 1000 GB/s device at efficiency 1.
/// </summary>
public sealed class MoeExpertTrafficTests
{
    [Fact]
    public void MoeExpertOverhead_DecodeStep_AddsMoeLayersTimesDistinctExpertsTimesCost()
    {
        var plain = TestProfiles.Gpu(memoryGB: 40);
        var withCost = plain with { MoeExpertOverheadUs = 10 };
        var before = new LatencyModel(plain, TestProfiles.Moe(), TestProfiles.Bf16, 1);
        var after = new LatencyModel(withCost, TestProfiles.Moe(), TestProfiles.Bf16, 1);

        // Batch 1 is memory-bound (5.5 GB of weights at 1000 GB/s = 5.5 ms against 40 µs of FLOPs) and touches 2 experts
        // per layer: 10 layers · 2 · 10 µs = 200 µs more.
        Assert.Equal(2e-4, after.MoeExpertSeconds(1), 12);
        Assert.Equal(before.DecodeStepSeconds(1, 100) + 2e-4, after.DecodeStepSeconds(1, 100), 12);

        // Batch 2 touches 8 · (1 − 0.75²) = 3.5 experts per layer: 10 · 3.5 · 10 µs = 350 µs more.
        Assert.Equal(before.DecodeStepSeconds(2, 200) + 3.5e-4, after.DecodeStepSeconds(2, 200), 12);

        // A dense model touches no experts.
        Assert.Equal(0, new LatencyModel(withCost, TestProfiles.Dense(), TestProfiles.Bf16, 1).MoeExpertSeconds(4));
    }

    [Fact]
    public void NonExpertPrecision_AtTheDefaultPrecision_KeepsAttentionAndEmbeddingsAtTheirOwnFormat()
    {
        // A checkpoint that quantizes only its experts (gpt-oss: MXFP4 experts, BF16 elsewhere). TestProfiles.Moe() at fp8 as
        // its default: 7 B expert parameters at 1 byte + 1 B other parameters at bf16's 2 bytes = 9 GB (8 GB if all were fp8).
        var hw = TestProfiles.Gpu(memoryGB: 40);
        var fp8 = Precision.Find("fp8")!;
        var moe = TestProfiles.Moe() with { DefaultPrecision = "fp8" };
        var mixed = new LatencyModel(hw, moe with { NonExpertPrecision = "bf16" }, fp8, 1);
        var uniform = new LatencyModel(hw, moe, fp8, 1);
        Assert.Equal(9e9, mixed.WeightBytes, 3);
        Assert.Equal(8e9, uniform.WeightBytes, 3);

        // A decode step at batch 1 reads the 1 B non-expert parameters (2 GB) and 2 of 8 experts (1.75 GB): 3.75 GB at 1000 GB/s.
        Assert.Equal(3.75e9, mixed.WeightBytesRead(1), 3);
        Assert.Equal(3.75e-3, mixed.WeightReadSeconds(1), 12);

        // Each part streams at its own format's measured read rate where the device gives one: 2 GB / 500 + 1.75 GB / 250 GB/s.
        var rated = new LatencyModel(hw with { WeightReadGBps = new Dictionary<string, double> { ["bf16"] = 500, ["fp8"] = 250 } }, moe with { NonExpertPrecision = "bf16" }, fp8, 1);
        Assert.Equal((2e9 / 500e9) + (1.75e9 / 250e9), rated.WeightReadSeconds(1), 12);

        // On a runtime that loads GGUF files the model's GGUF checkpoint applies (ggml-org's gpt-oss: Q8_0 outside the experts):
        // 1 B · 1.0625 + 7 B · 1 = 8.0625 GB.
        var gguf = new LatencyModel(hw with { CheckpointFormat = "gguf" }, moe with { NonExpertPrecision = "bf16", GgufNonExpertPrecision = "q8_0" }, fp8, 1);
        Assert.Equal(8.0625e9, gguf.WeightBytes, 3);
        var ggufOnHf = new LatencyModel(hw, moe with { NonExpertPrecision = "bf16", GgufNonExpertPrecision = "q8_0" }, fp8, 1);
        Assert.Equal(9e9, ggufOnHf.WeightBytes, 3);

        // At another precision than the checkpoint's, every weight takes the run's precision.
        var asBf16 = new LatencyModel(hw, moe with { NonExpertPrecision = "bf16" }, TestProfiles.Bf16, 1);
        Assert.Equal(16e9, asBf16.WeightBytes, 3);
    }

    [Fact]
    public void NonExpertPrecision_UnknownOrOnADenseModel_RejectedNamingTheField()
    {
        var gptOss = ProfileCatalog.LoadEmbedded().GetModel("gpt-oss-120b");
        Assert.Equal("bf16", gptOss.NonExpertPrecision);

        const string Template = """{"formatVersion": 1, "models": [{"id": "m", "name": "M", "parametersB": 8, "activeParametersB": ACTIVE, "layers": 10, "hiddenSize": 1000, "kvHeads": 2, "headDim": 100, EXPERTS"capability": 0.5, "nonExpertPrecision": "NEP", "sources": []}]}""";
        var unknown = Template.Replace("ACTIVE", "2").Replace("EXPERTS", "\"experts\": 8, \"expertsPerToken\": 2, \"expertParametersB\": 7, ").Replace("NEP", "bf17");
        var dense = Template.Replace("ACTIVE", "8").Replace("EXPERTS", string.Empty).Replace("NEP", "bf16");
        foreach (var json in new[] { unknown, dense })
        {
            var error = Assert.Throws<InputException>(() => ProfileCatalog.ParseModels("models.json", Encoding.UTF8.GetBytes(json)));
            Assert.Contains("nonExpertPrecision", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MoeExpertOverhead_ComputeBoundPrefill_IsHiddenByTheComputeTime()
    {
        var plain = TestProfiles.Gpu(memoryGB: 40);
        var before = new LatencyModel(plain, TestProfiles.Moe(), TestProfiles.Bf16, 1);
        var after = new LatencyModel(plain with { MoeExpertOverheadUs = 10 }, TestProfiles.Moe(), TestProfiles.Bf16, 1);

        // 4096 prompt tokens: linear FLOPs 2 · 2e9 · 4096 / 100 TFLOPS = 164 ms; the memory side is all 8 experts and the
        // dense part, 16 GB / 1000 GB/s = 16 ms, plus 10 · 8 · 10 µs = 0.8 ms: still below the compute time, so no change.
        Assert.Equal(before.PrefillSeconds(4096), after.PrefillSeconds(4096), 12);
    }

    [Fact]
    public void DenseLayers_MoeCostsAreChargedOnMoeLayersOnly()
    {
        var hw = TestProfiles.Gpu(memoryGB: 40) with { MoeLayerOverheadUs = 100, MoeExpertOverheadUs = 10 };
        var plain = TestProfiles.Gpu(memoryGB: 40);
        var moe = TestProfiles.Moe();
        var firstFourDense = moe with { DenseLayers = 4 };
        Assert.Equal(10, moe.MoeLayers);
        Assert.Equal(6, firstFourDense.MoeLayers);
        Assert.Equal(0, TestProfiles.Dense().MoeLayers);

        // 6 MoE layers: 6 · 100 µs per layer + 6 · 2 experts · 10 µs = 720 µs a batch-1 decode step, not 1.2 ms.
        var before = new LatencyModel(plain, firstFourDense, TestProfiles.Bf16, 1);
        var after = new LatencyModel(hw, firstFourDense, TestProfiles.Bf16, 1);
        Assert.Equal(before.DecodeStepSeconds(1, 100) + 7.2e-4, after.DecodeStepSeconds(1, 100), 12);
    }

    [Theory]
    [InlineData(4, "denseLayers")] // as many dense layers as layers
    [InlineData(-1, "denseLayers")]
    public void ParseModels_BadDenseLayers_RejectedNamingTheField(int denseLayers, string field)
    {
        var json = "{\"formatVersion\":1,\"models\":[{\"id\":\"m\",\"name\":\"M\",\"parametersB\":10,\"activeParametersB\":2,\"layers\":4,\"hiddenSize\":64,\"kvHeads\":1,\"headDim\":64,"
            + "\"experts\":8,\"expertsPerToken\":2,\"expertParametersB\":8,\"denseLayers\":" + denseLayers + ",\"capability\":0.5}]}";
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseModels("m.json", Encoding.UTF8.GetBytes(json)));
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseModels_DenseLayersOnADenseModel_Rejected()
    {
        const string json = """{"formatVersion":1,"models":[{"id":"m","name":"M","parametersB":10,"activeParametersB":10,"layers":4,"hiddenSize":64,"kvHeads":1,"headDim":64,"denseLayers":2,"capability":0.5}]}""";
        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseModels("m.json", Encoding.UTF8.GetBytes(json)));
        Assert.Contains("denseLayers", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_RecoversTheMoeExpertOverheadOfAnMoeDecodeRow()
    {
        var hw = TestProfiles.Gpu(memoryGB: 40);
        var models = new[] { TestProfiles.Moe() };
        var row = new ValidationRow
        {
            Id = "moe", Source = "https://example.org", Quote = "q", Hardware = hw.Id, Model = "test-moe", Precision = "bf16",
            TensorParallel = 1, Concurrency = 4, Requests = 40, InputTokens = 200, OutputTokens = 100, Metric = "itl_ms", Value = 1,
        };
        var truth = ValidationRunner.Predict(new ProfileCatalog([hw with { MoeExpertOverheadUs = 12 }], models, "test"), row);
        var file = new ValidationFile { FormatVersion = 1, Rows = [row with { Value = truth }] };

        var fit = ProfileFitter.Fit(new ProfileCatalog([hw], models, "test"), file, hw.Id, ["moeExpertOverheadUs"]);

        Assert.InRange(fit.Constants[0].Value, 11.8, 12.2);
        Assert.Equal(12, ProfileFitter.ValueOf(ProfileFitter.With(hw, "moeExpertOverheadUs", 12), "moeExpertOverheadUs"));
        Assert.Equal(3.4, ProfileFitter.ValueOf(ProfileFitter.With(hw, "allReduceHopLatencyUs", 3.4), "allReduceHopLatencyUs"));
    }
}
