using Spark.Eval.Core;

namespace Spark.Eval.Simulator.Profiles;

/// <summary>
/// The serving engines a published row can be measured under (validation rows' <c>engine</c>, <c>simulate --engine</c>,
/// a hardware profile's <c>engineRequestOverheadMs</c> keys), and the profile as a request served by one of them sees it.
/// </summary>
public static class ServingEngines
{
    /// <summary>Known engine names, lower case.</summary>
    public static IReadOnlyList<string> Known { get; } = ["vllm", "sglang", "trtllm", "nim", "llama.cpp", "mlx", "tgi", "cerebras", "groq"];

    /// <summary>Whether <paramref name="engine"/> is one of <see cref="Known"/> (ordinal, lower case).</summary>
    public static bool IsKnown(string? engine) => engine is not null && Known.Contains(engine, StringComparer.Ordinal);

    /// <summary>
    /// The profile as a request served by <paramref name="engine"/> sees it: the engine's request overhead and per-sequence host
    /// time where the profile lists them, else the profile unchanged (its <c>requestOverheadMs</c>, no per-sequence host time);
    /// null engine: the profile's own <c>engine</c> if it names one, else the profile unchanged.
    /// <paramref name="field"/> names the input the engine came from, for the error on an unknown name.
    /// </summary>
    public static HardwareProfile Apply(HardwareProfile hardware, string? engine, string field = "--engine")
    {
        ArgumentNullException.ThrowIfNull(hardware);
        // A run that names no engine is served by the one the profile's constants describe, if it names one.
        engine ??= hardware.Engine;
        if (engine is null)
        {
            return hardware;
        }

        if (!IsKnown(engine))
        {
            throw new InputException($"{field}: '{engine}' is not a known serving engine. Fix: use one of: {string.Join(", ", Known)}");
        }

        var served = hardware.EngineRequestOverheadMs.TryGetValue(engine, out var ms) ? hardware with { RequestOverheadMs = ms } : hardware;
        return hardware.EngineSequenceOverheadUs.TryGetValue(engine, out var us) ? served with { SequenceOverheadUs = us } : served;
    }
}
