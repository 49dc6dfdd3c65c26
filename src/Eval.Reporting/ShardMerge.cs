using System.Globalization;
using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Reporting;

/// <summary>One shard's output: its index, its plan's hash and its attempts.</summary>
public sealed record ShardRun(string Source, ShardSpec Shard, string PlanHash, IReadOnlyList<AttemptRecord> Records);

/// <summary>What <c>spark-eval merge</c> wrote: the merged run's directory, manifest and summary.</summary>
public sealed record ShardMergeResult(string Directory, RunManifest Manifest, RunSummary Summary, int Attempts);

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

    /// <summary>
    /// Merges the run directories of every shard of one plan (<c>run --shard i/N</c>) into <paramref name="outDir"/>, which then
    /// reads like one unsharded run: one manifest (its shards listed), attempts.jsonl, summaries and reports. Everything is
    /// checked before anything is written: one split, each shard once, one plan and configuration, every shard completed,
    /// every planned slot exactly once. <paramref name="loadSuite"/> loads the plan's suite (to know its slots).
    /// </summary>
    public static ShardMergeResult MergeDirectories(IReadOnlyList<string> shardDirs, string? outDir, Func<string, TaskSuite> loadSuite, IRunHistory? history, TimeProvider time, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(shardDirs);
        ArgumentNullException.ThrowIfNull(loadSuite);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(log);
        var manifests = shardDirs.Select(d => (Dir: d, Manifest: new RunDirectory(d).ReadManifest())).ToList();
        CheckShards(manifests);
        var (firstDir, first) = manifests.OrderBy(m => m.Manifest.Shard!.Index).First();
        var hash = Sharding.PlanHash(first.Plan);

        // The plan's measured slots, from its suite (and trace), exactly as every shard enumerated them.
        var suite = loadSuite(first.Plan.SuitePath);
        if (suite.Sha256 != first.Suite.Sha256)
        {
            throw InputException.At(first.Plan.SuitePath, null, null, $"the suite changed since the shards ran (sha256 {suite.Sha256[..12]}… vs {first.Suite.Sha256[..12]}… in {firstDir})",
                "merge with the suite the shards ran (run merge where the shards' suite path resolves to the same files)");
        }

        var tasks = first.Plan.TaskLimit is { } limit ? suite.Tasks.Take(limit).ToList() : suite.Tasks;
        var trace = first.Plan.Trace is { } traceSpec ? Core.Traces.TraceReplay.Load(traceSpec) : null;
        var planned = BenchmarkRunner.EnumerateSlots(first.Plan, tasks, [.. first.Backends.Select(b => b.Name)], trace)
            .Where(s => !s.Key.Warmup).Select(s => s.Key).ToList();
        var shards = manifests.Select(m =>
        {
            var (records, torn) = AttemptLog.Read(new RunDirectory(m.Dir).AttemptsPath);
            if (torn)
            {
                throw InputException.At(new RunDirectory(m.Dir).AttemptsPath, null, null, "the last line is torn (the shard was killed while writing)", $"finish the shard alone with 'spark-eval run --resume {m.Dir}'");
            }

            return new ShardRun(m.Dir, m.Manifest.Shard!, hash, records);
        }).ToList();
        var merged = Merge(shards, planned, first.Plan.Warmup);

        // The merged manifest: the plan and configuration the shards share, each shard's provenance, the span of their times.
        var byIndex = manifests.OrderBy(m => m.Manifest.Shard!.Index).ToList();
        var fresh = RunStore.NewManifest(first.Plan, first.Suite, first.Backends, time);
        var manifest = first with
        {
            FormatVersion = ResultsFormat.Version,
            RunId = fresh.RunId,
            Backends = [.. first.Backends.Select(b => b with
            {
                ModelReported = byIndex.Select(m => m.Manifest.Backends.FirstOrDefault(x => x.Name == b.Name)?.ModelReported).FirstOrDefault(r => r is not null),
                Simulated = byIndex.Any(m => m.Manifest.Backends.Any(x => x.Name == b.Name && x.Simulated)),
            })],
            StartedUtc = byIndex.Min(m => m.Manifest.StartedUtc),
            EndedUtc = byIndex.Max(m => m.Manifest.EndedUtc),
            Status = EvaluationRun.StatusName(RunStatus.Completed),
            Resumes = byIndex.Sum(m => m.Manifest.Resumes),
            Warnings = null,
            Shard = null,
            PlanHash = hash,
            MergedFrom = [.. byIndex.Select(m => new MergedShard(m.Manifest.Shard!.Index, m.Manifest.RunId, m.Dir, m.Manifest.Environment.MachineName,
                m.Manifest.StartedUtc, m.Manifest.EndedUtc, shards.First(s => s.Source == m.Dir).Records.Count))],
        };

        // Written only now that every check passed; RunStore.Create refuses a non-empty --out and leaves nothing half-written.
        using var store = RunStore.Create(outDir, manifest);
        AttemptLog.Rewrite(store.Directory.AttemptsPath, merged);
        var summary = store.Directory.WriteSummaries(manifest, merged);
        if (SummaryCalculator.Warnings(summary) is { Count: > 0 } warnings)
        {
            foreach (var warning in warnings)
            {
                log(warning);
            }

            manifest = manifest with { Warnings = warnings };
            store.WriteManifest(manifest);
        }

        history?.Record(store.Directory, manifest, summary, log);
        return new ShardMergeResult(store.Directory.Path, manifest, summary, merged.Count);
    }

    /// <summary>Each directory a finished shard; one split, each index once; one plan and configuration (suite, harness, grading).</summary>
    private static void CheckShards(List<(string Dir, RunManifest Manifest)> manifests)
    {
        if (manifests.Count == 0)
        {
            throw new InputException("merge: no shard given. Fix: pass every shard's run directory");
        }

        foreach (var (dir, m) in manifests)
        {
            if (m.Shard is not { } shard)
            {
                throw InputException.At(dir, null, "shard", m.MergedFrom is null ? "not a shard (a whole run, written without --shard)" : "already a merged run",
                    "pass the run directories written by 'spark-eval run --shard i/N'");
            }

            if (shard.Count < 1 || shard.Index < 0 || shard.Index >= shard.Count)
            {
                throw InputException.At(Path.Combine(dir, RunDirectory.ManifestFileName), null, "shard", $"{shard} is not a shard i/N with 0 ≤ i < N", "pass the directory as 'spark-eval run --shard' wrote it");
            }
        }

        var (firstDir, first) = manifests[0];
        foreach (var (dir, m) in manifests.Skip(1))
        {
            if (m.Shard!.Count != first.Shard!.Count)
            {
                throw InputException.At(dir, null, "shard", $"shard {m.Shard} of a {m.Shard.Count}-way split, but {firstDir} is shard {first.Shard} of a {first.Shard.Count}-way split", "merge the shards of one split");
            }
        }

        var count = first.Shard!.Count;
        var twice = manifests.GroupBy(m => m.Manifest.Shard!.Index).Where(g => g.Count() > 1).ToList();
        if (twice.Count > 0)
        {
            throw new InputException($"merge: shard {string.Join("; shard ", twice.Select(g => $"{g.Key}/{count} given twice ({string.Join(" and ", g.Select(m => m.Dir))})"))}. Fix: pass each shard's directory once (a re-run shard replaces the failed one)");
        }

        var missing = Enumerable.Range(0, count).Except(manifests.Select(m => m.Manifest.Shard!.Index)).ToList();
        if (missing.Count > 0)
        {
            throw new InputException($"merge: {count}-way split, shard {string.Join(", ", missing.Select(i => $"{i}/{count}"))} missing (given: {string.Join(", ", manifests.Select(m => $"{m.Manifest.Shard} {m.Dir}"))}). Fix: pass every shard's directory; re-run a failed shard alone with 'spark-eval run --shard i/{count}' and the same plan");
        }

        var hash = Sharding.PlanHash(first.Plan);
        foreach (var (dir, m) in manifests.Skip(1))
        {
            if (Sharding.PlanHash(m.Plan) != hash)
            {
                throw InputException.At(dir, null, "plan", $"a different plan from {firstDir}'s ({PlanDifference(first.Plan, m.Plan)})", "merge only shards of one plan: the same flags and --config in every shard, only --shard differing");
            }

            Same(dir, firstDir, "suite", m.Suite.Sha256, first.Suite.Sha256, "run every shard on the same suite files");
            Same(dir, firstDir, "harnessVersion", m.HarnessVersion, first.HarnessVersion, "run every shard with the same spark-eval (re-run this shard with the others' version)");
            Same(dir, firstDir, "backends", string.Join(", ", m.Backends.Select(b => b.Name)), string.Join(", ", first.Backends.Select(b => b.Name)), "run every shard with the same --backend list");
            Same(dir, firstDir, "grading", m.Grading is null ? "ungraded" : "graded", first.Grading is null ? "ungraded" : "graded", "grade every shard, or none ('spark-eval grade <dir>' grades one afterwards)");
            Same(dir, firstDir, "sandboxIsolation", m.SandboxIsolation ?? "none", first.SandboxIsolation ?? "none", "grade every shard under the same sandbox (install bubblewrap everywhere, then 'spark-eval grade <dir>')");
            Same(dir, firstDir, "judge", m.Judge?.Spec ?? "none", first.Judge?.Spec ?? "none", "grade every shard with the same --judge");
        }

        foreach (var (dir, m) in manifests)
        {
            if (m.Status != EvaluationRun.StatusName(RunStatus.Completed))
            {
                throw InputException.At(dir, null, "status", $"shard {m.Shard} is {m.Status ?? "unfinished"}, not completed", $"finish it alone with 'spark-eval run --resume {dir}', then merge again");
            }
        }
    }

    private static void Same(string dir, string firstDir, string field, string value, string expected, string fix)
    {
        if (!string.Equals(value, expected, StringComparison.Ordinal))
        {
            throw InputException.At(dir, null, field, $"'{value}' differs from {firstDir}'s '{expected}'", fix);
        }
    }

    /// <summary>The plan fields that differ, as "seed 7 vs 8", for the error message.</summary>
    private static string PlanDifference(RunPlanSpec expected, RunPlanSpec actual)
    {
        var a = JsonSerializer.SerializeToElement(expected, CoreJsonContext.Default.RunPlanSpec);
        var b = JsonSerializer.SerializeToElement(actual, CoreJsonContext.Default.RunPlanSpec);
        var names = a.EnumerateObject().Select(p => p.Name).Union(b.EnumerateObject().Select(p => p.Name), StringComparer.Ordinal);
        var differences = names
            .Select(n => (Name: n, A: a.TryGetProperty(n, out var x) ? x.GetRawText() : "absent", B: b.TryGetProperty(n, out var y) ? y.GetRawText() : "absent"))
            .Where(d => d.A != d.B)
            .Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.Name} {Shorten(d.B)} vs {Shorten(d.A)}"))
            .ToList();
        return differences.Count == 0 ? "the plans differ" : string.Join("; ", differences);
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "…";
}
