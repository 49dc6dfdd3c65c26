using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;
using Spark.Eval.Simulator.Procurement;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

public class ProcurementPlannerTests
{
    private static readonly ProfileCatalog Catalog = ProfileCatalog.LoadEmbedded();

    private static ProcurementPlan Plan(int developers, params ProcurementCandidate[] candidates) => new()
    {
        FormatVersion = 1,
        Name = "test",
        Developers = developers,
        Demand = new DeveloperDemand { InteractionsPerDeveloperHour = 12, InputTokens = 1024, OutputTokens = 128 },
        Candidates = candidates,
    };

    private static ProcurementCandidate H100Qwen => new() { Hardware = "h100-sxm", Model = "qwen2.5-coder-32b", Precision = "fp8" };

    [Fact]
    public void Evaluate_ExamplePlan_SizesRanksAndRecommendsAPricedCandidate()
    {
        var plan = ProcurementPlanner.Load(Path.Combine(ProfileCatalogTests.RepoRoot, "hw-profiles", "procure-example.json"));
        var report = ProcurementPlanner.Evaluate(Catalog, plan);

        Assert.Equal(10, report.Candidates.Count);
        Assert.Equal(Enumerable.Range(1, 10), report.Candidates.Select(c => c.Rank));
        Assert.All(report.Candidates, c => Assert.True(c.Fits, c.Problem));
        Assert.All(report.Candidates, c => Assert.Equal(9, c.Curve.Count));
        var pick = Assert.Single(report.Candidates, c => c.Id == report.Recommended);
        Assert.True(pick.MeetsSlo);
        Assert.True(pick.OnParetoFront);
        Assert.StartsWith("Buy ", report.Verdict, StringComparison.Ordinal);
        Assert.Contains("SIMULATED", report.Verdict, StringComparison.Ordinal);
        // WSE-3 has no device-hour price: Cerebras sells Llama 3.1 70B by the token (the profile's sourced API price), so that
        // candidate is costed per token; Qwen2.5-Coder 32B is not on its price list, so that one is not costed and says how to cost it.
        var wseLlama = Assert.Single(report.Candidates, c => c.Id == "wse-3/llama-3.1-70b/bf16/tp1");
        Assert.Equal(PriceKind.PerToken, wseLlama.PriceKind);
        var api = Catalog.GetHardware("wse-3").TokenPrices["llama-3.1-70b"];
        var requestsPerMonth = 200 * plan.Demand.InteractionsPerDeveloperHour * plan.Demand.WorkingHoursPerMonth;
        Assert.Equal(requestsPerMonth * ((plan.Demand.InputTokens * api.UsdPerMillionInputTokens) + (plan.Demand.OutputTokens * api.UsdPerMillionOutputTokens)) / 1e6 / 200, wseLlama.UsdPerDeveloperMonth!.Value, 9);
        Assert.Contains("litellm", wseLlama.PriceSource, StringComparison.Ordinal);
        Assert.Null(wseLlama.CapacityMargin); // the vendor sizes an API's fleet, not the buyer
        var wseQwen = Assert.Single(report.Candidates, c => c.Id == "wse-3/qwen2.5-coder-32b/bf16/tp1");
        Assert.Equal(PriceKind.None, wseQwen.PriceKind);
        Assert.Null(wseQwen.UsdPerDeveloperMonth);
        Assert.Contains("--price wse-3=", wseQwen.PriceSource, StringComparison.Ordinal);
        Assert.Contains("llama-3.1-70b", wseQwen.PriceSource, StringComparison.Ordinal);
        // Priced candidates that meet the SLO come first, cheapest first.
        var priced = report.Candidates.TakeWhile(c => c.UsdPerDeveloperMonth is not null && c.MeetsSlo).ToList();
        Assert.True(priced.Count >= 2);
        Assert.Equal(priced.OrderBy(c => c.UsdPerDeveloperMonth).Select(c => c.Id), priced.Select(c => c.Id));
    }

