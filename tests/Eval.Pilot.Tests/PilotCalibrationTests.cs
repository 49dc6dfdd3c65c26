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

    [Fact]
    public void PlantedEffect_IntervalCoversIt_InAtLeast90Of100Seeds()
    {
        const double planted = -30;
        var covered = 0;
        var detected = 0;
        for (var seed = 1; seed <= Seeds; seed++)
        {
            var effect = TtfcEffect(planted, seed);
            covered += effect.Lower <= planted && planted <= effect.Upper ? 1 : 0;
            detected += effect.Significant ? 1 : 0;
        }

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
        var flagged = 0;
        for (var seed = 1; seed <= Seeds; seed++)
        {
            flagged += TtfcEffect(0, seed).Significant ? 1 : 0;
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"zero effect: flagged {flagged}/{Seeds}");
        Assert.True(flagged <= 10, $"a zero effect was flagged in {flagged} of {Seeds} seeds");
    }
}
