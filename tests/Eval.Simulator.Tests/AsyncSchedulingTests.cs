using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;

namespace Spark.Eval.Simulator.Tests;

/// <summary>
/// Issue #20 thirteenth pass: asynchronous scheduling (vLLM --async-scheduling; PR #19970: the scheduler runs "one step ahead
/// of the current execution"). The host's per-step work overlaps the device's, and a request arriving mid-step joins the step
/// after the next.
/// </summary>
public class AsyncSchedulingTests
{
    [Theory]
    [InlineData(1.0)]
    [InlineData(5.0)]
    public void Run_AsyncScheduling_StepLastsTheLongerOfHostAndDeviceWork(double hostMs)
    {
        // One request, 100-token prompt, 11 output tokens: 10 decode steps at batch 1 after the prefill step.
        var model = new LatencyModel(TestProfiles.Gpu(stepMs: hostMs), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var options = new LoadOptions { Requests = 1, Concurrency = 1, InputTokens = 100, OutputTokens = 11 };
        var host = hostMs / 1000;
        var steps = Enumerable.Range(0, 10).Select(k => model.DecodeStepSeconds(1, 101 + k)).ToArray();

        var sync = LoadSimulator.Run(model, options);
        var async = LoadSimulator.Run(model, options with { AsyncScheduling = true });

        // Synchronous: device work + host work; asynchronous: the longer of the two (2 ms of weights against 1 or 5 ms of host).
        Assert.Equal(steps.Average(), sync.Tpot.Single(), 12);
        Assert.Equal(steps.Average(s => Math.Max(s - host, host)), async.Tpot.Single(), 12);
        Assert.True(steps[0] - host > 0.0019, "the device part of a decode step is the 2 ms weight stream");
        // The prompt arrives at an idle engine: scheduled at once, its one prefill step shortened the same way.
        var prefill = model.PrefillSeconds(100);
        Assert.Equal(prefill, sync.Ttft.Single(), 12);
        Assert.Equal(Math.Max(prefill - host, host), async.Ttft.Single(), 12);
    }

    [Fact]
    public void Run_AsyncScheduling_ArrivalWhileAStepRuns_WaitsOneMoreStep()
    {
        // No host work (step overhead 0), so both modes run steps of the same length; an always-busy engine (each request
        // decodes 500 tokens, 20 arrive per second: ~20 in flight). Only admission differs: a request arriving mid-step joins
        // the next step synchronously, the step after it asynchronously, so its first token comes about one step later.
        var model = new LatencyModel(TestProfiles.Gpu(stepMs: 0), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var options = new LoadOptions { Requests = 200, Rate = 20, InputTokens = 16, OutputTokens = 500, WarmupFraction = 0.25, Seed = 7 };

        var sync = LoadSimulator.Summarize(LoadSimulator.Run(model, options));
        var async = LoadSimulator.Summarize(LoadSimulator.Run(model, options with { AsyncScheduling = true }));

        var step = sync.TpotMeanMs;
        var later = async.TtftMeanMs - sync.TtftMeanMs;
        Assert.InRange(later, 0.7 * step, 1.3 * step);
        Assert.Equal(sync.TpotMeanMs, async.TpotMeanMs, 2);
    }

    [Fact]
    public void EngineSequenceOverhead_AddsHostTimePerSequence_ForItsEngineOnly_AndAsyncSchedulingOverlapsIt()
    {
        // 1 ms fixed host work and, for vLLM, 50 µs per running sequence: a decode step of 16 sequences pays 1.8 ms on the host.
        var hardware = TestProfiles.Gpu(stepMs: 1) with { EngineSequenceOverheadUs = new Dictionary<string, double> { ["vllm"] = 50 } };
        var plain = new LatencyModel(hardware, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var vllm = new LatencyModel(Profiles.ServingEngines.Apply(hardware, "vllm"), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var sglang = new LatencyModel(Profiles.ServingEngines.Apply(hardware, "sglang"), TestProfiles.Dense(), TestProfiles.Bf16, 1);

        Assert.Equal(0.0018, vllm.HostSeconds(16), 12);
        Assert.Equal(0.001, plain.HostSeconds(16), 12);
        Assert.Equal(plain.DecodeStepSeconds(16, 16_000) + 0.0008, vllm.DecodeStepSeconds(16, 16_000), 12);
        Assert.Equal(plain.DecodeStepSeconds(16, 16_000), sglang.DecodeStepSeconds(16, 16_000), 12);

        // Asynchronous scheduling: 16 clients decoding 50 tokens each; every step lasts max(device part, 1.8 ms host).
        var options = new LoadOptions { Requests = 16, Concurrency = 16, InputTokens = 8, OutputTokens = 50 };
        var async = LoadSimulator.Run(vllm, options with { AsyncScheduling = true });
        var sync = LoadSimulator.Run(vllm, options);
        var device = vllm.DecodeStepSeconds(16, 16 * 30) - vllm.HostSeconds(16);
        Assert.True(device > 0.0018, "the batch's weight stream (2 ms) outlasts its host work");
        Assert.InRange(sync.Tpot.Average() - async.Tpot.Average(), 0.0017, 0.0019);
    }

    [Fact]
    public void ProfileEngine_ServesARunThatNamesNone_ANamedEngineWins()
    {
        var hardware = TestProfiles.Gpu(stepMs: 1) with { Engine = "vllm", EngineSequenceOverheadUs = new Dictionary<string, double> { ["vllm"] = 50 } };

        Assert.Equal(50, Profiles.ServingEngines.Apply(hardware, null).SequenceOverheadUs);
        Assert.Equal(0, Profiles.ServingEngines.Apply(hardware, "sglang").SequenceOverheadUs);
        Assert.Equal(0, Profiles.ServingEngines.Apply(hardware with { Engine = null }, null).SequenceOverheadUs);
    }
}
