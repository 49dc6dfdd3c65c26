using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

/// <summary>Serving-stack figures of a profile: KV-cache share of free memory, runtime reserve, SRAM sizing, chunked-prefill default, FP4 compute, expert GEMM efficiency, per-format weight reads, queueing at the KV edge.</summary>
public class ServingStackTests
{
    [Fact]
    public void KvCapacity_StackGivesAShareOfWhatIsFreeAfterWeightsAndReserve()
    {
        // 20 GB, 2 GB of weights, 8000 KV bytes per token: vLLM-like (all of it) 2.25 M tokens; TensorRT-LLM-like
        // ((20 − 2 reserve) − 2 weights) · 0.9 = 14.4 GB = 1.8 M tokens.
        var all = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var trt = new LatencyModel(TestProfiles.Gpu() with { KvCacheFreeFraction = 0.9, RuntimeReservedGB = 2 }, TestProfiles.Dense(), TestProfiles.Bf16, 1);

        Assert.Equal(2_250_000, all.KvCapacityTokens);
        Assert.Equal(1_800_000, trt.KvCapacityTokens);
    }

    [Fact]
    public void SramPipeline_ChipCountLeavesTheVendorsShareForKvCache()
    {
        // 2 GB of weights on 1 GB chips: sized to the weights alone, 2 chips and no KV cache; with weights at most half
        // of each chip's SRAM (as Groq's 568 chips for Llama 2 70B), 4 chips and 2 GB = 250,000 tokens of KV cache.
        var tight = new LatencyModel(TestProfiles.Sram(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var deployed = new LatencyModel(TestProfiles.Sram() with { SramWeightFraction = 0.5 }, TestProfiles.Dense(), TestProfiles.Bf16, 1);

        Assert.Equal(2, tight.Devices);
        Assert.Equal(0, tight.KvCapacityTokens);
        Assert.Equal(4, deployed.Devices);
        Assert.Equal(250_000, deployed.KvCapacityTokens);
    }

    [Fact]
    public void LoadDefaults_SteadyStateAndTheProfilesChunkedPrefill_ColdStartAndOverrideOnRequest()
    {
        var off = TestProfiles.Gpu() with { ChunkedPrefill = false };
        var steady = LoadDefaults.For(off, 1000, 100, concurrency: 8);
        var cold = LoadDefaults.For(off, 1000, 100, concurrency: 8, coldStart: true, chunkedPrefill: true);
        var batch = LoadDefaults.For(TestProfiles.Gpu(), 128, 128, concurrency: 64, requests: 64);

        Assert.Equal(320, steady.Requests);
        Assert.Equal(0.25, steady.WarmupFraction);
        Assert.False(steady.ChunkedPrefill);
        Assert.Equal(0, cold.WarmupFraction);
        Assert.True(cold.ChunkedPrefill);
        Assert.Equal(0, batch.WarmupFraction);
        Assert.True(batch.ChunkedPrefill);
    }

    [Fact]
    public void Mxfp4_RunsAtFp8OnlyWhereTheDeviceHasFp4TensorCores()
    {
        var mxfp4 = Precision.Find("mxfp4")!;
        var hopper = TestProfiles.Gpu() with { PeakTflops = new Dictionary<string, double> { ["bf16"] = 1000, ["fp8"] = 2000 } };
        var blackwell = hopper with { PeakTflops = new Dictionary<string, double> { ["bf16"] = 1000, ["fp8"] = 2000, ["fp4"] = 4000 } };

        Assert.Equal(1000, hopper.PeakTflopsFor(mxfp4));
        Assert.Equal(2000, blackwell.PeakTflopsFor(mxfp4));
    }
    [Fact]
    public void ExpertComputeEfficiency_SlowsOnlyTheRoutedExpertsShareOfTheLinearFlops()
    {
        // test-moe: 2 B active of which 7 B · 2/8 = 1.75 B in routed experts. A 1,000-token prefill on 100 TFLOPS is
        // compute bound: 2 · 2e9 · 1000 = 4e12 FLOPs = 40 ms. With the experts at 0.25 of peak: 0.5e12 / 100e12 + 3.5e12 / 25e12
        // = 5 + 140 = 145 ms, i.e. 105 ms more; attention and everything else unchanged.
        var dense = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Moe(), TestProfiles.Bf16, 1);
        var grouped = new LatencyModel(TestProfiles.Gpu() with { ExpertComputeEfficiency = 0.25 }, TestProfiles.Moe(), TestProfiles.Bf16, 1);
        var denseModel = new LatencyModel(TestProfiles.Gpu() with { ExpertComputeEfficiency = 0.25 }, TestProfiles.Dense(), TestProfiles.Bf16, 1);

        Assert.Equal(0.105, grouped.PrefillSeconds(1000) - dense.PrefillSeconds(1000), 9);
        Assert.Equal(new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1).PrefillSeconds(1000), denseModel.PrefillSeconds(1000), 12);
    }

