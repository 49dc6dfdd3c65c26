using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

/// <summary>Serving-stack figures of a profile: KV-cache share of free memory, runtime reserve, SRAM sizing, chunked-prefill default, FP4 compute.</summary>
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
}
