using System.Text;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Procurement;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

/// <summary>
/// A profile fitted to the user's own sweep is judged, inside what the sweep measured, by its error on steps of that sweep
/// left out of the fit (<see cref="HardwareProfile.SweepFit"/>), not by its device family's holdout band.
/// </summary>
public sealed class SweepFitBandTests
{
    private static readonly ProfileCatalog Embedded = ProfileCatalog.LoadEmbedded();
    private static readonly Lazy<IReadOnlyList<ValidationResult>> Validation = new(() => ErrorBands.RunKnown(Embedded, ValidationRunner.Load(null)));

    private static readonly SweepFitError Own = new()
    {
        Run = "/runs/sweep", Backend = "ep", Steps = 4, TtftWorstRatio = 1.31, TpotWorstRatio = 1.07, MedianAbsoluteError = 0.05,
        OutputTokensPerSecondMin = 100, OutputTokensPerSecondMax = 5000, InputTokensMin = 900, InputTokensMax = 1100,
    };

    private static ProfileCatalog WithFitted(SweepFitError? fit)
    {
        var h100 = Embedded.GetHardware("h100-sxm");
        return new ProfileCatalog([.. Embedded.Hardware, h100 with { Id = "h100-sxm-fitted", SweepFit = fit }], Embedded.Models, "test");
    }

    private static ProcurementPlan Plan(int inputTokens) => new()
    {
        FormatVersion = 1,
        Name = "test",
        Developers = 50,
        Demand = new DeveloperDemand { InteractionsPerDeveloperHour = 12, InputTokens = inputTokens, OutputTokens = 128 },
        Candidates = [new ProcurementCandidate { Hardware = "h100-sxm-fitted", Model = "llama-3.1-8b", Precision = "bf16" }],
    };

