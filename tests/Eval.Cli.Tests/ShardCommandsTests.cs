using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;

namespace Spark.Eval.Cli.Tests;

/// <summary><c>run --shard i/N</c> and <c>merge</c>: shards of one plan, run apart, join into one run like the unsharded one.</summary>
public sealed class ShardCommandsTests
{
    private static readonly string[] Plan = ["--backend", "sim?name=fast&ttft_ms=2&tokens_per_s=50000", "--backend", "sim?name=other&ttft_ms=3&tokens_per_s=40000",
        "--repeats", "2", "--warmup", "1", "--no-grade"];

    private static async Task<string> RunAsync(string root, string name, params string[] extra)
    {
        var dir = Path.Combine(root, name);
        var (exit, _, stderr) = await CliHarness.RunAsync(["run", .. Plan, "--seed", "5", "--out", dir, .. extra]);
        Assert.True(exit == 0, stderr);
        return dir;
    }

    private static Dictionary<SlotKey, AttemptRecord> Measured(string dir) =>
        AttemptLog.Read(Path.Combine(dir, AttemptLog.FileName)).Records.Where(r => !r.Slot.Warmup).ToDictionary(r => r.Slot);

    [Fact]
    public async Task RunShards_FourOfAPlanMerged_EveryPlannedSlotOnceWithTheUnshardedAnswers()
    {
        var root = CliHarness.TempDir();
        var whole = await RunAsync(root, "whole");
        var shards = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            shards.Add(await RunAsync(root, $"shard-{i}", "--shard", $"{i}/4"));
        }

        var manifests = shards.Select(d => new RunDirectory(d).ReadManifest()).ToList();
        Assert.Equal([0, 1, 2, 3], manifests.Select(m => m.Shard!.Index));
        Assert.All(manifests, m => Assert.Equal(Sharding.PlanHash(new RunDirectory(whole).ReadManifest().Plan), m.PlanHash));
        var wholeSlots = Measured(whole);
        // 2 backends × 6 tasks × 2 repeats = 24 measured slots, 6 per shard; each shard also runs the warm-ups.
        Assert.Equal(24, wholeSlots.Count);
        Assert.All(shards, d => Assert.Equal(6, Measured(d).Count));

