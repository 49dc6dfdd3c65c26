using Spark.Eval.Core;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;

namespace Spark.Eval.Simulator.Tests;

/// <summary>Issue #20 third pass: llama.cpp-style decode (mat-vec arithmetic not hidden behind the weight stream) and prefill-first batch benchmarks.</summary>
public class BatchBenchTests
{
    [Fact]
    public void DecodeStep_MatVecEfficiency_AddsWeightStreamAndArithmetic_PrefillUnchanged()
    {
        var roofline = new LatencyModel(TestProfiles.Gpu(tflops: 10), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var matVec = new LatencyModel(TestProfiles.Gpu(tflops: 10) with { MatVecComputeEfficiency = 0.5 }, TestProfiles.Dense(), TestProfiles.Bf16, 1);

        // Batch 4, contexts summing to 4,000. Attention: 8000·(4,000 + 4) KV bytes at 1e12 = 0.032032 ms (beats 4·10·1000·4000
        // FLOPs at 1e13 = 0.016 ms). Roofline linear layers: max(2·1e9·4 FLOPs at 1e13 = 0.8 ms, 2e9 bytes at 1e12 = 2 ms) = 2 ms.
        // Mat-vec: 2 ms of weight stream + 8e9 FLOPs at 1e13·0.5 = 1.6 ms, added: 3.6 ms.
        var attention = 8000 * 4004.0 / 1e12;
        Assert.Equal(0.002 + attention, roofline.DecodeStepSeconds(4, 4000), 12);
        Assert.Equal(0.002 + 0.0016 + attention, matVec.DecodeStepSeconds(4, 4000), 12);

        // A step with prompt tokens is a matrix-matrix kernel: the roofline maximum as before.
        Assert.Equal(roofline.PrefillSeconds(1000), matVec.PrefillSeconds(1000), 12);
    }

    [Fact]
    public void Run_PrefillFirst_TimesDecodeStepsAlone_NotTheWaitForTheBatchsOtherPrompt()
    {
        // Step budget 4,096 tokens: two 3,000-token prompts take one prefill step each (the second stalls decoding), then 4
        // decode steps of batch 2 at contexts 6,002, 6,004, 6,006, 6,008 give each sequence its 5 output tokens.
        var model = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var options = new LoadOptions { Requests = 2, Concurrency = 2, InputTokens = 3000, OutputTokens = 5 };
        var decode = Enumerable.Range(0, 4).Sum(k => model.DecodeStepSeconds(2, 6002 + (2 * k)));
        var prefill = model.PrefillSeconds(3000);

        var interleaved = LoadSimulator.Run(model, options);
        var batchBench = LoadSimulator.Run(model, options with { PrefillFirst = true });

        // Without the option the first sequence's TPOT carries the second prompt's prefill: (prefill + decode) / 4.
        Assert.Equal(((prefill + decode) / 4) + (decode / 4), interleaved.Tpot.Sum(), 12);
        // llama-batched-bench's T_TG / TG: both sequences report the mean decode step.
        Assert.All(batchBench.Tpot, tpot => Assert.Equal(decode / 4, tpot, 12));
        Assert.Equal(interleaved.Ttft, batchBench.Ttft);
    }

    [Fact]
    public void Run_PrefillFirstWithChunkedPrefill_IsBadInput()
    {
        var model = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var error = Assert.Throws<InputException>(() => LoadSimulator.Run(model, new LoadOptions { Requests = 2, Concurrency = 2, PrefillFirst = true, ChunkedPrefill = true }));
        Assert.Contains("--prefill-first", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadDefaults_PrefillFirst_TurnsChunkingOffOnAChunkedStack()
    {
        var chunkedStack = TestProfiles.Gpu() with { ChunkedPrefill = true };
        Assert.True(LoadDefaults.For(chunkedStack, 512, 32, 8, requests: 8).ChunkedPrefill);
        var options = LoadDefaults.For(chunkedStack, 512, 32, 8, requests: 8, prefillFirst: true);
        Assert.False(options.ChunkedPrefill);
        Assert.True(options.PrefillFirst);
    }

    [Fact]
    public void Fit_MatVecEfficiency_RecoveredFromABatchBenchRow_OtherConstantsUntouched()
    {
        // A prefill-first batch-8 decode row priced with mat-vec efficiency 0.3: the fit, starting at 0.1, must find 0.3 and move nothing else.
        var hw = TestProfiles.Gpu(tflops: 10) with { MatVecComputeEfficiency = 0.1 };
        var row = new ValidationRow
        {
            Id = "bb8", Source = "s", Quote = "q", Hardware = hw.Id, Model = "test-1b", Precision = "bf16", Metric = "itl_ms",
            Concurrency = 8, Requests = 8, InputTokens = 512, OutputTokens = 32, InProcess = true, PrefillFirst = true,
        };
        var truth = ValidationRunner.Predict(new ProfileCatalog([hw with { MatVecComputeEfficiency = 0.3 }], [TestProfiles.Dense()], "test"), row);
        var fit = ProfileFitter.Fit(new ProfileCatalog([hw], [TestProfiles.Dense()], "test"), new ValidationFile { FormatVersion = 1, Rows = [row with { Value = truth }] }, hw.Id, ["matVecComputeEfficiency"]);

        Assert.InRange(fit.Constants[0].Value, 0.295, 0.305);
        Assert.Equal(hw with { MatVecComputeEfficiency = 0.25 }, ProfileFitter.With(hw, "matVecComputeEfficiency", 0.25));
    }
}
