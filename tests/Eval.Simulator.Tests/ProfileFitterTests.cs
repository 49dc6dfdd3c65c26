using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

public class ProfileFitterTests
{
    private static ValidationRow Row(string id, double value, bool holdout) => new()
    {
        Id = id, Source = "s", Quote = "q", Hardware = "test-gpu", Model = "test-1b", Precision = "bf16", Metric = "ttft_ms",
        Requests = 1, InputTokens = 1000, OutputTokens = 1, Value = value, Holdout = holdout,
    };

    [Fact]
    public void Fit_RecoversTheRequestOverheadOfItsRows_AndNeverReadsHoldoutRows()
    {
        var hw = TestProfiles.Gpu(requestMs: 5);
        var catalog = new ProfileCatalog([hw], [TestProfiles.Dense()], "test");
        var truth = ValidationRunner.Predict(new ProfileCatalog([hw with { RequestOverheadMs = 40 }], [TestProfiles.Dense()], "test"), Row("x", 1, false));
        // The holdout row says the overhead is huge; a fit that read it would move away from 40 ms.
        var file = new ValidationFile { FormatVersion = 1, Rows = [Row("fit", truth, holdout: false), Row("held", truth * 50, holdout: true)] };

        var fit = ProfileFitter.Fit(catalog, file, hw.Id, ["requestOverheadMs"]);

        Assert.Single(fit.Rows);
        Assert.Equal("fit", fit.Rows[0].Row.Id);
        Assert.InRange(fit.Constants[0].Value, 39.5, 40.5);
    }

    [Fact]
    public void Fit_RecoversTheMoeLayerOverheadOfAnMoeDecodeRow()
    {
        var hw = TestProfiles.Gpu(memoryGB: 40);
        var models = new[] { TestProfiles.Moe() };
        var row = Row("moe", 1, false) with { Model = "test-moe", Metric = "itl_ms", Concurrency = 4, Requests = 40, InputTokens = 200, OutputTokens = 100 };
        var truth = ValidationRunner.Predict(new ProfileCatalog([hw with { MoeLayerOverheadUs = 120 }], models, "test"), row);
        var file = new ValidationFile { FormatVersion = 1, Rows = [row with { Value = truth }] };

        var fit = ProfileFitter.Fit(new ProfileCatalog([hw], models, "test"), file, hw.Id, ["moeLayerOverheadUs"]);

        Assert.InRange(fit.Constants[0].Value, 118, 122);
        Assert.Equal(120, ProfileFitter.ValueOf(ProfileFitter.With(hw, "moeLayerOverheadUs", 120), "moeLayerOverheadUs"));
    }

    [Fact]
    public void Fit_RecoversTheKvGroupRereadFractionOfAGroupedQueryDecodeRow()
    {
        // A decode-heavy static batch of a grouped-query model (10 query heads per 2 KV heads) on a stack whose kernel reads K/V per query head.
        var hw = TestProfiles.Gpu(memoryGB: 40) with { KvReadPerQueryHead = true };
        var models = new[] { TestProfiles.Dense() };
        var row = Row("gqa", 1, false) with { Metric = "output_tps", Concurrency = 32, Requests = 32, InputTokens = 128, OutputTokens = 1024 };
        var truth = ValidationRunner.Predict(new ProfileCatalog([hw with { KvGroupRereadFraction = 0.4 }], models, "test"), row);
        var file = new ValidationFile { FormatVersion = 1, Rows = [row with { Value = truth }] };

        var fit = ProfileFitter.Fit(new ProfileCatalog([hw], models, "test"), file, hw.Id, ["kvGroupRereadFraction"]);

        Assert.InRange(fit.Constants[0].Value, 0.39, 0.41);
        Assert.Equal(0.4, ProfileFitter.ValueOf(ProfileFitter.With(hw, "kvGroupRereadFraction", 0.4), "kvGroupRereadFraction"));
    }

    [Fact]
    public void Fit_NoCalibrationRows_ExplainsTheFix()
    {
        var hw = TestProfiles.Gpu(requestMs: 5);
        var catalog = new ProfileCatalog([hw], [TestProfiles.Dense()], "test");
        var file = new ValidationFile { FormatVersion = 1, Rows = [Row("held", 10, holdout: true)] };
        var ex = Assert.Throws<Core.InputException>(() => ProfileFitter.Fit(catalog, file, hw.Id, ["requestOverheadMs"]));
        Assert.Contains("no calibration rows", ex.Message, StringComparison.Ordinal);
    }
}
