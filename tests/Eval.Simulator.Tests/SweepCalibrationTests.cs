using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;
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

    private static double Predict(ProfileCatalog catalog, string metric, double load, bool open = false) => ValidationRunner.Predict(catalog, new ValidationRow
    {
        Id = "p", Source = "s", Quote = "q", Hardware = "test-gpu", Model = "test-1b", Precision = "bf16", Concurrency = open ? 1 : (int)load,
        RequestRate = open ? load : null, InputTokens = 400, OutputTokens = 100, Metric = metric,
    });

    private static string WriteSweep(string key, double[] loads, Func<double, (double Ttft, double Tpot)> figures)
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
                MeanInputTokens = 400, MeanOutputTokens = 100,
            })],
        };
        File.WriteAllText(Path.Combine(dir, SweepReport.FileName), JsonSerializer.Serialize(report, CoreJsonContext.Default.SweepReport));
        return dir;
    }
}
