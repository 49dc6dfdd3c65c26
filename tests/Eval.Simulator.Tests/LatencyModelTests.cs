using Spark.Eval.Core;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

public class LatencyModelTests
{
    [Fact]
    public void DecodeStep_BatchOne_IsWeightsPlusKvOverBandwidth()
    {
        var model = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        Assert.Equal(2e9, model.WeightBytes);
        Assert.Equal(8000, model.KvBytesPerToken);

        // Memory: 2e9 weights + 8000·(1000 context + 1 new) bytes at 1e12 B/s; compute 2e9 + 4·10·1000·1000 FLOPs at 1e14: memory bound.
        var expected = (2e9 + (8000 * 1001.0)) / 1e12;
        Assert.Equal(expected, model.DecodeStepSeconds(1, 1000), 12);
    }

    [Fact]
    public void DecodeStep_KvReadPerQueryHead_ReadsEachSharedKvHeadOncePerQueryHead()
    {
        var shared = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var perHead = new LatencyModel(TestProfiles.Gpu() with { KvReadPerQueryHead = true }, TestProfiles.Dense(), TestProfiles.Bf16, 1);

        // 10 query heads share 2 KV heads: the cached context is read 5 times, the new token's K and V written once.
        Assert.Equal(8000 * ((5 * 1000.0) + 1), perHead.KvBytesRead(1, 1000), 6);
        Assert.Equal((2e9 + (8000 * ((5 * 1000.0) + 1))) / 1e12, perHead.DecodeStepSeconds(1, 1000), 12);
        Assert.Equal(shared.KvCapacityTokens, perHead.KvCapacityTokens);
        Assert.Equal(shared.PrefillSeconds(4000), perHead.PrefillSeconds(4000), 12);
    }

    [Fact]
    public void DecodeStep_KvGroupRereadFraction_ChargesThatShareOfTheExtraPerQueryHeadReads()
    {
        var hw = TestProfiles.Gpu() with { KvReadPerQueryHead = true, KvGroupRereadFraction = 0.25 };
        var model = new LatencyModel(hw, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var noSharing = new LatencyModel(hw with { KvGroupRereadFraction = 0 }, TestProfiles.Dense(), TestProfiles.Bf16, 1);

        // 10 query heads share 2 KV heads (groups of 5): each cached token is read once plus a quarter of the 4 re-reads,
        // 1 + 0.25 · 4 = 2 times; the new token's K and V are written once. Fraction 0 reads each K/V head once.
        Assert.Equal(8000 * ((2 * 1000.0) + 1), model.KvBytesRead(1, 1000), 6);
        Assert.Equal((2e9 + (8000 * ((2 * 1000.0) + 1))) / 1e12, model.DecodeStepSeconds(1, 1000), 12);
        Assert.Equal(8000 * (1000.0 + 1), noSharing.KvBytesRead(1, 1000), 6);
    }

    [Fact]
    public void DecodeStep_LargeBatch_ComputeBoundLinearLayersAndKvBoundAttentionAdd()
    {
        var model = new LatencyModel(TestProfiles.Gpu(tflops: 10), TestProfiles.Dense(), TestProfiles.Bf16, 1);

        // Batch 64, contexts summing to 64,000. Linear layers: 2·1e9·64 FLOPs at 1e13 (12.8 ms) beat 2e9 weight bytes at
        // 1e12 (2 ms). Attention: 8000·(64,000 + 64) KV bytes at 1e12 (0.512 ms) beat 4·10·1000·64,000 FLOPs (0.256 ms).
        // The two kernels run one after the other, so the step is their sum, not max(compute, memory) of the whole step.
        var linear = 2e9 * 64 / 1e13;
        var attention = 8000 * (64_000.0 + 64) / 1e12;
        Assert.Equal(linear + attention, model.DecodeStepSeconds(64, 64_000), 12);
        Assert.True(model.DecodeStepSeconds(64, 64_000) > (model.StepFlops(0, 0, 64, 64_000) / 1e13) + 1e-4, "the sum must exceed the single roofline");
    }

    [Fact]
    public void Prefill_LongPrompt_IsComputeBoundWithAttentionTerm()
    {
        var model = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1);

        // 2·1e9·4000 linear + 4·10 layers·1000 width·(4000²/2) attention FLOPs at 1e14 FLOP/s.
        var flops = (2e9 * 4000) + (4.0 * 10 * 1000 * (4000.0 * 4000 / 2));
        Assert.Equal(flops / 1e14, model.PrefillSeconds(4000), 12);
        Assert.True(flops / 1e14 > (2e9 + (8000 * 4000.0)) / 1e12, "the case must be compute bound");
    }