    [Fact]
    public void Evaluate_PriceOverride_CostsTheFleetPerDeveloperMonth()
    {
        var plan = Plan(200, H100Qwen);
        var report = ProcurementPlanner.Evaluate(Catalog, plan, ProcurementPlanner.ParsePriceOverrides(["h100-sxm=2.5"]));
        var c = Assert.Single(report.Candidates);
        Assert.Equal(PriceKind.DeviceHour, c.PriceKind);
        Assert.Equal("--price override", c.PriceSource);
        Assert.Equal(c.Devices * 2.5 * 730 / 200, c.UsdPerDeveloperMonth!.Value, 6);
        var tokensPerMonth = 200 * 12 * 160 * 128.0;
        Assert.Equal(c.UsdPerMonth!.Value / (tokensPerMonth / 1e6), c.UsdPerMillionOutputTokens!.Value, 6);
    }

    private static readonly Lazy<IReadOnlyList<ValidationResult>> Validation = new(() => ErrorBands.RunKnown(Catalog, ValidationRunner.Load(null)));

    [Fact]
    public void Evaluate_WithValidation_GivesEachCandidateItsFamilysHoldoutErrorAndSloMargin()
    {
        var plan = Plan(200, H100Qwen, new ProcurementCandidate { Hardware = "mi300x", Model = "qwen2.5-coder-32b", Precision = "fp8" }, new ProcurementCandidate { Hardware = "b200", Model = "qwen2.5-coder-32b", Precision = "fp8" });
        var report = ProcurementPlanner.Evaluate(Catalog, plan, validation: Validation.Value);

        // The bands are the validation page's holdout rows of each family, computed apart here from the same results.
        foreach (var c in report.Candidates.Where(c => c.Hardware != "b200"))
        {
            var rows = Validation.Value.Where(v => v.Row.Holdout && v.Family == c.Family).ToList();
            Assert.NotEmpty(rows);
            var band = Assert.IsType<SimulatorErrorBand>(c.FamilyError);
            Assert.Equal(rows.Count, band.Rows);
            Assert.Equal(ValidationRunner.MedianAbsoluteError(rows), band.MedianAbsoluteError, 12);
            Assert.Equal(rows.Max(r => r.Ratio), band.WorstRatio, 12);
            Assert.Contains(rows, r => r.Row.Id == band.WorstRow);
            // Calibration rows never enter a band.
            Assert.DoesNotContain(Validation.Value, v => !v.Row.Holdout && v.Row.Id == band.WorstRow);
            // The margin is the tightest bounded SLO at the operating point.
            Assert.True(c.MeetsSlo);
            Assert.Equal(Math.Min(1000 / c.TtftP99Ms, 50 / c.TpotP99Ms), c.SloMargin, 9);
            Assert.Equal(1000 / c.TtftP99Ms, c.TtftMargin!.Value, 9);
            Assert.Equal(50 / c.TpotP99Ms, c.TpotMargin!.Value, 9);
            Assert.Null(c.AnswerMargin);
            // Each latency's bound: at least the worst holdout row measuring it under load, in this family or (where it has
            // none there) any family.
            // TPOT reads rows of dense models (every candidate here is dense) wherever a group has any.
            foreach (var (latency, bound) in new[] { ("ttft", c.TtftErrorBound), ("tpot", c.TpotErrorBound) })
            {
                List<ValidationResult> Kind(IEnumerable<ValidationResult> group)
                {
                    var all = group.ToList();
                    var dense = all.Where(r => latency != "tpot" || !r.MixtureOfExperts).ToList();
                    return dense.Count > 0 ? dense : all;
                }

                var underLoadRows = Kind(rows.Where(r => ErrorBands.MeasureOf(r) == latency && r.Regime == ErrorBands.LatencyUnderLoad));
                var reference = underLoadRows.Count > 0 ? underLoadRows : Kind(Validation.Value.Where(r => r.Row.Holdout && ErrorBands.MeasureOf(r) == latency && r.Regime == ErrorBands.LatencyUnderLoad));
                Assert.Equal(Math.Max(reference.Max(r => r.Ratio), Kind(rows.Where(r => ErrorBands.MeasureOf(r) == latency)).Select(r => r.Ratio).DefaultIfEmpty(0).Max()), bound!.Value, 12);
            }

            // Capacity: a replica with k× less capacity runs at k× the utilisation; its bound is the saturated-throughput rows'.
            Assert.Equal(1 / c.Utilisation, c.CapacityMargin!.Value, 9);
            var saturated = rows.Where(r => ErrorBands.MeasureOf(r) == "throughput").ToList();
            var throughputRows = saturated.Count > 0 ? saturated : [.. Validation.Value.Where(r => r.Row.Holdout && ErrorBands.MeasureOf(r) == "throughput")];
            Assert.Equal(throughputRows.Max(r => r.Ratio), c.ThroughputErrorBound!.Value, 12);

            Assert.Equal(c.TtftMargin >= c.TtftErrorBound && c.TpotMargin >= c.TpotErrorBound && c.CapacityMargin >= c.ThroughputErrorBound, c.MarginCoversError);
        }

        // The MI300X has no first-token row of its own: its TTFT bound is every family's worst under load.
        var mi = Assert.Single(report.Candidates, c => c.Hardware == "mi300x");
        Assert.Equal(Validation.Value.Where(r => r.Row.Holdout && ErrorBands.MeasureOf(r) == "ttft" && r.Regime == ErrorBands.LatencyUnderLoad).Max(r => r.Ratio), mi.TtftErrorBound!.Value, 12);

        // A family with no holdout row has no band: its error is unknown, not zero.
        var b200 = Assert.Single(report.Candidates, c => c.Hardware == "b200");
        Assert.Equal("nvidia-blackwell", b200.Family);
        Assert.Null(b200.FamilyError);
        Assert.Null(b200.TtftErrorBound);
        Assert.Null(b200.MarginCoversError);
        var underLoad = Assert.IsType<SimulatorErrorBand>(report.UnderLoadError);
        Assert.Equal(Validation.Value.Count(v => v.Row.Holdout && v.Regime == ErrorBands.LatencyUnderLoad), underLoad.Rows);
        Assert.Contains(" Trust: ", report.Verdict, StringComparison.Ordinal);
    }

