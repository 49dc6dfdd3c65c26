namespace Spark.Eval.Pilot.Tests;

/// <summary>
/// Calibration of the difference-in-differences interval on synthetic pilots with a known planted effect: not one
/// lucky seed but 100. Small teams (16 + 16 developers, 30 days) keep it to seconds.
/// </summary>
public sealed class PilotCalibrationTests
{
    private const int Seeds = 100;

    private static EffectEstimate TtfcEffect(double plantedMinutes, int seed)
    {
        var options = new PilotSynthOptions { Developers = 32, Days = 30, Seed = seed, EffectMinutes = plantedMinutes, Suggestions = false };
        var data = PilotSynth.Aggregate(options);
        var report = PilotAnalysis.Analyze(data, [], new PilotAnalysisOptions
        {
            PilotStart = options.PilotStart, Salt = "calibration", Bootstrap = 1000, Seed = seed, IncludeTasks = false, OnlyMetrics = ["ttfc_task"],
        });
        return report.Effects.Single(e => e.Metric == "ttfc_task").Effect!;
    }

    // Seeds are independent; each result depends only on its seed, so running them in parallel changes nothing but time.
    private static EffectEstimate[] Effects(double plantedMinutes)
    {
        var effects = new EffectEstimate[Seeds];
        Parallel.For(0, Seeds, i => effects[i] = TtfcEffect(plantedMinutes, i + 1));
        return effects;
    }

    [Fact]
    public void PlantedEffect_IntervalCoversIt_InAtLeast90Of100Seeds()
    {
        const double planted = -30;
        var effects = Effects(planted);
        var covered = effects.Count(e => e.Lower <= planted && planted <= e.Upper);
        var detected = effects.Count(e => e.Significant);

        TestContext.Current.TestOutputHelper?.WriteLine($"planted {planted} min: covered {covered}/{Seeds}, detected {detected}/{Seeds}");
        Assert.True(covered >= 90, $"the 95 % interval covered the planted {planted} min in {covered} of {Seeds} seeds");
        // A 30-minute effect is above this team size's minimum detectable effect, so it is found nearly always.
        Assert.True(detected >= 80, $"detected in {detected} of {Seeds} seeds");
    }

    [Fact]
    public void ZeroEffect_FlaggedInAtMost10Of100Seeds()
    {
        // 95 % intervals flag a null effect 5 % of the time in expectation; 10 of 100 is that rate plus a binomial margin
        // (P[X ≥ 11 | n = 100, p = 0.05] ≈ 1.1 %).
        var flagged = Effects(0).Count(e => e.Significant);

        TestContext.Current.TestOutputHelper?.WriteLine($"zero effect: flagged {flagged}/{Seeds}");
        Assert.True(flagged <= 10, $"a zero effect was flagged in {flagged} of {Seeds} seeds");
    }

    [Fact]
    public void Synth_SameSeed_SameEventsAcrossProcesses()
    {
        // Fixed expectations, not a second in-process run: a per-process hash seed would pass an in-process comparison.
        var events = PilotSynth.Generate(new PilotSynthOptions { Developers = 4, Days = 10, Seed = 3 }).ToList();
        Assert.Equal(PilotSynth.StreamSeed(3, 1), PilotSynth.StreamSeed(3, 1));
        Assert.Equal(-884_412_030, PilotSynth.StreamSeed(3, 1));
        Assert.NotEqual(PilotSynth.StreamSeed(3, 1), PilotSynth.StreamSeed(3, 2));
        Assert.Equal(events, PilotSynth.Generate(new PilotSynthOptions { Developers = 4, Days = 10, Seed = 3 }).ToList());
    }
}
