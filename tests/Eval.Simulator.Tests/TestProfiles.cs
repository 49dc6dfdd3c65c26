using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

/// <summary>Small hand-checkable profiles: round numbers so expected values can be computed by hand.</summary>
internal static class TestProfiles
{
    public static HardwareProfile Gpu(double tflops = 100, double gbps = 1000, double memoryGB = 20, double stepMs = 0, double requestMs = 0) => new()
    {
        Id = "test-gpu",
        Name = "Test GPU",
        Family = "test",
        MemoryGB = memoryGB,
        MemoryBandwidthGBps = gbps,
        PeakTflops = new Dictionary<string, double> { ["bf16"] = tflops },
        ComputeEfficiency = 1,
        BandwidthEfficiency = 1,
        MemoryUtilization = 1,
        StepOverheadMs = stepMs,
        RequestOverheadMs = requestMs,
        InterconnectGBps = 100,
        AllReduceLatencyUs = 10,
        MaxBatch = 64,
        MaxStepTokens = 4096,
    };

    public static HardwareProfile Sram() => new()
    {
        Id = "test-sram",
        Name = "Test SRAM chip",
        Family = "test",
        Architecture = DeviceArchitecture.SramPipeline,
        MemoryGB = 1,
        MemoryBandwidthGBps = 1_000_000,
        PeakTflops = new Dictionary<string, double> { ["bf16"] = 1000 },
        ComputeEfficiency = 1,
        BandwidthEfficiency = 1,
        MemoryUtilization = 1,
        LayerLatencyUs = 10,
        DeviceHopMs = 0.5,
        MaxBatch = 16,
    };

    /// <summary>1 B parameters, 10 layers, width 1000, 2 KV heads of 100: 2·10·2·100·2 = 8000 KV bytes per token at bf16.</summary>
    public static ModelProfile Dense(double capability = 0.5) => new()
    {
        Id = "test-1b",
        Name = "Test 1B",
        ParametersB = 1,
        ActiveParametersB = 1,
        Layers = 10,
        HiddenSize = 1000,
        AttentionHeads = 10,
        KvHeads = 2,
        HeadDim = 100,
        Capability = capability,
    };

    public static ModelProfile Moe() => Dense() with
    {
        Id = "test-moe",
        ParametersB = 8,
        ActiveParametersB = 2,
        Experts = 8,
        ExpertsPerToken = 2,
        ExpertParametersB = 8 * 0.875,
    };

    public static Precision Bf16 => Precision.Find("bf16")!;
}
