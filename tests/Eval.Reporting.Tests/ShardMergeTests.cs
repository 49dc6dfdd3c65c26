using Microsoft.Extensions.AI;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Reporting.Tests;

public sealed class ShardMergeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-shards-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static IReadOnlyList<BenchTask> Tasks()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
        {
            dir = dir.Parent;
        }

        return TaskSuiteLoader.Load(Path.Combine(dir!.FullName, "datasets", "spark-mini")).Tasks;
    }

    private static readonly RunPlanSpec Plan = new() { SuitePath = "spark-mini", BackendSpecs = ["a", "b"], Repeats = 2, Warmup = 1, Concurrency = 2, Seed = 7, TimeoutSeconds = 30 };

    private async Task<IReadOnlyList<AttemptRecord>> RunAsync(IReadOnlyList<PlannedSlot> slots, string name)
    {
        RunBackend Backend(string backend) => new(new BackendInfo(backend, backend, "sim", "constant-rate simulator", Simulated: true),
            new ChatClientBuilder(new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, ttftMs: 1, tokensPerSecond: 50_000, backend)).UseTiming().Build());
        var path = Path.Combine(_dir, name + ".jsonl");
        using (var log = new AttemptLog(path))
        {
            await new BenchmarkRunner(TimeProvider.System, TokenCounter.Default)
                .RunAsync(Plan, slots, [Backend("a"), Backend("b")], log, new HashSet<SlotKey>(), 0, 0, null, TestContext.Current.CancellationToken);
        }

        return AttemptLog.Read(path).Records;
    }

    [Fact]
    public async Task Shards_FourOfAPlan_MergeToTheUnshardedRunSlotForSlot()
    {
        var tasks = Tasks();
        var slots = BenchmarkRunner.PlanSlots(Plan, tasks, ["a", "b"]);
        var planned = slots.Where(s => !s.Key.Warmup).Select(s => s.Key).ToList();
        var whole = await RunAsync(slots, "whole");

        var shards = new List<ShardRun>();
        for (var i = 0; i < 4; i++)
        {
            var part = Sharding.Select(slots, new ShardSpec(i, 4));
            shards.Add(new ShardRun($"shard{i}", new ShardSpec(i, 4), Sharding.PlanHash(Plan), await RunAsync(part, $"shard{i}")));
        }

        var merged = ShardMerge.Merge(shards, planned, Plan.Warmup);
        var measured = merged.Where(r => !r.Slot.Warmup).ToDictionary(r => r.Slot);
        Assert.Equal(planned.Count, measured.Count);
        foreach (var original in whole.Where(r => !r.Slot.Warmup))
        {
            // Same slot, same seed, hence (simulated backend) the same answer and token counts.
            var twin = measured[original.Slot];
            Assert.Equal(original.Answer, twin.Answer);
            Assert.Equal(original.Tokens.OutputUsage, twin.Tokens.OutputUsage);
            Assert.Equal(BenchmarkRunner.SlotSeed(Plan.Seed, original.Slot), BenchmarkRunner.SlotSeed(Plan.Seed, twin.Slot));
        }

        Assert.Equal(4 * 2, merged.Count(r => r.Slot.Warmup));
        Assert.Equal(merged.Count, merged.Select(r => r.Slot).Distinct().Count());
        Assert.Equal(Enumerable.Range(0, merged.Count).Select(i => (long)i), merged.Select(r => r.Sequence));
    }

    [Fact]
    public void Merge_SlotTwiceOrMissingOrForeignPlan_IsBadInputNamingTheSlot()
    {
        var keys = Enumerable.Range(0, 6).Select(i => new SlotKey("t" + i, "a", 0)).ToList();
        AttemptRecord Attempt(SlotKey key) => new() { Slot = key, Events = [], Outcome = AttemptOutcome.Ok, Answer = "", Tokens = new TokenCounts { Tokenizer = "t" } };
        ShardRun Shard(int i, IEnumerable<SlotKey> filled, string hash = "h0000000000000") => new($"s{i}", new ShardSpec(i, 2), hash, [.. filled.Select(Attempt)]);

        Assert.Equal(6, ShardMerge.Merge([Shard(0, keys.Take(3)), Shard(1, keys.Skip(3))], keys, 0).Count);
        var twice = Assert.Throws<InputException>(() => ShardMerge.Merge([Shard(0, keys.Take(4)), Shard(1, keys.Skip(3))], keys, 0));
        Assert.Contains("a/t3/0 filled twice (s0 and s1)", twice.Message, StringComparison.Ordinal);
        var missing = Assert.Throws<InputException>(() => ShardMerge.Merge([Shard(0, keys.Take(2)), Shard(1, keys.Skip(3))], keys, 0));
        Assert.Contains("a/t2/0 has no attempt", missing.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", missing.Message, StringComparison.Ordinal);
        Assert.Throws<InputException>(() => ShardMerge.Merge([Shard(0, keys.Take(3)), Shard(1, keys.Skip(3), hash: "h1111111111111")], keys, 0));
        Assert.Throws<InputException>(() => ShardMerge.Merge([Shard(0, keys.Take(3)), Shard(0, keys.Skip(3))], keys, 0));
    }

    [Fact]
    public void Select_FourShards_PartitionTheMeasuredSlotsAndKeepThePlanHash()
    {
        var slots = BenchmarkRunner.PlanSlots(Plan, Tasks(), ["a", "b"]);
        var parts = Enumerable.Range(0, 4).Select(i => Sharding.Select(slots, ShardSpec.Parse($"{i}/4"))).ToList();
        var measured = parts.SelectMany(p => p.Where(s => !s.Key.Warmup).Select(s => s.Key)).ToList();
        Assert.Equal(slots.Count(s => !s.Key.Warmup), measured.Count);
        Assert.Equal(measured.Count, measured.Distinct().Count());
        Assert.All(parts, p => Assert.Equal(2, p.Count(s => s.Key.Warmup)));
        Assert.Equal(Sharding.PlanHash(Plan), Sharding.PlanHash(Plan with { }));
        Assert.NotEqual(Sharding.PlanHash(Plan), Sharding.PlanHash(Plan with { Seed = 8 }));
        Assert.Throws<InputException>(() => ShardSpec.Parse("4/4"));
    }
}