    [Fact]
    public void Evaluate_InsideTheSweep_BoundsAreTheLeftOutStepErrors()
    {
        var r = ProcurementPlanner.Evaluate(WithFitted(Own), Plan(1000), validation: Validation.Value).Candidates.Single();

        Assert.Equal(Own, r.FittedSweepError);
        Assert.Equal(1.31, r.TtftErrorBound);
        Assert.Equal(1.07, r.TpotErrorBound);
        // Throughput at saturation is not what a latency sweep measures: still the family's band.
        Assert.Equal(ErrorBands.Bound(Validation.Value, "nvidia-hopper", "throughput"), r.ThroughputErrorBound);
        Assert.Contains("leave-one-step-out error", r.SweepFitNote, StringComparison.Ordinal);
        Assert.Contains("own sweep", ProcurementPlanner.Trust(r, null), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4000, "4000-token prompts")]
    [InlineData(500, "500-token prompts")]
    public void Evaluate_PromptsOutsideTheSweep_FallBackToTheFamilyBand(int inputTokens, string named)
    {
        var r = ProcurementPlanner.Evaluate(WithFitted(Own), Plan(inputTokens), validation: Validation.Value).Candidates.Single();

        Assert.Null(r.FittedSweepError);
        Assert.Equal(ErrorBands.Bound(Validation.Value, "nvidia-hopper", "ttft"), r.TtftErrorBound);
        Assert.Contains(named, r.SweepFitNote, StringComparison.Ordinal);
        Assert.Contains("the family's holdout band applies", r.SweepFitNote, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_LoadAboveTheBusiestStep_FallsBackToTheFamilyBand()
    {
        // 50 developers × 12 / h = 0.17 req/s × 128 tokens ≈ 21 output tokens/s on one replica: above a sweep that reached 20.
        var small = Own with { OutputTokensPerSecondMin = 5, OutputTokensPerSecondMax = 20 };
        var r = ProcurementPlanner.Evaluate(WithFitted(small), Plan(1000), validation: Validation.Value).Candidates.Single();

        Assert.Null(r.FittedSweepError);
        Assert.Contains("output tokens/s per replica)", r.SweepFitNote, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_ProfileWithoutASweep_KeepsTheFamilyBandAndSaysNothing()
    {
        var r = ProcurementPlanner.Evaluate(WithFitted(null), Plan(1000), validation: Validation.Value).Candidates.Single();

        Assert.Null(r.FittedSweepError);
        Assert.Null(r.SweepFitNote);
        Assert.Equal(ErrorBands.Bound(Validation.Value, "nvidia-hopper", "tpot", mixtureOfExperts: false), r.TpotErrorBound);
    }

    [Theory]
    [InlineData("\"steps\":2", "sweepFit.steps")]
    [InlineData("\"steps\":3,\"ttftWorstRatio\":0.5", "sweepFit.ttftWorstRatio")]
    [InlineData("\"steps\":3,\"outputTokensPerSecondMin\":0", "sweepFit.outputTokensPerSecondMin")]
    [InlineData("\"steps\":3,\"inputTokensMin\":900,\"inputTokensMax\":100", "sweepFit.inputTokensMin")]
    public void ParseHardware_BadSweepFit_RejectedNamingTheField(string figures, string field)
    {
        var good = "\"ttftWorstRatio\":1.2,\"tpotWorstRatio\":1.1,\"medianAbsoluteError\":0.05,\"outputTokensPerSecondMin\":10,\"outputTokensPerSecondMax\":100,\"inputTokensMin\":100,\"inputTokensMax\":200";
        // The later key wins in the parsed record, so the figures under test override the good ones.
        var sweepFit = $$"""{"run":"r","backend":"ep",{{good}},{{figures}}}""";
        var sources = string.Join(',', new[] { "memoryGB", "memoryBandwidthGBps", "peakTflops", "computeEfficiency", "bandwidthEfficiency" }.Select(f => $$"""{"field":"{{f}}","url":"u","quote":"q"}"""));
        var json = $$"""{"formatVersion":1,"hardware":[{"id":"x","name":"X","family":"f","memoryGB":80,"memoryBandwidthGBps":3000,"peakTflops":{"bf16":900},"sweepFit":{{sweepFit}},"sources":[{{sources}}]}]}""";

        var ex = Assert.Throws<InputException>(() => ProfileCatalog.ParseHardware("hw.json", Encoding.UTF8.GetBytes(json)));

        Assert.Contains($"hardware[0] ('x').{field}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("simulate calibrate --from-run", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_CandidateWithASweep_IsSimulatedByTheProfileFittedToIt()
    {
        // The endpoint is the embedded H100 at other constants (0.6 of peak bandwidth, 20 ms per request), swept at
        // concurrency 1, 4 and 16: procure must fit the profile to it, simulate the candidate with the fitted profile
        // (slower decode than the catalog's), price it as the H100 (--price names h100-sxm) and judge it by its left-out error.
        var h100 = Embedded.GetHardware("h100-sxm");
        var truth = new ProfileCatalog([h100 with { BandwidthEfficiency = 0.6, RequestOverheadMs = 20 }], Embedded.Models, "truth");
        var sweep = SweepCalibrationTests.WriteH100Sweep(truth, [1, 4, 16]);
        var plan = Plan(400) with
        {
            Candidates = [new ProcurementCandidate { Hardware = "h100-sxm", Model = "llama-3.1-8b", Precision = "bf16", SweepRunDirectory = sweep }, new ProcurementCandidate { Hardware = "h100-sxm", Model = "llama-3.1-8b", Precision = "bf16" }],
        };

        var report = ProcurementPlanner.Evaluate(Embedded, plan, new Dictionary<string, double> { ["h100-sxm"] = 2.0 }, Validation.Value);

        var fitted = Assert.Single(report.Candidates, c => c.Hardware == "h100-sxm-fitted");
        var catalog = Assert.Single(report.Candidates, c => c.Hardware == "h100-sxm");
        Assert.True(fitted.TpotP99Ms > catalog.TpotP99Ms * 1.2, $"fitted {fitted.TpotP99Ms} ms against the catalog's {catalog.TpotP99Ms} ms: the fit must carry the endpoint's slower decode");
        Assert.Equal(2.0, fitted.PricePerDeviceHour);
        Assert.NotNull(fitted.FittedSweepError);
        Assert.Equal(fitted.FittedSweepError!.TpotWorstRatio, fitted.TpotErrorBound);
        Assert.Contains("constants fitted to the sweep " + sweep, fitted.FittedFrom, StringComparison.Ordinal);
        Assert.Null(catalog.FittedFrom);
        // The report draws the sweep beside the fitted curve: its three steps, by the request rate each reached.
        Assert.Equal(3, fitted.MeasuredCurve.Count);
        Assert.True(fitted.MeasuredCurve[0].RatePerReplica < fitted.MeasuredCurve[2].RatePerReplica);
        Assert.Empty(catalog.MeasuredCurve);
    }

    [Fact]
    public void Evaluate_SweepThatCannotBeFitted_NamesTheCandidateField()
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", Guid.NewGuid().ToString("N"));
        var plan = Plan(400) with { Candidates = [new ProcurementCandidate { Hardware = "h100-sxm", Model = "llama-3.1-8b", SweepRunDirectory = dir }] };

        var ex = Assert.Throws<InputException>(() => ProcurementPlanner.Evaluate(Embedded, plan));

        Assert.StartsWith("candidates[0].sweepRunDirectory: ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"hardware\": \"h100-sxm\", \"model\": \"llama-3.1-8b\", \"sweepBackend\": \"ep\"}", "candidates[0].sweepBackend")]
    [InlineData("{\"hardware\": \"h100-sxm\", \"model\": \"llama-3.1-8b\", \"sweepRunDirectory\": \"a\", \"latencyRunDirectory\": \"b\"}", "candidates[0].sweepRunDirectory")]
    public void Load_InconsistentSweepFields_AreRefusedNamingTheField(string candidate, string field)
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "plan.json");
        File.WriteAllText(path, "{\"formatVersion\": 1, \"name\": \"p\", \"developers\": 5, \"candidates\": [" + candidate + "]}");

        var ex = Assert.Throws<InputException>(() => ProcurementPlanner.Load(path));

        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
    }
}
