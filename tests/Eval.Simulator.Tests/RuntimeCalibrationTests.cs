using Spark.Eval.Backends.Local.Gguf;
using Spark.Eval.Cli;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Tests;

public class RuntimeCalibrationTests
{
    private static readonly RuntimeKernels Kernels = RuntimeKernels.LlamaCpp("avx512");

    private static HardwareProfile KnownCpu() => new()
    {
        Id = "known-cpu",
        Name = "CPU with known runtime costs",
        Family = "cpu",
        MemoryGB = 32,
        MemoryBandwidthGBps = 40,
        BandwidthEfficiency = 0.85,
        ComputeEfficiency = 1,
        PeakTflops = new Dictionary<string, double> { ["bf16"] = 0.060, ["q8_0"] = 0.090 },
        WeightReadGBps = new Dictionary<string, double> { ["bf16"] = 25, ["q8_0"] = 18 },
        StepOverheadMs = 0.2,
        LayerOverheadUs = 10,
        DecodeContextNs = 20,
        DecodeScalarElementNs = 1.5,
        F16VectorElements = 64,
        KvPadTokens = 256,
        DecodeSplitKvTokens = 512,
        PrefillPairNs = 1.5,
        PrefillElementNs = 5,
        RequestOverheadMs = 0.3,
        Threads = 2,
    };

    [Fact]
    public void Fit_SamplesPredictedByAKnownProfile_RecoversEveryConstant()
    {
        // Samples are what the latency model predicts for the calibration shapes under known constants; the fit,
        // which knows only shapes, timings and the read bandwidth, must find the same constants again.
        var known = KnownCpu();
        var samples = new List<RuntimeSample>();
        foreach (var (name, shape) in SimulatorCommands.CalibrationShapes)
        {
            foreach (var precision in new[] { "bf16", "q8_0" })
            {
                var profile = SimulatorCommands.GeneratedProfile(name, shape, precision);
                var latency = new LatencyModel(known, profile, Precision.Find(precision)!, 1);
                foreach (var prompt in SimulatorCommands.CalibrationPromptTokens)
                {
                    var m = new LocalMeasurement(name, name, precision, 2, prompt, SimulatorCommands.CalibrationDecodeTokens, 1, 0, 0);
                    var rows = LocalValidation.Rows(latency, m).ToList();
                    samples.Add(new RuntimeSample(profile, precision, 2, prompt, SimulatorCommands.CalibrationDecodeTokens, rows[0].Predicted, rows[1].Predicted));
                }
            }
        }

        var fit = Assert.Single(RuntimeCalibration.Fit(samples, known.MemoryBandwidthGBps, known.BandwidthEfficiency, Kernels));

        Assert.Equal(2, fit.Threads);
        Assert.Equal(0.2, fit.StepOverheadMs, 3);
        Assert.Equal(10, fit.LayerOverheadUs, 2);
        Assert.Equal(20, fit.DecodeContextNs, 2);
        Assert.Equal(1.5, fit.DecodeScalarElementNs, 3);
        Assert.Equal(1.5, fit.PrefillPairNs, 2);
        Assert.Equal(5, fit.PrefillElementNs, 2);
        Assert.Equal(0.3, fit.RequestOverheadMs, 3);
        Assert.Equal(25, fit.WeightReadGBps["bf16"], 2);
        Assert.Equal(18, fit.WeightReadGBps["q8_0"], 2);
        Assert.Equal(60, fit.PrefillGflops["bf16"], 1);
        Assert.Equal(90, fit.PrefillGflops["q8_0"], 1);
        Assert.True(fit.DecodeFitMedianError < 1e-6 && fit.PrefillFitMedianError < 1e-6, $"residuals {fit.DecodeFitMedianError}, {fit.PrefillFitMedianError}");
    }

    [Fact]
    public void CalibrationShapes_OneHeadDimensionLeavesAScalarRemainder_NoneIsAValidationShape()
    {
        // The scalar-element cost is identifiable only if some calibration model's head dimension leaves a remainder
        // after llama.cpp's F16 blocks (64 on AVX-512, 32 on AVX2) while others do not; validation shapes stay unseen.
        var headDims = SimulatorCommands.CalibrationShapes.Select(c => c.Shape.HeadDimension).ToList();
        Assert.Contains(headDims, d => d % 64 != 0 && d % 32 != 0);
        Assert.Contains(headDims, d => d % 64 == 0);
        TestModelShape[] validation = [TestModelShape.Tiny, TestModelShape.Small, SimulatorCommands.MidShape];
        Assert.DoesNotContain(SimulatorCommands.CalibrationShapes, c => validation.Contains(c.Shape));
    }

    [Fact]
    public void ToProfile_WithFits_WritesOneProfilePerThreadCountThatTheCatalogAccepts()
    {
        var m = new HostMeasurement(40, 30, 32, 2, "test machine");
        var fits = new[]
        {
            new RuntimeFit(1, 0.1, 5, 10, 1.2, 1, 2, 0.2, new Dictionary<string, double> { ["bf16"] = 20, ["q8_0"] = 15 }, new Dictionary<string, double> { ["bf16"] = 50, ["q8_0"] = 80 }, 12, 0.05, 0.08, "cal", Kernels),
            new RuntimeFit(2, 0.1, 8, 12, 1.4, 1, 3, 0.2, new Dictionary<string, double> { ["bf16"] = 30, ["q8_0"] = 25 }, new Dictionary<string, double> { ["bf16"] = 90, ["q8_0"] = 150 }, 12, 0.04, 0.07, "cal", Kernels),
        };

        var file = HostCalibrator.ToProfile(m, new DateTimeOffset(2026, 11, 25, 2, 0, 0, TimeSpan.Zero), fits);
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(file, SimulatorJsonContext.Default.HardwareFile);
        var parsed = ProfileCatalog.ParseHardware("cpu-local.json", json);

        Assert.Equal(["cpu-local", "cpu-local-t1", "cpu-local-t2"], parsed.Select(h => h.Id));
        Assert.Equal(2, parsed[0].Threads);
        Assert.Equal(0.150, parsed[0].PeakTflopsFor(Precision.Find("q8_0")!), 6);
        Assert.Equal(15, parsed[1].WeightReadGBps["q8_0"]);
        Assert.Equal(1.4, parsed[0].DecodeScalarElementNs);
        Assert.Equal((64, 256, 512), (parsed[2].F16VectorElements, parsed[2].KvPadTokens, parsed[2].DecodeSplitKvTokens));
    }
}