    [Fact]
    public void Trust_NamesTheLatencyToMeasure_AndTheCheapestCandidateWhoseMarginsCoverTheirErrors()
    {
        var band = new SimulatorErrorBand { Group = "fam", Rows = 5, MedianAbsoluteError = 0.1, WorstRatio = 1.2, WorstRow = "r" };
        var pick = new CandidateResult
        {
            Id = "x", Hardware = "h", HardwareName = "H", Model = "m", ModelName = "M", Precision = "fp8", PassRateSource = "s",
            MeetsSlo = true, Family = "fam", FamilyError = band, TtftMargin = 2.0, TpotMargin = 3.0, TtftErrorBound = 3.0, TpotErrorBound = 1.2,
        };
        Assert.False(pick.MarginCoversError);
        var robust = pick with { Id = "y", TtftMargin = 4.0, UsdPerDeveloperMonth = 11 };
        Assert.True(robust.MarginCoversError);
        var text = ProcurementPlanner.Trust(pick, robust);
        Assert.Contains("p99 TTFT 2.00× and p99 TPOT 3.00× longer would still meet the SLOs", text, StringComparison.Ordinal);
        Assert.Contains("is TTFT 3.00×, TPOT 1.20×;", text, StringComparison.Ordinal);
        Assert.Contains("TTFT is not covered, so measure it under load (spark-eval run --sweep)", text, StringComparison.Ordinal);
        Assert.Contains("the cheapest candidate whose margins cover their errors is y (11 USD", text, StringComparison.Ordinal);
        Assert.Contains("every margin covers its error.", ProcurementPlanner.Trust(robust, null), StringComparison.Ordinal);

        // A bounded answer time must cover the larger of the two errors; an unknown bound leaves coverage unknown.
        Assert.False((robust with { AnswerMargin = 2.5 }).MarginCoversError);
        Assert.True((robust with { AnswerMargin = 3.5 }).MarginCoversError);
        Assert.Null((robust with { TpotErrorBound = null }).MarginCoversError);

        // Capacity counts too: at 80 % utilisation a throughput error of 1.3× would leave the fleet short.
        var tight = robust with { Utilisation = 0.8, CapacityMargin = 1.25, ThroughputErrorBound = 1.3 };
        Assert.False(tight.MarginCoversError);
        var tightText = ProcurementPlanner.Trust(tight, null);
        Assert.Contains("a replica with 1.25× less capacity would still carry the demand (utilisation 80 %)", tightText, StringComparison.Ordinal);
        Assert.Contains("throughput 1.30×", tightText, StringComparison.Ordinal);
        Assert.Contains("throughput is not covered", tightText, StringComparison.Ordinal);
        Assert.StartsWith(" Trust: no latency has an SLO bound, and a replica", ProcurementPlanner.Trust(tight with { TtftMargin = null, TpotMargin = null }, null), StringComparison.Ordinal);
        Assert.Contains("error there is unknown", ProcurementPlanner.Trust(pick with { FamilyError = null }, null), StringComparison.Ordinal);
    }

