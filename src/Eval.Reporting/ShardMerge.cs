using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;

namespace Spark.Eval.Reporting;

/// <summary>One shard's output: its index, its plan's hash and its attempts.</summary>
public sealed record ShardRun(string Source, ShardSpec Shard, string PlanHash, IReadOnlyList<AttemptRecord> Records);

/// <summary>
/// Unions shards of one plan into one attempt list with an exactly-once check: every planned measured slot is
/// filled by exactly one non-cancelled attempt, across all shards; nothing unplanned. Warm-ups of every shard are
/// kept under distinct repeats (shard × warm-ups + w) and stay out of the metrics.
/// </summary>
public static class ShardMerge
{
    public static IReadOnlyList<AttemptRecord> Merge(IReadOnlyList<ShardRun> shards, IReadOnlyCollection<SlotKey> plannedMeasured, int warmupsPerBackend)
    {
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentNullException.ThrowIfNull(plannedMeasured);
        if (shards.Count == 0)
        {
            throw new InputException("merge: no shard given. Fix: pass every shard's run directory");
        }

        var count = shards[0].Shard.Count;
        var hash = shards[0].PlanHash;
        foreach (var s in shards)
        {
            if (s.PlanHash != hash)
            {
                throw InputException.At(s.Source, null, "plan", $"plan hash {s.PlanHash[..12]}… differs from {shards[0].Source}'s {hash[..12]}…", "merge only shards of one plan");
            }

            if (s.Shard.Count != count)
            {
                throw InputException.At(s.Source, null, "shard", $"shard {s.Shard} of a {s.Shard.Count}-way split, the others are {count}-way", "merge the shards of one split");
            }
        }

        var indices = shards.Select(s => s.Shard.Index).ToList();
        var missingShards = Enumerable.Range(0, count).Except(indices).ToList();
        var twice = indices.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (missingShards.Count > 0 || twice.Count > 0)
        {
            throw new InputException($"merge: shards {(missingShards.Count > 0 ? $"missing {string.Join(", ", missingShards.Select(i => $"{i}/{count}"))}" : "")}"
                + $"{(twice.Count > 0 ? $" given twice {string.Join(", ", twice.Select(i => $"{i}/{count}"))}" : "")}. Fix: pass each shard's directory once (re-run a failed shard alone with --shard i/{count})");
        }

        var planned = plannedMeasured.ToHashSet();
        var seen = new Dictionary<SlotKey, string>();
        var merged = new List<AttemptRecord>();
        var problems = new List<string>();
        foreach (var shard in shards.OrderBy(s => s.Shard.Index))
        {
            foreach (var record in shard.Records)
            {
                if (record.Slot.Warmup)
                {
                    merged.Add(record with { Slot = record.Slot with { Repeat = (shard.Shard.Index * Math.Max(1, warmupsPerBackend)) + record.Slot.Repeat } });
                    continue;
                }

                if (record.Outcome.Status == AttemptStatus.Cancelled)
                {
                    continue;
                }

                if (!planned.Contains(record.Slot))
                {
                    problems.Add($"{shard.Source}: {record.Slot} is not in the plan");
                }
                else if (!seen.TryAdd(record.Slot, shard.Source))
                {
                    problems.Add($"{record.Slot} filled twice ({seen[record.Slot]} and {shard.Source})");
                }
                else
                {
                    merged.Add(record);
                }
            }
        }

        var missing = planned.Where(k => !seen.ContainsKey(k)).ToList();
        problems.AddRange(missing.Take(10).Select(k => $"{k} has no attempt"));
        if (missing.Count > 10)
        {
            problems.Add($"… {missing.Count - 10} more slots have no attempt");
        }

        if (problems.Count > 0)
        {
            throw new InputException($"merge: not exactly once: {string.Join("; ", problems.Take(12))}. Fix: re-run the shard that holds the missing slots (run --resume <its dir>), and pass each shard once");
        }

        return [.. merged.Select((r, i) => r with { Sequence = i })];
    }
}