    [Fact]
    public void WeightReadGBps_PerFormat_AFourBitFormatStreamsSlowerPerByte()
    {
        // Apple-style: the runtime's q4 kernels stream 250 GB/s (dequantisation bound) on a 1,000 GB/s device while bf16 keeps
        // the device rate. One decode token of test-1b: bf16 2 GB / 1,000 GB/s = 2 ms; q4 0.5625 GB / 250 GB/s = 2.25 ms.
        var hw = TestProfiles.Gpu() with { WeightReadGBps = new Dictionary<string, double> { ["q4"] = 250 } };
        var bf16 = new LatencyModel(hw, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var q4 = new LatencyModel(hw, TestProfiles.Dense(), Precision.Find("q4")!, 1);

        Assert.Equal(0.002, bf16.DecodeStepSeconds(1, 0) - (bf16.KvBytesPerToken / 1e12), 12);
        Assert.Equal(0.00225, q4.DecodeStepSeconds(1, 0) - (q4.KvBytesPerToken / 1e12), 12);
    }

    [Fact]
    public void ProfileFitter_MovesAPerFormatRateAndTheExpertEfficiency_LeavesTheOtherRates()
    {
        var hw = TestProfiles.Gpu() with { WeightReadGBps = new Dictionary<string, double> { ["bf16"] = 500, ["q4"] = 250 } };

        var moved = ProfileFitter.With(hw, "weightReadGBps.q4", 300);
        var expert = ProfileFitter.With(hw, "expertComputeEfficiency", 0.2);

        Assert.Equal(300, moved.WeightReadGBps["q4"]);
        Assert.Equal(500, moved.WeightReadGBps["bf16"]);
        Assert.Equal(250, hw.WeightReadGBps["q4"]);
        Assert.Equal(0.2, expert.ExpertComputeEfficiency);
    }

    [Fact]
    public void SramPipeline_FiveConcurrentRequests_AreBatched_NotServedOneAtATime()
    {
        // The LPU/WSE case of issue #20: with the chip count leaving SRAM for KV cache, 5 concurrent requests decode in one
        // pipeline pass per token, so TTFT stays near the single-stream figure and throughput grows about 5×.
        var model = new LatencyModel(TestProfiles.Sram() with { SramWeightFraction = 0.5, RequestOverheadMs = 20 }, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        SimulationStats Run(int c) => LoadSimulator.Summarize(LoadSimulator.Run(model, LoadDefaults.For(model.Hardware, 1000, 200, c)));

        var one = Run(1);
        var five = Run(5);

        Assert.True(five.TtftMeanMs < 1.5 * one.TtftMeanMs, $"TTFT c1 {one.TtftMeanMs} ms, c5 {five.TtftMeanMs} ms");
        Assert.True(five.OutputTokensPerSecond > 4 * one.OutputTokensPerSecond, $"c1 {one.OutputTokensPerSecond}, c5 {five.OutputTokensPerSecond} tok/s");
    }

    [Fact]
    public void Queueing_PastTheKvEdge_RequestsWaitForASlot_AndASmallCapacityErrorMovesTtftInProportion()
    {
        // KV for exactly 100 sequences of 2,000 tokens (8000 B/token · 2000 · 100 = 1.6 GB beside 2 GB of weights); 150
        // clients in a closed loop: 50 always wait for a slot, so mean TTFT is a large share of a request's service time.
        // Closed-loop queueing is linear in the excess (c − capacity) / capacity, so 3 % more or less capacity moves TTFT by
        // about c / (c − capacity) · 3 % = 9 %, not by multiples.
        static SimulationStats Run(double kvGB)
        {
            var hw = TestProfiles.Gpu(memoryGB: 2 + kvGB) with { MaxBatch = 1024 };
            return LoadSimulator.Summarize(LoadSimulator.Run(new LatencyModel(hw, TestProfiles.Dense(), TestProfiles.Bf16, 1), LoadDefaults.For(hw, 1900, 100, 150)));
        }

        var atEdge = Run(1.6);
        var roomy = Run(3.2);

        Assert.True(atEdge.TtftMeanMs > 5 * roomy.TtftMeanMs, $"waiting {atEdge.TtftMeanMs} ms vs all admitted {roomy.TtftMeanMs} ms");
        foreach (var kv in new[] { 1.6 * 0.97, 1.6 * 1.03 })
        {
            var ratio = Run(kv).TtftMeanMs / atEdge.TtftMeanMs;
            Assert.InRange(ratio, 0.8, 1.2);
        }
    }
}