    [Fact]
    public void Prefill_VocabularyKnown_EmbeddingIsALookupAndHeadRunsForTheLastTokenOnly()
    {
        // 1e9 parameters of which vocabulary 10,000 × width 1,000 = 1e7 input embedding and 1e7 output head (not tied).
        var dense = TestProfiles.Dense();
        var withVocab = dense with { VocabSize = 10_000 };
        var model = new LatencyModel(TestProfiles.Gpu(), withVocab, TestProfiles.Bf16, 1);

        var attention = 4.0 * 10 * 1000 * (4000.0 * 4000 / 2);
        var expected = (2.0 * (1e9 - 2e7) * 4000) + (2.0 * 1e7 * 1) + attention;
        Assert.Equal(expected, model.StepFlops(4000, 4000.0 * 4000 / 2, 0, 0), 3);

        // A decode step reads every weight except the embedding table (one row of it, not counted).
        Assert.Equal((1e9 - 1e7) * 2, model.WeightBytesRead(1), 3);
    }

    [Fact]
    public void KvCapacity_LimitsBatch()
    {
        var model = new LatencyModel(TestProfiles.Gpu(memoryGB: 20), TestProfiles.Dense(), TestProfiles.Bf16, 1);

        // (20e9 − 2e9) / 8000 bytes per token = 2,250,000 tokens; sequences of 100,000 tokens → 22 at once.
        Assert.Equal(2_250_000, model.KvCapacityTokens);
        Assert.Equal(22, model.MaxBatch(100_000));
        Assert.Equal(64, model.MaxBatch(10));
    }

    [Fact]
    public void ExpectedDistinctExperts_MatchesClosedForm()
    {
        var model = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Moe(), TestProfiles.Bf16, 1);
        Assert.Equal(2, model.ExpectedDistinctExperts(1), 12);
        Assert.Equal(8 * (1 - (0.75 * 0.75)), model.ExpectedDistinctExperts(2), 12);
        Assert.True(model.ExpectedDistinctExperts(1000) > 7.999);

