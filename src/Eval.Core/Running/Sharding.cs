using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Running;

/// <summary>Shard <see cref="Index"/> of <see cref="Count"/> (0-based, as Slurm array and Kubernetes Indexed Job indices are).</summary>
public sealed record ShardSpec(int Index, int Count)
{
    /// <summary>Parses <c>i/N</c> with 0 ≤ i &lt; N.</summary>
    public static ShardSpec Parse(string text)
    {
        var parts = (text ?? "").Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var index)
            || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var count)
            || count < 1 || index < 0 || index >= count)
        {
            throw new InputException($"--shard {text}: expected i/N with 0 ≤ i < N. Fix: write e.g. --shard 0/4 (Slurm: $SLURM_ARRAY_TASK_ID/4)");
        }

        return new ShardSpec(index, count);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}

/// <summary>
/// Deterministic parts of a plan. Measured slots are dealt round-robin in the plan's own order (so every shard gets
/// each backend and task about equally), each keeping its slot key, hence its seed, and its scheduled time; every
/// shard runs the plan's warm-ups (they are never measured). The plan hash is the same in every shard.
/// </summary>
public static class Sharding
{
    /// <summary>The slots of <paramref name="shard"/>, materialised.</summary>
    public static IReadOnlyList<PlannedSlot> Select(IReadOnlyList<PlannedSlot> slots, ShardSpec shard) => [.. Filter(slots, shard)];

    /// <summary>The slots of <paramref name="shard"/>, generated as <paramref name="slots"/> is read (a large plan is never held as slots).</summary>
    public static IEnumerable<PlannedSlot> Filter(IEnumerable<PlannedSlot> slots, ShardSpec shard)
    {
        ArgumentNullException.ThrowIfNull(slots);
        ArgumentNullException.ThrowIfNull(shard);
        return FilterIterator(slots, shard);
    }

    private static IEnumerable<PlannedSlot> FilterIterator(IEnumerable<PlannedSlot> slots, ShardSpec shard)
    {
        var measured = 0L;
        foreach (var slot in slots)
        {
            if (slot.Key.Warmup || measured++ % shard.Count == shard.Index)
            {
                yield return slot;
            }
        }
    }

    /// <summary>SHA-256 (hex) of the plan as the manifest stores it: equal plans, equal hash, in every shard.</summary>
    public static string PlanHash(RunPlanSpec plan) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(plan, CoreJsonContext.Default.RunPlanSpec)));
}
