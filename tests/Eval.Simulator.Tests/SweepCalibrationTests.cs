using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Running;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

/// <summary><see cref="SweepCalibration"/>: a sweep's points become calibration rows of <see cref="ProfileFitter"/>, which recovers the constants behind them.</summary>
public sealed class SweepCalibrationTests
{
    private static readonly ProfileCatalog Start = new([TestProfiles.Gpu(requestMs: 5)], [TestProfiles.Dense()], "test");

    [Fact]
    public void Fit_SweepPredictedByKnownConstants_RecoversThemAndTheErrorFalls()
    {
        // The "endpoint" is the model itself with bandwidth efficiency 0.45 and a 30 ms request overhead; the fit starts
        // from the profile's own values and must find both from the sweep's mean TTFT and TPOT alone.
        var hw = Start.GetHardware("test-gpu");
        var truth = new ProfileCatalog([hw with { BandwidthEfficiency = 0.45, RequestOverheadMs = 30 }], [TestProfiles.Dense()], "truth");
        Assert.True(Math.Abs(hw.BandwidthEfficiency - 0.45) > 0.1 && Math.Abs(hw.RequestOverheadMs - 30) > 10, "the start must differ from the truth");
        var dir = WriteSweep("concurrency", [1, 4, 16], load => (Predict(truth, "ttft_ms", load), Predict(truth, "itl_ms", load)));

        var fit = SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", "bf16", 1, null, []));

        Assert.Equal(["bandwidthEfficiency", "requestOverheadMs"], fit.Constants.Select(c => c.Name));
        Assert.InRange(fit.Constants[0].Value, 0.44, 0.46);
        Assert.InRange(fit.Constants[1].Value, 29, 31);
        Assert.Equal(6, fit.Rows.Count);
        Assert.True(fit.BeforeMedianError > 0.1, $"before {fit.BeforeMedianError}");
        Assert.True(fit.AfterMedianError < 0.02, $"after {fit.AfterMedianError}");
        Assert.Equal(hw.BandwidthEfficiency, fit.Before["bandwidthEfficiency"]);
        Assert.Equal(0.45, fit.Fitted.BandwidthEfficiency, 2);
    }

