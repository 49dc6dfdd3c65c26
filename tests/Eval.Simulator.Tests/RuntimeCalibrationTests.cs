using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

public class RuntimeCalibrationTests
{
    private static readonly RuntimeKernels Kernels = RuntimeKernels.LlamaCpp("avx512");

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
