using Spark.Eval.Backends.Local.Gguf;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Cli.Tests;

/// <summary>The calibration models of <c>spark-eval calibrate</c> (Eval.Backends.Local's data, profiled by the command): the fit recovers known constants from them.</summary>
public class CalibrationDataTests
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
        foreach (var (name, shape) in CalibrationModels.CalibrationShapes)
        {
            foreach (var precision in new[] { "bf16", "q8_0" })
            {
                var profile = Spark.Eval.Cli.Commands.SimulateCommand.GeneratedProfile(name, shape, precision);
                var latency = new LatencyModel(known, profile, Precision.Find(precision)!, 1);
                foreach (var prompt in CalibrationModels.CalibrationPromptTokens)
                {
                    var m = new LocalMeasurement(name, name, precision, 2, prompt, CalibrationModels.CalibrationDecodeTokens, 1, 0, 0);
                    var rows = LocalValidation.Rows(latency, m).ToList();
                    samples.Add(new RuntimeSample(profile, precision, 2, prompt, CalibrationModels.CalibrationDecodeTokens, rows[0].Predicted, rows[1].Predicted));
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
        var headDims = CalibrationModels.CalibrationShapes.Select(c => c.Shape.HeadDimension).ToList();
        Assert.Contains(headDims, d => d % 64 != 0 && d % 32 != 0);
        Assert.Contains(headDims, d => d % 64 == 0);
        TestModelShape[] validation = [TestModelShape.Tiny, TestModelShape.Small, CalibrationModels.MidShape];
        Assert.DoesNotContain(CalibrationModels.CalibrationShapes, c => validation.Contains(c.Shape));
    }
}