        var merged = Path.Combine(root, "merged");
        var (exit, stdout, stderr) = await CliHarness.RunAsync(["merge", shards[2], shards[0], shards[3], shards[1], "--out", merged]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("merged 4 shards", stderr, StringComparison.Ordinal);
        Assert.Contains("fast", stdout, StringComparison.Ordinal);

        var joined = Measured(merged);
        Assert.Equal(wholeSlots.Keys.OrderBy(k => k.ToString()), joined.Keys.OrderBy(k => k.ToString()));
        foreach (var (slot, original) in wholeSlots)
        {
            // Same slot, same seed: the simulated backend gives the same answer and token counts.
            Assert.Equal(original.Answer, joined[slot].Answer);
            Assert.Equal(original.Tokens.OutputTokenizer, joined[slot].Tokens.OutputTokenizer);
            Assert.Equal(original.Outcome.Status, joined[slot].Outcome.Status);
        }

        var manifest = new RunDirectory(merged).ReadManifest();
        Assert.Null(manifest.Shard);
        Assert.Equal("completed", manifest.Status);
        Assert.Equal([0, 1, 2, 3], manifest.MergedFrom!.Select(s => s.Index));
        Assert.Equal(manifests.Select(m => m.RunId), manifest.MergedFrom!.Select(s => s.RunId));
        Assert.True(File.Exists(Path.Combine(merged, "report.html")));
        Assert.True(File.Exists(Path.Combine(merged, RunDirectory.SummaryJsonFileName)));

        // The merged directory reads like any run: summarize recomputes it, compare sets it beside the unsharded run.
        Assert.Equal(0, (await CliHarness.RunAsync("summarize", merged)).Exit);
        var (compareExit, compared, compareErr) = await CliHarness.RunAsync("compare", whole, merged);
        Assert.True(compareExit is 0 or 1, compareErr);
        Assert.Contains("other", compared, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Merge_ShardsOfDifferentPlansTwiceOrMissing_Exit2NamingTheFixAndWritesNothing()
    {
        var root = CliHarness.TempDir();
        var a0 = await RunAsync(root, "a0", "--shard", "0/2", "--tasks", "2");
        var a1 = await RunAsync(root, "a1", "--shard", "1/2", "--tasks", "2");
        var otherSeed = Path.Combine(root, "b1");
        Assert.Equal(0, (await CliHarness.RunAsync(["run", .. Plan, "--seed", "6", "--tasks", "2", "--shard", "1/2", "--out", otherSeed])).Exit);
        var whole = await RunAsync(root, "whole", "--tasks", "2");
        var out3 = Path.Combine(root, "merged");

        async Task Refused(string expected, params string[] dirs)
        {
            var (exit, _, stderr) = await CliHarness.RunAsync(["merge", .. dirs, "--out", out3]);
            Assert.True(exit == 2, $"merge {string.Join(' ', dirs)}: exit {exit}: {stderr}");
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
            Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(out3), "a refused merge wrote its output directory");
        }

        await Refused("shard 0/2 given twice", a0, a1, a0);
        await Refused("shard 1/2 missing", a0);
        await Refused("seed 6 vs 5", a0, otherSeed);
        await Refused("not a shard", a0, whole);
        Assert.Equal(0, (await CliHarness.RunAsync("merge", a1, a0, "--out", out3)).Exit);

        var (badShard, _, badErr) = await CliHarness.RunAsync(["run", .. Plan, "--shard", "2/2", "--out", Path.Combine(root, "x")]);
        Assert.Equal(2, badShard);
        Assert.Contains("--shard 2/2", badErr, StringComparison.Ordinal);
        var (withResume, _, resumeErr) = await CliHarness.RunAsync("run", "--resume", a0, "--shard", "0/2");
        Assert.Equal(2, withResume);
        Assert.Contains("--shard cannot be combined with --resume", resumeErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Merge_InterruptedShard_RefusedUntilThatShardAloneIsResumed()
    {
        var root = CliHarness.TempDir();
        var s0 = await RunAsync(root, "s0", "--shard", "0/2");
        var s1 = await RunAsync(root, "s1", "--shard", "1/2");
        var planned = Measured(s1).Keys.ToHashSet();

        // Shard 1 "crashed" after its first measured attempts: the last three are lost and its status says interrupted.
        var directory = new RunDirectory(s1);
        var records = AttemptLog.Read(directory.AttemptsPath).Records;
        AttemptLog.Rewrite(directory.AttemptsPath, [.. records.Take(records.Count - 3)]);
        directory.WriteManifest(directory.ReadManifest() with { Status = "interrupted" });
        var merged = Path.Combine(root, "merged");
        var (refused, _, refusedErr) = await CliHarness.RunAsync("merge", s0, s1, "--out", merged);
        Assert.Equal(2, refused);
        Assert.Contains($"spark-eval run --resume {s1}", refusedErr, StringComparison.Ordinal);

        // Re-run the failed shard alone: resume keeps the shard (its manifest says 1/2) and fills only its own slots.
        var (resumed, _, resumeErr) = await CliHarness.RunAsync("run", "--resume", s1, "--no-grade");
        Assert.True(resumed == 0, resumeErr);
        Assert.Contains("shard 1/2", resumeErr, StringComparison.Ordinal);
        Assert.Equal(planned, Measured(s1).Keys.ToHashSet());
        var (exit, _, stderr) = await CliHarness.RunAsync("merge", s0, s1, "--out", merged);
        Assert.True(exit == 0, stderr);
        Assert.Equal(24, Measured(merged).Count);
    }
}