    [Fact]
    public void Fit_RateSweep_RecoversTheConstantsThroughTheOpenLoop()
    {
        // An open-loop sweep: the "endpoint" is the model at 0.45 and 30 ms under Poisson arrivals at 2, 8 and 14 req/s,
        // where queueing lengthens TTFT and batching lengthens TPOT; the fit must replay the same open loop to find both.
        var hw = Start.GetHardware("test-gpu");
        var truth = new ProfileCatalog([hw with { BandwidthEfficiency = 0.45, RequestOverheadMs = 30 }], [TestProfiles.Dense()], "truth");
        var dir = WriteSweep("rate", [2, 8, 14], load => (Predict(truth, "ttft_ms", load, open: true), Predict(truth, "itl_ms", load, open: true)));
        Assert.True(Predict(truth, "itl_ms", 14, open: true) > Predict(truth, "itl_ms", 1, open: false) * 1.05,
            "the open loop at 14 req/s must load the model differently from one closed-loop stream, or the test proves nothing");

        var fit = SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", "bf16", 1, null, []));

        Assert.InRange(fit.Constants[0].Value, 0.44, 0.46);
        Assert.InRange(fit.Constants[1].Value, 29, 31);
        Assert.True(fit.AfterMedianError < 0.02, $"after {fit.AfterMedianError}");
        Assert.Equal([2.0, 2.0, 8.0, 8.0, 14.0, 14.0], fit.Rows.Select(r => r.RequestRate ?? 0));
        Assert.Equal("ep-r8-ttft_ms", fit.Rows[2].Id);
        Assert.Contains("open loop", fit.Load, StringComparison.Ordinal);
        Assert.Contains("Poisson arrivals", fit.Load, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_RateSweepWithoutStepManifests_SaysPoissonWasAssumed()
    {
        var dir = WriteSweep("rate", [1, 2], _ => (50, 10));
        var fit = SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", null, 1, null, []));
        Assert.Contains("a step without a manifest taken as the run's default", fit.Load, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_OtherSweepKey_IsRefusedWithTheFix()
    {
        var dir = WriteSweep("tasks", [1, 2], _ => (50, 10));
        var ex = Assert.Throws<InputException>(() => SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", null, 1, null, [])));
        Assert.Contains("calibration fits concurrency and rate steps", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_UnknownBackend_NamesTheBackendsItHolds()
    {
        var dir = WriteSweep("concurrency", [1], _ => (50, 10));
        var ex = Assert.Throws<InputException>(() => SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", null, 1, "other", [])));
        Assert.Contains("--backend other: not in the sweep (it holds ep)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_NoiseFreeSweep_PredictsEveryLeftOutStep()
    {
        // The endpoint is the model itself: constants fitted without any one step still find the truth, so each left-out
        // step is predicted almost exactly, and the range is the sweep's own.
        var truth = new ProfileCatalog([Start.GetHardware("test-gpu") with { BandwidthEfficiency = 0.45, RequestOverheadMs = 30 }], [TestProfiles.Dense()], "truth");
        var dir = WriteSweep("concurrency", [1, 4, 16], load => (Predict(truth, "ttft_ms", load), Predict(truth, "itl_ms", load)));

        var fit = SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", "bf16", 1, null, []));

        var o = Assert.IsType<SweepFitError>(fit.LeftOut);
        Assert.Equal(3, o.Steps);
        Assert.InRange(o.TtftWorstRatio, 1, 1.03);
        Assert.InRange(o.TpotWorstRatio, 1, 1.03);
        Assert.Equal(400, o.InputTokensMin);
        Assert.Equal(16 * 1000 / Predict(truth, "itl_ms", 16), o.OutputTokensPerSecondMax, 6);
        Assert.Equal(o, fit.Fitted.SweepFit);
    }

    [Fact]
    public void Fit_OneStepOffTheModel_ShowsOnlyWhenThatStepIsLeftOut()
    {
        // At concurrency 4 the endpoint's TTFT is twice what the model gives (say a front end that queues). Fitted on
        // all three steps the two constants bend toward it; fitted without it, the others cannot foresee it: the left-out
        // error must be worse than the in-sample one (a fit that kept the step would give the in-sample figure, 1.85× here
        // against 2.00×), which is why procure reads the former.
        var truth = new ProfileCatalog([Start.GetHardware("test-gpu") with { BandwidthEfficiency = 0.45, RequestOverheadMs = 30 }], [TestProfiles.Dense()], "truth");
        var dir = WriteSweep("concurrency", [1, 4, 16], load => (Predict(truth, "ttft_ms", load) * (load == 4 ? 2 : 1), Predict(truth, "itl_ms", load)));

        var fit = SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", "bf16", 1, null, []));

        var o = Assert.IsType<SweepFitError>(fit.LeftOut);
        var inSampleTtft = fit.Rows.Where(r => r.Metric == "ttft_ms").Max(r => Math.Max(r.After / r.Measured, r.Measured / r.After));
        Assert.True(o.TtftWorstRatio > inSampleTtft * 1.05 && o.TtftWorstRatio > 1.9, $"left out {o.TtftWorstRatio:F2}×, in sample {inSampleTtft:F2}×");
    }

    [Fact]
    public void Fit_TwoSteps_AreNotCheckedOnLeftOutSteps()
    {
        var dir = WriteSweep("concurrency", [1, 4], _ => (50, 10));
        var fit = SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", null, 1, null, []));
        Assert.Null(fit.LeftOut);
        Assert.Null(fit.Fitted.SweepFit);
    }

    [Theory]
    [InlineData(new long[] { 100, 100, 100, 100 }, new long[] { 64, 64, 64, 64 }, 0, 0)]
    // Prompts 75/125 (sample CV 1/(2√3)): √3 × 1/(2√3) = 0.5, the uniform ± 50 % they resemble; answers all at the cap: 0.
    [InlineData(new long[] { 75, 125, 75, 125 }, new long[] { 64, 64, 64, 64 }, 0.5, 0)]
    // Answers 48/80 have the same CV: ± 50 % each.
    [InlineData(new long[] { 75, 125, 75, 125 }, new long[] { 48, 80, 48, 80 }, 0.5, 0.5)]
    [InlineData(new long[] { 10, 1000, 10, 1000 }, new long[] { 1, 500, 1, 500 }, 0.9, 0.9)]
    public void LengthSpreads_AreTheUniformSpreadsOfTheStepsMeasuredPromptsAndAnswers(long[] prompts, long[] answers, double promptSpread, double answerSpread)
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", Guid.NewGuid().ToString("N"));
        WriteAttempts(dir, prompts, answers);

        var (p, a) = SweepCalibration.LengthSpreads(dir, "ep");
        Assert.Equal(promptSpread, p, 3);
        Assert.Equal(answerSpread, a, 3);
        Assert.Equal((0.0, 0.0), SweepCalibration.LengthSpreads(Path.Combine(dir, "missing"), "ep"));
    }

    [Fact]
    public void WriteProfiles_TheMeasuredHardwareCarriesItsSweepErrorAndTheOthersDoNot()
    {
        // The embedded catalog (every figure sourced, as a written folder must be); the endpoint is its H100 at other constants.
        var catalog = ProfileCatalog.LoadEmbedded();
        var h100 = catalog.GetHardware("h100-sxm");
        var truth = new ProfileCatalog([h100 with { BandwidthEfficiency = 0.6, RequestOverheadMs = 20 }], catalog.Models, "truth");
        var dir = WriteH100Sweep(truth, [1, 4, 16]);
        var fit = SweepCalibration.Fit(catalog, new SweepCalibrationRequest(dir, "h100-sxm", "llama-3.1-8b", "bf16", 1, null, []));
        var folder = Path.Combine(dir, "profiles");

        SweepCalibration.WriteProfiles(catalog, fit, ["h200"], folder, DateTimeOffset.UnixEpoch);

        var written = ProfileCatalog.ParseHardware("hardware.json", File.ReadAllBytes(Path.Combine(folder, "hardware.json")));
        Assert.NotNull(fit.LeftOut);
        Assert.Equal(fit.LeftOut, written.Single(h => h.Id == "h100-sxm-fitted").SweepFit);
        Assert.Null(written.Single(h => h.Id == "h200-fitted").SweepFit);
        Assert.Null(written.Single(h => h.Id == "h100-sxm").SweepFit);
    }

    private static double Predict(ProfileCatalog catalog, string metric, double load, bool open = false) => ValidationRunner.Predict(catalog, new ValidationRow
    {
        Id = "p", Source = "s", Quote = "q", Hardware = "test-gpu", Model = "test-1b", Precision = "bf16", Concurrency = open ? 1 : (int)load,
        RequestRate = open ? load : null, InputTokens = 400, OutputTokens = 100, Metric = metric,
    });

    /// <summary>A concurrency sweep (<see cref="WriteSweep"/>) whose steps are <paramref name="truth"/>'s h100-sxm × Llama 3.1 8B at 400/100 tokens.</summary>
    internal static string WriteH100Sweep(ProfileCatalog truth, double[] loads)
    {
        double At(string metric, double load) => ValidationRunner.Predict(truth, new ValidationRow
        {
            Id = "p", Source = "s", Quote = "q", Hardware = "h100-sxm", Model = "llama-3.1-8b", Precision = "bf16", Concurrency = (int)load,
            InputTokens = 400, OutputTokens = 100, Metric = metric,
        });
        return WriteSweep("concurrency", loads, l => (At("ttft_ms", l), At("itl_ms", l)));
    }

    /// <summary>
    /// A sweep.json of one backend "ep" at <paramref name="loads"/> with mean TTFT and TPOT from <paramref name="figures"/>,
    /// 400/100 tokens per attempt; throughput follows from them (a closed loop: load / request time), and the p99s are the means
    /// × 1.2 and × 1.1.
    /// </summary>
    /// <summary>A step's attempts.jsonl: ok attempts of backend ep with these lengths, and a warm-up, another backend and a failure that must not count.</summary>
    private static void WriteAttempts(string dir, long[] prompts, long[] answers)
    {
        Directory.CreateDirectory(dir);
        var lines = new List<byte>();
        for (var i = 0; i < prompts.Length; i++)
        {
            lines.AddRange(AttemptLog.Line(new AttemptRecord
            {
                Sequence = i, Slot = new SlotKey("t" + i, "ep", 0), Events = [], Outcome = AttemptOutcome.Ok, Answer = "x",
                Tokens = new TokenCounts { InputTokenizer = prompts[i], OutputTokenizer = answers[i], Tokenizer = "test" },
            }));
        }

        // A warm-up, another backend and a failure must not count.
        lines.AddRange(AttemptLog.Line(new AttemptRecord { Sequence = 90, Slot = new SlotKey("w", "ep", 0, Warmup: true), Events = [], Outcome = AttemptOutcome.Ok, Answer = "x", Tokens = new TokenCounts { InputTokenizer = 5000, OutputTokenizer = 1, Tokenizer = "test" } }));
        lines.AddRange(AttemptLog.Line(new AttemptRecord { Sequence = 91, Slot = new SlotKey("o", "other", 0), Events = [], Outcome = AttemptOutcome.Ok, Answer = "x", Tokens = new TokenCounts { InputTokenizer = 5000, OutputTokenizer = 1, Tokenizer = "test" } }));
        lines.AddRange(AttemptLog.Line(new AttemptRecord { Sequence = 92, Slot = new SlotKey("f", "ep", 1), Events = [], Outcome = new AttemptOutcome(AttemptStatus.Error), Answer = "", Tokens = new TokenCounts { InputTokenizer = 5000, Tokenizer = "test" } }));
        File.WriteAllBytes(Path.Combine(dir, AttemptLog.FileName), [.. lines]);
    }

    [Fact]
    public void Rows_MixedPromptsAnswersAtTheCap_CarryBothSpreadsApart()
    {
        var dir = WriteSweep("concurrency", [1, 4, 16], _ => (50, 10));
        foreach (var step in new[] { "step-01", "step-02", "step-03" })
        {
            WriteAttempts(Path.Combine(dir, step), [75, 125, 75, 125], [64, 64, 64, 64]);
        }

        var sweep = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(dir, SweepReport.FileName)), CoreJsonContext.Default.SweepReport)!;
        var rows = SweepCalibration.Rows(sweep, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", null, 1, null, []), "bf16", out _);

        // Prompts ± 50 %, answers all alike: the replay keeps the clients' answers in step, as the run's were.
        Assert.All(rows, r => Assert.Equal((0.5, 0.0), (r.LengthSpread!.Value, r.AnswerLengthSpread!.Value)));
        var fit = SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", null, 1, null, []));
        Assert.All(fit.Rows, r => Assert.Equal((0.5, 0.0), (r.LengthSpread, r.AnswerLengthSpread)));
    }

    [Fact]
    public void SendGap_IsTheMedianGapBetweenRequestsThatWereDueTogether_AndEveryClosedLoopRowCarriesIt()
    {
        var dir = WriteSweep("concurrency", [1, 4, 16], _ => (50, 10));
        // Concurrency 4 in lockstep: three waves, each ending at one instant (40 ms into the wave), each next wave sent
        // 0.2 ms apart per request. Every pair inside a wave was due together (9 pairs); a wave's first request was not due
        // when the last of the wave before left.
        WriteAttempts(Path.Combine(dir, "step-02"), [.. Waves(4, 3, paceUs: 200)]);
        // Concurrency 16 drifting apart: a first wave sent 0.5 ms apart, then each client sends its next request 0.1 ms after
        // its answer ends, and answers of different lengths end at different moments: no two later requests were due at once,
        // and the gaps between their starts are the endpoint's, not the client's.
        WriteAttempts(Path.Combine(dir, "step-03"), [.. Enumerable.Range(0, 16).SelectMany(j => Client(j * 500L, 40_000L + (j * 1_013L), rounds: 2))]);

        var sweep = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(dir, SweepReport.FileName)), CoreJsonContext.Default.SweepReport)!;
        // 9 gaps of 0.2 ms and 15 of 0.5 ms (concurrency 16's first wave): the median of 24 is 0.5; without that wave it would
        // be 0.2. The drifted starts, 10 ms apart, count for nothing.
        Assert.Equal((0.5, 24), SweepCalibration.SendGap(sweep, dir, "ep"));
        var rows = SweepCalibration.Rows(sweep, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", null, 1, null, []), "bf16", out _);
        Assert.All(rows, r => Assert.Equal(0.5, r.SendGapMs));
        var fit = SweepCalibration.Fit(Start, new SweepCalibrationRequest(dir, "test-gpu", "test-1b", null, 1, null, []));
        Assert.Contains("sent 0.5 ms apart", fit.Load, StringComparison.Ordinal);

        // Only the first wave of four due together (3 pairs): too few to read a pace, requests due together replayed together.
        var low = WriteSweep("concurrency", [1, 4], _ => (50, 10));
        WriteAttempts(Path.Combine(low, "step-02"), [.. Enumerable.Range(0, 4).Select(k => ((long)k * 200, 40_000L + (k * 10_000L)))]);
        var lowSweep = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(low, SweepReport.FileName)), CoreJsonContext.Default.SweepReport)!;
        Assert.Null(SweepCalibration.SendGap(lowSweep, low, "ep"));
        Assert.All(SweepCalibration.Rows(lowSweep, new SweepCalibrationRequest(low, "test-gpu", "test-1b", null, 1, null, []), "bf16", out _), r => Assert.Null(r.SendGapMs));
    }

    /// <summary>One client of a closed loop: its first request at <paramref name="firstUs"/>, each lasting <paramref name="durationUs"/>, the next sent 0.1 ms after.</summary>
    private static IEnumerable<(long StartUs, long EndUs)> Client(long firstUs, long durationUs, int rounds)
    {
        for (var (r, start) = (0, firstUs); r < rounds; r++, start += durationUs + 100)
        {
            yield return (start, start + durationUs);
        }
    }

    /// <summary>A closed loop in lockstep: each wave's requests sent <paramref name="paceUs"/> apart and all ending 40 ms after the wave began.</summary>
    private static IEnumerable<(long StartUs, long EndUs)> Waves(int clients, int waves, long paceUs)
    {
        for (var w = 0; w < waves; w++)
        {
            var begin = w * 50_000L;
            for (var k = 0; k < clients; k++)
            {
                yield return (begin + (k * paceUs), begin + 40_000);
            }
        }
    }

    private static void WriteAttempts(string dir, (long StartUs, long EndUs)[] attempts)
    {
        Directory.CreateDirectory(dir);
        var lines = new List<byte>();
        for (var i = 0; i < attempts.Length; i++)
        {
            var (start, end) = attempts[i];
            lines.AddRange(AttemptLog.Line(new AttemptRecord
            {
                Sequence = i, Slot = new SlotKey("t" + i, "ep", 0), Outcome = AttemptOutcome.Ok, Answer = "x", StartUs = start,
                Events = [new StreamEvent(5_000, StreamEventKind.Content, 1), new StreamEvent(end - start, StreamEventKind.Content, 1)],
                Tokens = new TokenCounts { InputTokenizer = 100, OutputTokenizer = 64, Tokenizer = "test" },
            }));
        }

        // A warm-up and another backend, started in between and ending at once, must not count.
        lines.AddRange(AttemptLog.Line(new AttemptRecord { Sequence = 90, Slot = new SlotKey("w", "ep", 0, Warmup: true), Events = [], Outcome = AttemptOutcome.Ok, Answer = "x", StartUs = 100, Tokens = new TokenCounts { InputTokenizer = 100, OutputTokenizer = 64, Tokenizer = "test" } }));
        lines.AddRange(AttemptLog.Line(new AttemptRecord { Sequence = 91, Slot = new SlotKey("o", "other", 0), Events = [], Outcome = AttemptOutcome.Ok, Answer = "x", StartUs = 300, Tokens = new TokenCounts { InputTokenizer = 100, OutputTokenizer = 64, Tokenizer = "test" } }));
        File.WriteAllBytes(Path.Combine(dir, AttemptLog.FileName), [.. lines]);
    }

    internal static string WriteSweep(string key, double[] loads, Func<double, (double Ttft, double Tpot)> figures)
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var report = new SweepReport
        {
            SweepId = "t", Key = key, Values = loads, Slo = [], Suite = "s", Backends = ["ep"], Status = "completed", Verdicts = [],
            Steps = [.. loads.Select((l, i) => new SweepStep(i + 1, l, $"step-{i + 1:00}", "r", "completed", false))],
            Points = [.. loads.Select((l, i) => new SweepPoint
            {
                Backend = "ep", Load = l, Step = i + 1, Measured = 20, Ok = 20, TtftMeanMs = figures(l).Ttft, TpotMeanMs = figures(l).Tpot,
                MeanInputTokens = 400, MeanOutputTokens = 100, OutputTokenThroughputTps = l * 1000 / figures(l).Tpot,
                RequestThroughputRps = l * 1000 / (figures(l).Ttft + (99 * figures(l).Tpot)), TtftP99Ms = figures(l).Ttft * 1.2, TpotP99Ms = figures(l).Tpot * 1.1,
            })],
        };
        File.WriteAllText(Path.Combine(dir, SweepReport.FileName), JsonSerializer.Serialize(report, CoreJsonContext.Default.SweepReport));
        return dir;
    }
}
