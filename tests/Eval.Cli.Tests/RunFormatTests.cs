using System.Text.Json.Nodes;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Cli.Tests;

/// <summary>Run directories of format version 1 (the committed results/example) stay readable: summarised and re-graded unchanged.</summary>
public class RunFormatTests
{
    private static string CopyOfExample()
    {
        var source = Path.Combine(CliHarness.RepoRoot, "results", "example");
        var target = Path.Combine(CliHarness.TempDir(), "example");
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }

        return target;
    }

    [Fact]
    public async Task Summarize_Version1Example_SameSummaryAsCommitted()
    {
        var dir = CopyOfExample();
        Assert.Equal(1, JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!["formatVersion"]!.GetValue<int>());
        var committed = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!.AsObject();
        File.Delete(Path.Combine(dir, "summary.json"));

        var (exit, _, stderr) = await CliHarness.RunAsync("summarize", dir);

        Assert.True(exit == 0, stderr);
        var again = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!.AsObject();
        // The summary's own format tag is this build's; every figure is the same.
        committed.Remove("formatVersion");
        again.Remove("formatVersion");
        Assert.Equal(committed.ToJsonString(), again.ToJsonString());
    }

    [Fact]
    public async Task Grade_Version1Example_SameOutcomesTypedGradesWritten()
    {
        var dir = CopyOfExample();
        var (before, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Contains(before, r => r.Grade is not null);

        var (exit, stdout, stderr) = await CliHarness.RunAsync("grade", dir, "--json");

        Assert.True(exit == 0, stderr);
        var (after, torn) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.False(torn);
        Assert.Equal(before.Select(r => (r.Slot, r.Grade?.Outcome, r.Grade?.Passed)), after.Select(r => (r.Slot, r.Grade?.Outcome, r.Grade?.Passed)));
        Assert.All(after.Where(r => r.Grade is not null), r => Assert.NotNull(r.Grade!.Grader));
        var report = JsonNode.Parse(stdout)!;
        Assert.Equal(after.Count(r => r.Grade?.IsPassed == true), report["outcomes"]!["passed"]!.GetValue<int>());
    }
}