        // Batch 1 reads the dense part (1 B) and 2 of 8 experts (7 B · 2/8) at 2 bytes each.
        Assert.Equal((1e9 + (7e9 * 2 / 8)) * 2, model.WeightBytesRead(1), 3);
    }

    [Fact]
    public void MoeLayerOverhead_AddsLayersTimesOverheadToEveryStepOfAnMoeModelOnly()
    {
        var plain = TestProfiles.Gpu(memoryGB: 40);
        var withOverhead = plain with { MoeLayerOverheadUs = 100 };

        // MoE model (10 layers): every step, decode or prefill, at any TP, pays 10 · 100 µs = 1 ms more.
        foreach (var tp in new[] { 1, 2 })
        {
            var before = new LatencyModel(plain, TestProfiles.Moe(), TestProfiles.Bf16, tp);
            var after = new LatencyModel(withOverhead, TestProfiles.Moe(), TestProfiles.Bf16, tp);
            Assert.Equal(before.DecodeStepSeconds(4, 400) + 1e-3, after.DecodeStepSeconds(4, 400), 12);
            Assert.Equal(before.PrefillSeconds(512) + 1e-3, after.PrefillSeconds(512), 12);
        }

        // A dense model is untouched.
        var dense = new LatencyModel(plain, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var denseWith = new LatencyModel(withOverhead, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        Assert.Equal(dense.DecodeStepSeconds(4, 400), denseWith.DecodeStepSeconds(4, 400), 15);
    }

    [Fact]
    public void LayerOverhead_OnARooflineGpu_AddsLayersTimesOverheadToEveryStep()
    {
        var plain = TestProfiles.Gpu(memoryGB: 40);
        var withOverhead = plain with { LayerOverheadUs = 30 };

        // Dense model of 10 layers: every step, decode or prefill, at any TP, pays 10 · 30 µs = 0.3 ms more (the fixed part
        // of each layer's GEMM kernels, which a small batch's bytes do not hide).
        foreach (var tp in new[] { 1, 2 })
        {
            var before = new LatencyModel(plain, TestProfiles.Dense(), TestProfiles.Bf16, tp);
            var after = new LatencyModel(withOverhead, TestProfiles.Dense(), TestProfiles.Bf16, tp);
            Assert.Equal(before.DecodeStepSeconds(1, 100) + 3e-4, after.DecodeStepSeconds(1, 100), 12);
            Assert.Equal(before.DecodeStepSeconds(8, 800) + 3e-4, after.DecodeStepSeconds(8, 800), 12);
            Assert.Equal(before.PrefillSeconds(512) + 3e-4, after.PrefillSeconds(512), 12);
        }
    }

    [Theory]
    [InlineData("llama-3.1-70b", 60.6002)]
    [InlineData("llama-3.1-405b", 144.1394)]
    public void Mi300x_BatchOneLinearLayersPerLayer_MatchAmdsMeasuredGemmTimes(string modelId, double aiterMicroseconds)
    {
        // AMD's aiter tuned FP8 GEMM table (commit fbb52dd, '[MI300X] tune Gemm performance for llama 70b/405b', cu_num 304, M = 1):
        // the four linear layers of one layer at TP 8 take 15.9787 + 6.1655 + 26.3577 + 12.0983 = 60.6002 µs (70B) and
        // 28.6795 + 12.3237 + 71.7882 + 31.3479 = 144.1394 µs (405B). The profile prices a layer's linear part at batch 1 as
        // layerOverheadUs + its weight bytes per GPU / (peak bandwidth · bandwidthEfficiency). Before issue #20's fifth pass
        // (no per-layer cost, bandwidth 0.233) the 70B layer came out at 89 µs (+47 %) and the 405B layer at 326 µs (+126 %).
        var catalog = ProfileCatalog.LoadEmbedded();
        var hw = catalog.GetHardware("mi300x");
        var model = new LatencyModel(hw, catalog.GetModel(modelId), Precision.Find("fp8")!, 8);
        var bytesPerLayerPerGpu = model.WeightBytesRead(1) / model.Model.Layers / 8;
        var microseconds = hw.LayerOverheadUs + (bytesPerLayerPerGpu / (hw.MemoryBandwidthGBps * hw.BandwidthEfficiency * 1e9) * 1e6);

        // Within 3 %: the model's bytes per layer spread the embedding and head over the layers (70.6B / 80 / 8 = 110.3 MB
        // against the GEMMs' 107.0 MB).
        Assert.InRange(microseconds / aiterMicroseconds, 0.97, 1.03);
    }

    [Fact]
    public void Mi300x_DecodeStep_GrowsByAPerSequenceCostFromBatchOne_AsRocmVllmsLatencyTableDoes()
    {
        // ROCm/vllm's dev-docker README (7802e2b, vLLM 0.10.0, benchmark_latency, Llama 3.1 405B FP8 TP 8, 128 in / 2048 out):
        // 48.824 s at batch 1 and 68.460 s at batch 32, i.e. 23.84 and 33.43 ms per step: 0.31 ms more per extra sequence.
        // AMD's aiter GEMM times are flat from M = 1 to 32 (144.1 → 149.7 µs per layer), so a roofline (weights read once, the
        // arithmetic hidden under them below the knee) adds almost nothing per sequence. The profile's mat-vec term (eighth pass)
        // adds 2 · (linear + head parameters) FLOPs per sequence at 8 × 2,615 TFLOPS × 0.179: 2 · 403.7e9 / 3.745e18 per µs ≈ 0.216 ms,
        // plus the all-reduce bytes (252 sites × 2·7/8 · 16,384 · 2 B / 448 GB/s ≈ 32 µs) ≈ 0.25 ms per sequence.
        var catalog = ProfileCatalog.LoadEmbedded();
        var hw = catalog.GetHardware("mi300x");
        var model = catalog.GetModel("llama-3.1-405b");
        var fp8 = Precision.Find("fp8")!;
        var withTerm = new LatencyModel(hw, model, fp8, 8);
        var roofline = new LatencyModel(hw with { MatVecComputeEfficiency = 0 }, model, fp8, 8);

        static double PerSequence(LatencyModel m) => (m.DecodeStepSeconds(32, 0) - m.DecodeStepSeconds(1, 0)) / 31;

        Assert.InRange(PerSequence(withTerm) * 1e3, 0.22, 0.28);
        Assert.True(PerSequence(roofline) * 1e3 < 0.05, $"roofline per-sequence cost {PerSequence(roofline) * 1e3:F3} ms");
    }

    [Fact]
    public void MatVecDevice_OneTokenPrompt_CostsWhatOneDecodeStepCosts()
    {
        // A one-token batch runs the same mat-vec kernels whether its token is a prompt's or a generated one (llama.cpp on Metal:
        // PR #10581's pp1 column is unchanged by the small-batch kernels it adds). 1e9 parameters · 2 bytes / 1000 GB/s = 2 ms of
        // weights + 2e9 FLOPs / (100 TFLOPS · 0.1) = 0.2 ms of mat-vec arithmetic, prompt or decode alike; two prompt tokens are a
        // prefill step (roofline: max(2 ms, 4e9 / 100 TFLOPS)), which has no mat-vec term.
        var hw = TestProfiles.Gpu() with { MatVecComputeEfficiency = 0.1 };
        var model = new LatencyModel(hw, TestProfiles.Dense(), TestProfiles.Bf16, 1);

        var prompt = model.StepSeconds(1, 0, 0, 0);
        var decode = model.DecodeStepSeconds(1, 0);

        Assert.Equal(decode, prompt, 12);
        Assert.Equal(2.2e-3, prompt, 5);
        Assert.Equal(2.0e-3, model.StepSeconds(2, 0, 0, 0), 5);
    }

    [Fact]
    public void SlidingWindowLayers_AttendToTheWindowOnly_AndHoldOnlyItsKvCache()
    {
        // TestProfiles.Dense(): 10 layers, width 10 · 100 = 1000, 8000 KV bytes per token. Half its layers with a 100-token window.
        var hw = TestProfiles.Gpu();
        var full = new LatencyModel(hw, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var windowed = new LatencyModel(hw, TestProfiles.Dense() with { SlidingWindowTokens = 100, SlidingWindowLayers = 5 }, TestProfiles.Bf16, 1);

        // Decode, 4 sequences with 4000 tokens of context in all: full layers attend to 4000, windowed ones to 4 · 100 = 400.
        Assert.Equal(4.0 * 10 * 1000 * 4000, full.AttentionFlops(0, 0, 4, 4000), 3);
        Assert.Equal(4.0 * 1000 * ((5 * 4000) + (5 * 400)), windowed.AttentionFlops(0, 0, 4, 4000), 3);
        Assert.Equal(8000 * ((((5 * 4000.0) + (5 * 400)) / 10) + 4), windowed.KvBytesRead(4, 4000, 4), 3);

        // Prefill of a 1000-token prompt (500,000 pairs): windowed layers at most 100 pairs per prompt token (100,000).
        Assert.Equal(4.0 * 1000 * ((5 * 500_000.0) + (5 * 100_000)), windowed.AttentionFlops(1000, 500_000, 0, 0), 3);

        // KV cache: a 1000-token sequence holds 1000 tokens on 5 layers and 100 on the other 5 = 550 all-layer tokens.
        Assert.Equal(550, windowed.KvTokensFor(1000));
        Assert.Equal(50, windowed.KvTokensFor(50));
        Assert.Equal(1000, full.KvTokensFor(1000));
        Assert.Equal(Math.Min(64, (int)(windowed.KvCapacityTokens / 550)), windowed.MaxBatch(1000));
    }

    [Fact]
    public void SlidingWindow_HalfGiven_RejectedNamingTheField()
    {
        var gptOss = ProfileCatalog.LoadEmbedded().GetModel("gpt-oss-20b");
        Assert.Equal((128, 12), (gptOss.SlidingWindowTokens, gptOss.SlidingWindowLayers));

        const string Json = """{"formatVersion": 1, "models": [{"id": "m", "name": "M", "parametersB": 8, "activeParametersB": 8, "layers": 10, "hiddenSize": 1000, "kvHeads": 2, "headDim": 100, "capability": 0.5, "slidingWindowLayers": 5, "sources": []}]}""";
        var error = Assert.Throws<InputException>(() => ProfileCatalog.ParseModels("models.json", System.Text.Encoding.UTF8.GetBytes(Json)));
        Assert.Contains("slidingWindowLayers", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AllReduce_TensorParallelTwo_MatchesFormula()
    {
        var model = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 2);

        // 2 per layer × 10 layers × (10 µs + 2·(2−1)/2 · 4 tokens·1000·2 bytes / 100 GB/s).
        var expected = 2 * 10 * (10e-6 + (1.0 * 4 * 1000 * 2 / 100e9));
        Assert.Equal(expected, model.AllReduceSeconds(4), 15);
        Assert.Equal(0, new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1).AllReduceSeconds(4));
    }

    [Fact]
    public void SramPipeline_DecodeIsLayersTimesLatencyPlusHops()
    {
        // 2e9 bytes of weights over 1 GB of SRAM per chip → 2 chips; 10 layers × 10 µs + 1 hop × 0.5 ms.
        var model = new LatencyModel(TestProfiles.Sram(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        Assert.Equal(2, model.Devices);
        Assert.Equal((10 * 10e-6) + 0.5e-3, model.DecodeStepSeconds(1, 100), 12);

        // A bandwidth roofline would say 2e9 bytes / (2 × 1e15 B/s) = 1 µs: the pipeline model is 600× slower, as measured chips are.
        Assert.True(model.DecodeStepSeconds(1, 100) > 100 * 2e9 / 2e15);
    }

    [Fact]
    public void Constructor_WeightsLargerThanMemory_ThrowsWithFix()
    {
        var ex = Assert.Throws<InputException>(() => new LatencyModel(TestProfiles.Gpu(memoryGB: 1), TestProfiles.Dense(), TestProfiles.Bf16, 1));
        Assert.Contains("raise --tp", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(32, 64, 64)] // tiny's head dimension on AVX-512: no whole block, all 32 elements of K and of V scalar
    [InlineData(64, 64, 0)]
    [InlineData(96, 64, 64)] // one block of 64, then 32 scalar
    [InlineData(48, 32, 32)] // AVX2's 32-element blocks: 16 left over
    [InlineData(48, 0, 0)] // no block size known: no scalar term
    public void ScalarElementsPerTokenHead_HeadDimensionAndBlock_IsTwiceTheRemainder(int headDim, int block, int expected)
    {
        var model = new LatencyModel(TestProfiles.Gpu() with { F16VectorElements = block }, TestProfiles.Dense() with { HeadDim = headDim }, TestProfiles.Bf16, 1);
        Assert.Equal(expected, model.ScalarElementsPerTokenHead);
    }

    [Theory]
    [InlineData(1, 1, 300, 10 * 300)] // one thread attends every head over every cached token
    [InlineData(2, 1, 200, 5 * 200)] // 201 cells pad to 256 < 512: heads shared out, 5 per thread
    [InlineData(4, 1, 200, 3 * 200)] // ⌈10 / 4⌉ heads on the busiest thread
    [InlineData(2, 1, 255, 5 * 255)] // 256 cells: still one 256-cell block
    [InlineData(2, 1, 256, 10 * 256)] // 257 cells pad to 512: split KV, chunk 256 full, all 10 heads
    [InlineData(2, 1, 300, 10 * 256)] // the first chunk is full whatever the context up to 511
    [InlineData(2, 1, 600, 10 * 384)] // 601 cells pad to 768: chunks of 384
    [InlineData(1, 1, 600, 10 * 600)] // one thread: one chunk holding every cached token
    [InlineData(2, 3, 600, 10 * 600 / 2.0)] // a batch: rows of all sequences shared out
    public void AttendedTokenHeads_ThreadsAndContext_FollowsLlamaCppSplit(int threads, int batch, double context, double expected)
    {
        var cpu = TestProfiles.Gpu() with { Threads = threads, KvPadTokens = 256, DecodeSplitKvTokens = 512 };
        var model = new LatencyModel(cpu, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        Assert.Equal(expected, model.AttendedTokenHeads(batch, context), 9);
    }

    [Fact]
    public void AttendedTokenHeads_NoPaddingOrSplitGiven_IsHeadsTimesContextOverThreads()
    {
        // Profiles that do not describe the runtime's kernels (every non-CPU profile) keep heads · context.
        var model = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        Assert.Equal(10 * 700.0, model.AttendedTokenHeads(1, 700), 9);
    }

    [Fact]
    public void DecodeStep_ScalarRemainder_AddsLayersTimesAttendedTokenHeadsTimesElementsTimesCost()
    {
        var baseCpu = TestProfiles.Gpu() with { Threads = 2, KvPadTokens = 256, DecodeSplitKvTokens = 512, F16VectorElements = 64, DecodeContextNs = 30 };
        var odd = TestProfiles.Dense() with { HeadDim = 100 }; // 100 mod 64 = 36 scalar elements of K and of V
        var without = new LatencyModel(baseCpu, odd, TestProfiles.Bf16, 1);
        var with = new LatencyModel(baseCpu with { DecodeScalarElementNs = 1.5 }, odd, TestProfiles.Bf16, 1);

        // Context 300 on 2 threads: padded to 512 → split, 10 heads · 256 tokens on the busiest thread, 10 layers.
        var expected = 10 * (10 * 256.0) * (2 * 36) * 1.5e-9;
        Assert.Equal(expected, with.DecodeStepSeconds(1, 300) - without.DecodeStepSeconds(1, 300), 12);
        Assert.Equal(10 * (10 * 256.0) * (30 + (72 * 1.5)) * 1e-9, with.RuntimeOverheadSeconds(0, 0, 1, 300), 12);
        Assert.Equal(without.PrefillSeconds(300), with.PrefillSeconds(300), 12);
    }
}