    [Fact]
    public void SloMargin_IsTheTightestBoundedLatency_AndZeroWhenMissed()
    {
        var r = new CandidateResult
        {
            Id = "x", Hardware = "h", HardwareName = "H", Model = "m", ModelName = "M", Precision = "fp8", PassRateSource = "s",
            MeetsSlo = true, TtftP99Ms = 250, TpotP99Ms = 10, AnswerP99Ms = 4000,
        };
        CandidateResult With(CandidateResult c, ProcurementSlo slo)
        {
            var (ttft, tpot, answer) = ProcurementPlanner.Margins(c, slo);
            return c with { TtftMargin = ttft, TpotMargin = tpot, AnswerMargin = answer };
        }

        var both = With(r, new ProcurementSlo { TtftP99Ms = 1000, TpotP99Ms = 50 });
        Assert.Equal(4.0, both.TtftMargin!.Value, 12);
        Assert.Equal(5.0, both.TpotMargin!.Value, 12);
        Assert.Null(both.AnswerMargin);
        Assert.Equal(4.0, both.SloMargin, 12);
        Assert.Equal(2.5, With(r, new ProcurementSlo { TtftP99Ms = 1000, TpotP99Ms = 50, AnswerP99Ms = 10000 }).SloMargin, 12);
        Assert.Equal(5.0, With(r, new ProcurementSlo { TtftP99Ms = null, TpotP99Ms = 50 }).SloMargin, 12);
        Assert.Equal(0, With(r with { MeetsSlo = false }, new ProcurementSlo()).SloMargin);
    }

    [Fact]
    public void RunKnown_SkipsRowsWhoseHardwareTheProfilesLack()
    {
        var only = new ProfileCatalog(Catalog.Hardware.Where(h => h.Id == "mi300x"), Catalog.Models, "test");
        var file = ValidationRunner.Load(null);
        var results = ErrorBands.RunKnown(only, file);
        Assert.NotEmpty(results);
        Assert.All(results, r => Assert.Equal("mi300x", r.Row.Hardware));
        Assert.Equal(file.Rows.Count(r => r.Hardware == "mi300x"), results.Count);

        // A profile too small for a row's model skips that row instead of failing the report.
        var tiny = Catalog.GetHardware("mi300x") with { MemoryGB = 20 };
        var small = ErrorBands.RunKnown(new ProfileCatalog([tiny], Catalog.Models, "test"), file);
        Assert.True(small.Count < results.Count);
        Assert.All(small, r => Assert.True(double.IsFinite(r.Predicted)));
    }

    [Fact]
    public void EveryProfile_HasADeviceHourOrATokenPrice()
    {
        // Issue #20 item 3: prices for every profile, each with its source (the loader refuses a price without one).
        // cpu-local* profiles are this machine, calibrated by `spark-eval calibrate`: nothing to buy or rent.
        Assert.All(Catalog.Hardware.Where(h => !h.Id.StartsWith("cpu-local", StringComparison.Ordinal)), h =>
        {
            Assert.True(h.PricePerDeviceHour > 0 || h.TokenPrices.Count > 0, $"{h.Id} has no price");
            Assert.Contains(h.Sources, s => s.Field == (h.PricePerDeviceHour > 0 ? "pricePerDeviceHour" : "tokenPrices"));
        });
    }

