using Spark.Eval.Core;
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
        // WSE-3 has no sourced device-hour price: it is not costed, and says how to cost it.
        Assert.All(report.Candidates.Where(c => c.Hardware == "wse-3"), c =>
        {
            Assert.Equal(PriceKind.None, c.PriceKind);
            Assert.Null(c.UsdPerDeveloperMonth);
            Assert.Contains("--price wse-3=", c.PriceSource, StringComparison.Ordinal);
        });
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
}
