using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

/// <summary>Issue #20 tenth pass (app20): a per-layer latency floor under a roofline step's linear kernels (llama.cpp on Metal).</summary>
public class LayerLatencyFloorTests
{
    [Fact]
    public void DecodeStep_LayerLatencyFloor_BoundsTheLinearKernels_AttentionAddedOnTop_LargeStepsUnchanged()
    {
        var plain = new LatencyModel(TestProfiles.Gpu(tflops: 10), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var floored = new LatencyModel(TestProfiles.Gpu(tflops: 10) with { LayerLatencyUs = 300 }, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var belowWork = new LatencyModel(TestProfiles.Gpu(tflops: 10) with { LayerLatencyUs = 100 }, TestProfiles.Dense(), TestProfiles.Bf16, 1);

        // Batch 1 at context 1,000. Linear: max(2e9 FLOPs at 1e13 = 0.2 ms, 2e9 bytes at 1e12 = 2 ms) = 2 ms. Attention:
        // 8000·1001 KV bytes at 1e12 = 8.008 µs (beats 4·10·1000·1000 FLOPs at 1e13 = 4 µs), added after the linear kernels.
        var attention = 8000 * 1001.0 / 1e12;
        Assert.Equal(0.002 + attention, plain.DecodeStepSeconds(1, 1000), 12);
        // 10 layers × 300 µs = 3 ms of dispatch chain: the linear side costs the floor, attention still adds.
        Assert.Equal(0.003 + attention, floored.DecodeStepSeconds(1, 1000), 12);
        // 10 × 100 µs = 1 ms is under the 2 ms weight stream: hidden.
        Assert.Equal(plain.DecodeStepSeconds(1, 1000), belowWork.DecodeStepSeconds(1, 1000), 12);
        // A 1,000-token prefill (2e12 FLOPs at 1e13 = 200 ms) is far above the floor: unchanged.
        Assert.Equal(plain.PrefillSeconds(1000), floored.PrefillSeconds(1000), 12);
    }

    [Fact]
    public void DecodeStep_LayerLatencyFloor_AlsoBoundsTheMatVecSum()
    {
        // With mat-vec arithmetic priced beside the weight stream (2 ms + 2e9 FLOPs at 1e13·0.5 = 0.4 ms = 2.4 ms), a 3 ms floor
        // replaces the sum, not each term.
        var hw = TestProfiles.Gpu(tflops: 10) with { MatVecComputeEfficiency = 0.5 };
        var attention = 8000 * 1001.0 / 1e12;
        Assert.Equal(0.0024 + attention, new LatencyModel(hw, TestProfiles.Dense(), TestProfiles.Bf16, 1).DecodeStepSeconds(1, 1000), 12);
        Assert.Equal(0.003 + attention, new LatencyModel(hw with { LayerLatencyUs = 300 }, TestProfiles.Dense(), TestProfiles.Bf16, 1).DecodeStepSeconds(1, 1000), 12);
    }

    [Fact]
    public void Fit_LayerLatencyUs_RecoveredFromASmallModelDecodeRow_OnARooflineProfile()
    {
        // A one-stream decode row priced with a 150 µs floor per layer (10 layers: 1.5 ms, above the 0.5 ms weight stream of 2e9
        // bytes at 4e12): the fit, starting at 1 µs (hidden under the weight stream), must find 150 within its 0.1–200 µs range.
        var hw = TestProfiles.Gpu(tflops: 10, gbps: 4000) with { LayerLatencyUs = 1 };
        var row = new ValidationRow
        {
            Id = "tg", Source = "s", Quote = "q", Hardware = hw.Id, Model = "test-1b", Precision = "bf16", Metric = "user_tps",
            Concurrency = 1, Requests = 1, InputTokens = 1, OutputTokens = 32, InProcess = true,
        };
        var truth = ValidationRunner.Predict(new ProfileCatalog([hw with { LayerLatencyUs = 150 }], [TestProfiles.Dense()], "test"), row);
        Assert.NotEqual(truth, ValidationRunner.Predict(new ProfileCatalog([hw], [TestProfiles.Dense()], "test"), row), 6);

        var fit = ProfileFitter.Fit(new ProfileCatalog([hw], [TestProfiles.Dense()], "test"), new ValidationFile { FormatVersion = 1, Rows = [row with { Value = truth }] }, hw.Id, ["layerLatencyUs"]);

        Assert.InRange(fit.Constants[0].Value, 149, 151);
    }
}