    [Fact]
    public void Evaluate_ProfileTokenPrice_YieldsToAPlanTokenPriceAndToADeviceHourOverride()
    {
        var candidate = new ProcurementCandidate { Hardware = "groq-lpu", Model = "llama-3.1-8b", Precision = "fp8" };
        var fromProfile = Assert.Single(ProcurementPlanner.Evaluate(Catalog, Plan(100, candidate)).Candidates);
        Assert.Equal(PriceKind.PerToken, fromProfile.PriceKind);
        var requestsPerMonth = 100 * 12 * 160.0;
        Assert.Equal(requestsPerMonth * ((1024 * 0.05) + (128 * 0.08)) / 1e6 / 100, fromProfile.UsdPerDeveloperMonth!.Value, 9);

        var plan = Plan(100, candidate) with
        {
            TokenPrices = [new TokenPrice { Hardware = "groq-lpu", Model = "llama-3.1-8b", UsdPerMillionInputTokens = 1, UsdPerMillionOutputTokens = 1, Source = "test", Date = "2026-12-07" }],
        };
        var fromPlan = Assert.Single(ProcurementPlanner.Evaluate(Catalog, plan).Candidates);
        Assert.Equal(requestsPerMonth * (1024 + 128) / 1e6 / 100, fromPlan.UsdPerDeveloperMonth!.Value, 9);

        var overridden = Assert.Single(ProcurementPlanner.Evaluate(Catalog, Plan(100, candidate), ProcurementPlanner.ParsePriceOverrides(["groq-lpu=1"])).Candidates);
        Assert.Equal(PriceKind.DeviceHour, overridden.PriceKind);
        Assert.Equal(overridden.Devices * 1.0 * 730 / 100, overridden.UsdPerDeveloperMonth!.Value, 6);
    }

    [Fact]
    public void Load_TokenPriceForAnUnknownModel_NamesTheFieldAndTheFix()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"profiles-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var root = Path.Combine(ProfileCatalogTests.RepoRoot, "hw-profiles");
            File.Copy(Path.Combine(root, "models.json"), Path.Combine(dir, "models.json"));
            File.WriteAllText(Path.Combine(dir, "hardware.json"), File.ReadAllText(Path.Combine(root, "hardware.json")).Replace("\"llama-3.1-8b\": {\n          \"usdPerMillionInputTokens\": 0.1", "\"no-such-model\": {\n          \"usdPerMillionInputTokens\": 0.1", StringComparison.Ordinal));
            var ex = Assert.Throws<InputException>(() => ProfileCatalog.Load(dir));
            Assert.Contains("tokenPrices.no-such-model", ex.Message, StringComparison.Ordinal);
            Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Evaluate_MoreDevelopers_NeedsMoreDevicesWithinTheSlo()
    {
        var small = Assert.Single(ProcurementPlanner.Evaluate(Catalog, Plan(50, H100Qwen)).Candidates);
        var large = Assert.Single(ProcurementPlanner.Evaluate(Catalog, Plan(5000, H100Qwen)).Candidates);
        Assert.True(small.MeetsSlo && large.MeetsSlo);
        Assert.True(large.Devices > small.Devices, $"{small.Devices} vs {large.Devices}");
        Assert.InRange(large.Utilisation, 0.01, 1.0);
        Assert.True(large.TtftP99Ms <= 1000 && large.TpotP99Ms <= 50, $"{large.TtftP99Ms} {large.TpotP99Ms}");
        Assert.True(large.ShareInFlow >= 0.9);
    }

