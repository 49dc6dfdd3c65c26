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
