using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

public class LoadSimulatorTests
{
    private static LatencyModel H100Llama8B() =>
        new(ProfileCatalog.LoadEmbedded().GetHardware("h100-sxm"), ProfileCatalog.LoadEmbedded().GetModel("llama-3.1-8b"), Precision.Find("bf16")!, 1);

    [Fact]
    public void Run_SingleRequest_TimesMatchTheLatencyModel()
    {
        var model = new LatencyModel(TestProfiles.Gpu(requestMs: 3), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var result = LoadSimulator.Run(model, new LoadOptions { Requests = 1, Concurrency = 1, InputTokens = 1000, OutputTokens = 3 });

        var prefill = model.PrefillSeconds(1000);
        Assert.Equal(0.003 + prefill, result.Ttft[0], 12);

        // Two decode steps follow the first token, at contexts 1001 and 1002.
        var decode = model.DecodeStepSeconds(1, 1001) + model.DecodeStepSeconds(1, 1002);
        Assert.Equal(decode / 2, result.Tpot[0], 12);
        Assert.Equal(0.003 + prefill + decode, result.EndToEnd[0], 12);
    }

    [Fact]
    public void Run_SameSeed_IsDeterministic_OtherSeedDiffers()
    {
        var model = H100Llama8B();
        var options = new LoadOptions { Requests = 400, Rate = 8, InputTokens = 1024, OutputTokens = 64, Jitter = 0.1, LengthSpread = 0.3, Seed = 7 };
        var a = LoadSimulator.Run(model, options);
        var b = LoadSimulator.Run(model, options);
        var c = LoadSimulator.Run(model, options with { Seed = 8 });
        Assert.Equal(a.Ttft, b.Ttft);
        Assert.Equal(a.Tpot, b.Tpot);
        Assert.NotEqual(a.Ttft, c.Ttft);
    }

    [Fact]
    public void Run_RatePastSaturation_QueueingGrowsLatency()
    {
        var model = H100Llama8B();
        var template = new LoadOptions { Requests = 1500, InputTokens = 2048, OutputTokens = 128, Seed = 3, WarmupFraction = 0.2 };
        var saturation = CapacityPlanner.FindSaturation(model, template with { Requests = 600 });
        var capacity = saturation.OutputTokensPerSecond / template.OutputTokens;

        var light = LoadSimulator.Summarize(LoadSimulator.Run(model, template with { Rate = capacity * 0.3 }));
        var heavy = LoadSimulator.Summarize(LoadSimulator.Run(model, template with { Rate = capacity * 2 }));

        // Past saturation the queue grows without bound: TTFT explodes while throughput stays near capacity.
        Assert.True(heavy.TtftP50Ms > 10 * light.TtftP50Ms, $"light {light.TtftP50Ms} ms, heavy {heavy.TtftP50Ms} ms");
        Assert.InRange(heavy.OutputTokensPerSecond, saturation.OutputTokensPerSecond * 0.8, saturation.OutputTokensPerSecond * 1.25);
        Assert.True(light.OutputTokensPerSecond < heavy.OutputTokensPerSecond);
    }

    [Fact]
    public void Run_KvBudget_CapsTheBatch()
    {
        // 18e9 bytes of KV / 8000 per token = 2.25 M tokens; 200,000-token sequences → 11 at once although 64 are in flight.
        var model = new LatencyModel(TestProfiles.Gpu(memoryGB: 20), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var result = LoadSimulator.Run(model, new LoadOptions { Requests = 64, Concurrency = 64, InputTokens = 199_990, OutputTokens = 10 });
        Assert.Equal(11, result.PeakBatch);
    }

    [Fact]
    public void Run_ChunkedPrefill_KeepsDecodingDuringLongPrompts()
    {
        var model = H100Llama8B();
        var options = new LoadOptions { Requests = 300, Rate = 3, InputTokens = 8000, OutputTokens = 200, Seed = 5, WarmupFraction = 0.1 };
        var whole = LoadSimulator.Summarize(LoadSimulator.Run(model, options));
        var chunked = LoadSimulator.Summarize(LoadSimulator.Run(model, options with { ChunkedPrefill = true }));

        // Without chunking every new prompt stalls all decoding sequences for a whole prefill.
        Assert.True(chunked.TpotP99Ms < whole.TpotP99Ms, $"chunked {chunked.TpotP99Ms} ms vs whole {whole.TpotP99Ms} ms");
    }

    [Fact]
    public void Plan_SloAndDevelopers_SizesFleetAndCost()
    {
        var model = H100Llama8B();
        var template = new LoadOptions { Requests = 500, InputTokens = 2048, OutputTokens = 128, Seed = 1 };
        var saturation = CapacityPlanner.FindSaturation(model, template);
        var plan = CapacityPlanner.Plan(model, template, new Slo(1000, 50), developers: 500, requestsPerDeveloperPerMinute: 2, saturation);

        Assert.True(plan.Feasible);
        Assert.Equal((int)Math.Ceiling(plan.DemandRequestsPerSecond / plan.MaxRequestsPerSecondPerReplica), plan.Replicas);
        Assert.Equal(plan.Devices * 3.0, plan.CostPerHour, 9);
        Assert.Equal(plan.CostPerHour / (500 * 2 / 60.0 * 128 * 3600 / 1e6), plan.CostPerMillionOutputTokens, 9);
    }

    [Fact]
    public void AnswersAllAlike_ClientsStayInStepAndQueueTheirPrompts()
    {
        // Prompts of mixed lengths and answers that all stop at one cap (a sweep with --max-tokens): the closed loop's clients
        // finish together and send their prompts together at every wave. Spreading the answers too breaks that up.
        var model = H100Llama8B();
        var template = new LoadOptions { Requests = 640, Concurrency = 16, InputTokens = 2000, OutputTokens = 64, LengthSpread = 0.5, WarmupFraction = 0.25, Seed = 2 };
        var inStep = LoadSimulator.Summarize(LoadSimulator.Run(model, template with { OutputLengthSpread = 0 }));
        var spread = LoadSimulator.Summarize(LoadSimulator.Run(model, template));

        Assert.True(inStep.TtftMeanMs > spread.TtftMeanMs * 1.3, $"answers alike {inStep.TtftMeanMs} ms vs spread {spread.TtftMeanMs} ms");
    }

    [Fact]
    public void SendGap_RequestsDueTogether_LeaveInTurn_AndTheFirstIsPrefilledAlone()
    {
        // Two clients, chunked prefill off, no round trip: together, both prompts share one prefill step; 1 ms apart, the first
        // is prefilled alone from its join and the second (joining 1 ms later, mid-step) waits for that step, then has its own.
        var model = new LatencyModel(TestProfiles.Gpu(requestMs: 3), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var template = new LoadOptions { Requests = 2, Concurrency = 2, InputTokens = 1000, OutputTokens = 2 };
        var together = LoadSimulator.Run(model, template);
        var apart = LoadSimulator.Run(model, template with { SendGapSeconds = 0.001 });

        var one = model.PrefillSeconds(1000);
        // Together: one step for both prompts, so one first-token time, later than a prompt's alone.
        Assert.Equal(together.Ttft[0], together.Ttft[1], 12);
        Assert.True(together.Ttft[0] > 0.003 + one + 1e-6, $"{together.Ttft[0]} s together vs {0.003 + one} s alone");
        var ttft = apart.Ttft.Order().ToArray();
        Assert.Equal(0.003 + one, ttft[0], 12);
        // TTFT counts from the second request's own send, 1 ms after the first's.
        Assert.Equal(0.003 + one + one - 0.001, ttft[1], 12);
    }

    [Fact]
    public void SendGap_AnswersAllAlike_ClientsDriftApart_AndQueueLessThanInLockstep()
    {
        // The sweep case (answers all at one cap): in lockstep every wave's prompts share one prefill step; sent a little apart,
        // the first of a wave starts alone, finishes early and comes back alone, so the clients spread out over the steps.
        var model = H100Llama8B();
        var template = new LoadOptions { Requests = 400, Concurrency = 10, InputTokens = 114, OutputTokens = 64, LengthSpread = 0.58, OutputLengthSpread = 0, WarmupFraction = 0.25, ChunkedPrefill = true, Seed = 42 };
        var lockstep = LoadSimulator.Summarize(LoadSimulator.Run(model, template));
        var apart = LoadSimulator.Summarize(LoadSimulator.Run(model, template with { SendGapSeconds = 0.0002 }));

        Assert.True(apart.TtftMeanMs < lockstep.TtftMeanMs * 0.95, $"sent 0.2 ms apart {apart.TtftMeanMs} ms vs lockstep {lockstep.TtftMeanMs} ms");
        // And no gap at all is the lockstep itself (the validated rows' setting): the same numbers, not merely close ones.
        Assert.Equal(lockstep.TtftMeanMs, LoadSimulator.Summarize(LoadSimulator.Run(model, template with { SendGapSeconds = 0 })).TtftMeanMs);
    }

    [Fact]
    public void SlidingWindowModel_KvCacheFull_FinishedSequencesGiveBackWhatTheyReserved()
    {
        // Half the layers keep a 64-token window: a 1,000-token sequence reserves (5·1000 + 5·64) / 10 = 532 tokens of every
        // layer. A cache of ~2,000 such tokens holds three at once. Before 2026-12-08 a finished sequence gave back 1,000, so
        // the reservation drifted below zero and the engine admitted ever more sequences than the cache holds.
        var probe = new LatencyModel(TestProfiles.Gpu(), TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var windowed = TestProfiles.Dense() with { SlidingWindowTokens = 64, SlidingWindowLayers = 5 };
        var model = new LatencyModel(TestProfiles.Gpu(memoryGB: (probe.WeightBytes + (2050 * 8000.0)) / 1e9), windowed, TestProfiles.Bf16, 1);
        Assert.Equal(532, model.KvTokensFor(1000));
        Assert.InRange(model.KvCapacityTokens, 3 * 532, (4 * 532) - 1);

        var result = LoadSimulator.Run(model, new LoadOptions { Requests = 200, Concurrency = 16, InputTokens = 900, OutputTokens = 100, Seed = 3 });

        Assert.Equal(3, result.PeakBatch);
    }

    [Fact]
    public void SloParse_BadKey_ThrowsWithFix()
    {
        var ex = Assert.Throws<Core.InputException>(() => Slo.Parse("ttft=5"));
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
        Assert.Equal(new Slo(500, null), Slo.Parse("ttft_ms=500"));
    }
}