    [Fact]
    public void Evaluate_UnreachableSlo_NoCandidateAndSaysSo()
    {
        var plan = Plan(200, H100Qwen) with { Slo = new ProcurementSlo { TtftP99Ms = 1 } };
        var report = ProcurementPlanner.Evaluate(Catalog, plan);
        var c = Assert.Single(report.Candidates);
        Assert.False(c.MeetsSlo);
        Assert.Equal(0, c.Devices);
        Assert.Null(report.Recommended);
        Assert.StartsWith("No candidate meets the SLOs", report.Verdict, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_ModelTooLargeForTheDevice_IsReportedNotThrown()
    {
        var plan = Plan(10, new ProcurementCandidate { Hardware = "l4", Model = "llama-3.1-70b", Precision = "bf16" });
        var c = Assert.Single(ProcurementPlanner.Evaluate(Catalog, plan).Candidates);
        Assert.False(c.Fits);
        Assert.False(string.IsNullOrEmpty(c.Problem));
    }

    [Fact]
    public void Evaluate_TokenPrice_CostsPerToken()
    {
        var plan = Plan(100, new ProcurementCandidate { Hardware = "wse-3", Model = "llama-3.1-8b", Precision = "bf16" }) with
        {
            TokenPrices = [new TokenPrice { Hardware = "wse-3", Model = "llama-3.1-8b", UsdPerMillionInputTokens = 0.1, UsdPerMillionOutputTokens = 0.1, Source = "test", Date = "2026-12-06" }],
        };
        var c = Assert.Single(ProcurementPlanner.Evaluate(Catalog, plan).Candidates);
        Assert.Equal(PriceKind.PerToken, c.PriceKind);
        var requestsPerMonth = 100 * 12 * 160.0;
        Assert.Equal(requestsPerMonth * (1024 + 128) * 0.1 / 1e6 / 100, c.UsdPerDeveloperMonth!.Value, 9);
    }

    [Theory]
    [InlineData("{\"formatVersion\": 2, \"developers\": 1, \"candidates\": [{\"hardware\": \"h100-sxm\", \"model\": \"llama-3.1-8b\"}]}", "formatVersion")]
    [InlineData("{\"formatVersion\": 1, \"developers\": 0, \"candidates\": [{\"hardware\": \"h100-sxm\", \"model\": \"llama-3.1-8b\"}]}", "developers")]
    [InlineData("{\"formatVersion\": 1, \"developers\": 5, \"candidates\": []}", "candidates")]
    [InlineData("{\"formatVersion\": 1, \"developers\": 5, \"candidatez\": []}", "candidatez")]
    [InlineData("{\"formatVersion\": 1, \"developers\": 5, \"slo\": {\"minShareInFlow\": 2}, \"candidates\": [{\"hardware\": \"h100-sxm\", \"model\": \"llama-3.1-8b\"}]}", "slo.minShareInFlow")]
    [InlineData("{\"formatVersion\": 1, \"developers\": 5, \"candidates\": [{\"hardware\": \"wse-3\", \"model\": \"llama-3.1-8b\", \"latencyBackend\": \"cerebras\"}]}", "candidates[0].latencyBackend")]
    public void Load_BadPlan_NamesFileFieldAndFix(string json, string field)
    {
        var path = Path.Combine(Path.GetTempPath(), $"plan-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try
        {
            var ex = Assert.Throws<InputException>(() => ProcurementPlanner.Load(path));
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Contains(field, ex.Message, StringComparison.Ordinal);
            Assert.Contains("Fix", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("h100-sxm")]
    [InlineData("h100-sxm=abc")]
    [InlineData("h100-sxm=-1")]
    public void ParsePriceOverrides_Bad_ThrowsWithFix(string value)
    {
        var ex = Assert.Throws<InputException>(() => ProcurementPlanner.ParsePriceOverrides([value]));
        Assert.Contains("hw=USD", ex.Message.Replace("hardware=USD", "hw=USD", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_PriceForUnknownHardware_NamesTheKnownOnes()
    {
        var ex = Assert.Throws<InputException>(() => ProcurementPlanner.Evaluate(Catalog, Plan(10, H100Qwen), ProcurementPlanner.ParsePriceOverrides(["h999=1"])));
        Assert.Contains("--price", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("user_tps", 1, "single-stream decode")]
    [InlineData("itl_ms", 1, "single-stream decode")]
    [InlineData("output_tps", 1, "single-stream decode")]
    [InlineData("ttft_ms", 1, "batch-1 prefill")]
    [InlineData("ttft_ms", 25, "latency under load")]
    [InlineData("itl_ms", 50, "latency under load")]
    [InlineData("output_tps", 3000, "saturated throughput")]
    public void ValidationResult_Regime_FollowsMetricAndConcurrency(string metric, int concurrency, string regime)
    {
        var row = new ValidationRow { Id = "x", Source = "s", Quote = "q", Hardware = "h100-sxm", Model = "m", Precision = "fp8", Metric = metric, Concurrency = concurrency, Value = 1 };
        Assert.Equal(regime, new ValidationResult(row, 1).Regime);
    }

    /// <summary>
    /// A run directory of attempts against one endpoint: TTFT, then answer tokens at a fixed TPOT (the events a backend
    /// records), plus <paramref name="failed"/> attempts that errored.
    /// </summary>
    private static string MeasuredRun(string backend, IReadOnlyList<long> ttftMs, long tpotMs, int answerTokens, int failed = 0, bool simulated = false)
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", $"measured-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var lines = new List<byte>();
        var sequence = 0;
        AttemptRecord Attempt(int repeat, IReadOnlyList<StreamEvent> events, AttemptStatus status, bool warmup = false) => new()
        {
            Sequence = sequence++,
            Slot = new SlotKey("t", backend, repeat, warmup),
            Events = events,
            Outcome = new AttemptOutcome(status),
            Answer = status == AttemptStatus.Ok ? "x" : "",
            Tokens = new TokenCounts { OutputTokenizer = status == AttemptStatus.Ok ? answerTokens : 0, InputTokenizer = 300, Tokenizer = "test" },
            Simulated = simulated,
        };
        List<StreamEvent> Stream(long ttft) => [new(0, StreamEventKind.RequestStart), new(ttft * 1000, StreamEventKind.Content, 1), new((ttft + ((answerTokens - 1) * tpotMs)) * 1000, StreamEventKind.End)];
        // A warm-up far slower than every measured attempt: it must not count.
        lines.AddRange(AttemptLog.Line(Attempt(0, Stream(60_000), AttemptStatus.Ok, warmup: true)));
        for (var i = 0; i < ttftMs.Count; i++)
        {
            lines.AddRange(AttemptLog.Line(Attempt(i, Stream(ttftMs[i]), AttemptStatus.Ok)));
        }

        for (var i = 0; i < failed; i++)
        {
            lines.AddRange(AttemptLog.Line(Attempt(ttftMs.Count + i, [new(0, StreamEventKind.RequestStart), new(3_000_000, StreamEventKind.End)], AttemptStatus.Error)));
        }

        File.WriteAllBytes(Path.Combine(dir, AttemptLog.FileName), [.. lines]);
        return dir;
    }

    private static ProcurementCandidate Wse3Llama8b(string? run = null, string? backend = null) => new() { Hardware = "wse-3", Model = "llama-3.1-8b", Precision = "bf16", LatencyRunDirectory = run, LatencyBackend = backend };

    [Fact]
    public void Evaluate_MeasuredApiLatency_ReplacesTheSimulatedOperatingPoint_AndNeedsNoSimulatorError()
    {
        // 9 answers at 300 ms to the first token and one at 900 ms, 20 ms per token after it, one failed attempt.
        var run = MeasuredRun("cerebras", [300, 300, 300, 300, 300, 300, 300, 300, 300, 900], tpotMs: 20, answerTokens: 51, failed: 1);
        var simulated = Assert.Single(ProcurementPlanner.Evaluate(Catalog, Plan(50, Wse3Llama8b()), validation: Validation.Value).Candidates);
        var report = ProcurementPlanner.Evaluate(Catalog, Plan(50, Wse3Llama8b(run)), validation: Validation.Value);
        var c = Assert.Single(report.Candidates);

        Assert.False(simulated.LatencyMeasured);
        Assert.True(simulated.TtftP99Ms < 100, $"the simulated WSE-3 TTFT excludes the internet and the vendor's front end: {simulated.TtftP99Ms} ms");
        Assert.True(c.LatencyMeasured);
        Assert.Equal(10, c.LatencyAttempts);
        Assert.InRange(c.TtftP99Ms, 800, 900);
        Assert.Equal(20, c.TpotP99Ms, 6);
        // The plan's 128-token answer at the measured pace, not the run's 51 tokens: 900 + 127 × 20 at the tail.
        Assert.InRange(c.AnswerP99Ms, 300 + (127 * 20), 900 + (127 * 20));
        Assert.Equal(10.0 / 11, c.ShareInFlow, 9);
        Assert.True(c.MeetsSlo);
        Assert.Equal(1.0, c.TtftErrorBound);
        Assert.True(c.MarginCoversError);
        Assert.Empty(c.Curve);
        Assert.Contains("1 failed", c.LatencySource, StringComparison.Ordinal);
        Assert.Contains("MEASURED latency", report.Verdict, StringComparison.Ordinal);
        Assert.Contains("its latencies come from a run against the endpoint", report.Verdict, StringComparison.Ordinal);
        Assert.False(c.LatencyRunSimulated);

        // A run against a simulated backend (serve-sim, hwsim) is read the same way but never called a measurement.
        var modelled = ProcurementPlanner.Evaluate(Catalog, Plan(50, Wse3Llama8b(MeasuredRun("sim", [300, 300], tpotMs: 20, answerTokens: 51, simulated: true))));
        Assert.True(Assert.Single(modelled.Candidates).LatencyRunSimulated);
        Assert.Contains("SIMULATED latency, from a run against a simulated endpoint", modelled.Verdict, StringComparison.Ordinal);
        Assert.DoesNotContain("MEASURED", modelled.Verdict, StringComparison.Ordinal);

        // Slower than the SLO once measured: the candidate no longer meets it, although the simulator said it would.
        var slow = MeasuredRun("cerebras", [1500, 1600, 1700], tpotMs: 20, answerTokens: 51);
        var missed = Assert.Single(ProcurementPlanner.Evaluate(Catalog, Plan(50, Wse3Llama8b(slow))).Candidates);
        Assert.True(simulated.MeetsSlo);
        Assert.False(missed.MeetsSlo);
    }

    [Fact]
    public void Evaluate_MeasuredLatency_RefusedForAFleetOfYourOwn_AndNamesTheBackendToPick()
    {
        var run = MeasuredRun("a", [300, 300], tpotMs: 20, answerTokens: 51);
        var own = Assert.Throws<InputException>(() => ProcurementPlanner.Evaluate(Catalog, Plan(50, H100Qwen with { LatencyRunDirectory = run })));
        Assert.Contains("candidates[0].latencyRunDirectory", own.Message, StringComparison.Ordinal);
        Assert.Contains("give it as sweepRunDirectory instead", own.Message, StringComparison.Ordinal);

        File.AppendAllText(Path.Combine(run, AttemptLog.FileName), File.ReadAllText(Path.Combine(MeasuredRun("b", [300], 20, 51), AttemptLog.FileName)));
        var two = Assert.Throws<InputException>(() => ProcurementPlanner.Evaluate(Catalog, Plan(50, Wse3Llama8b(run))));
        Assert.Contains("candidates[0].latencyBackend", two.Message, StringComparison.Ordinal);
        Assert.Contains("a, b", two.Message, StringComparison.Ordinal);
        Assert.Equal(2, Assert.Single(ProcurementPlanner.Evaluate(Catalog, Plan(50, Wse3Llama8b(run, "a"))).Candidates).LatencyAttempts);
        var missing = Assert.Throws<InputException>(() => ProcurementPlanner.Evaluate(Catalog, Plan(50, Wse3Llama8b(Path.Combine(run, "nope")))));
        Assert.Contains("not found", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_RunDirectoriesRelativeToThePlan_AreReadFromThePlansFolder()
    {
        var run = MeasuredRun("api", [300, 320], tpotMs: 20, answerTokens: 51);
        var plans = Path.Combine(Path.GetDirectoryName(run)!, $"plans-{Guid.NewGuid():N}");
        Directory.CreateDirectory(plans);
        var plan = Path.Combine(plans, "plan.json");
        File.WriteAllText(plan, "{\"formatVersion\": 1, \"developers\": 5, \"candidates\": [{\"hardware\": \"wse-3\", \"model\": \"llama-3.1-8b\", \"precision\": \"bf16\", " +
            $"\"latencyRunDirectory\": \"../{Path.GetFileName(run)}\"}}, {{\"hardware\": \"wse-3\", \"model\": \"llama-3.1-8b\", \"precision\": \"bf16\", \"latencyRunDirectory\": {System.Text.Json.JsonSerializer.Serialize(run)}}}]}}");

        var loaded = ProcurementPlanner.Load(plan);

        Assert.All(loaded.Candidates, c => Assert.Equal(Path.GetFullPath(run), c.LatencyRunDirectory));
        Assert.All(ProcurementPlanner.Evaluate(Catalog, loaded).Candidates, c => Assert.Equal(2, c.LatencyAttempts));
    }
}
