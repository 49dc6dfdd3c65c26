using System.Text.Json;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Cli.Tests;

public class RunCommandTests
{
    private const string Fast = "sim?name=fast&ttft_ms=5&tokens_per_s=20000";

    [Fact]
    public async Task Run_SmallPlan_WritesRunDirectoryAndSummarizeRecomputesIt()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, stdout, stderr) = await CliHarness.RunAsync("run", "--backend", Fast, "--backend", "sim?name=slow&ttft_ms=20&tokens_per_s=5000",
            "--repeats", "2", "--warmup", "1", "--concurrency", "3", "--out", dir);
        Assert.True(exit == 0, stderr);
        foreach (var file in new[] { "manifest.json", "attempts.jsonl", "summary.json", "summary.csv", "attempts.csv" })
        {
            Assert.True(File.Exists(Path.Combine(dir, file)), file);
        }

        // The table's kind column says "sim" for a simulated backend.
        Assert.Matches(@"(?m)^fast\s+sim\s", stdout);
        var (records, torn) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.False(torn);
        // 6 tasks × 2 backends × 2 repeats + 1 warm-up per backend.
        Assert.Equal(26, records.Count);
        Assert.Equal(24, records.Count(r => !r.Slot.Warmup));
        Assert.All(records, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        Assert.All(records, r => Assert.True(r.Simulated));

        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal("completed", manifest.GetProperty("status").GetString());
        Assert.Equal(2, manifest.GetProperty("formatVersion").GetInt32());
        Assert.Equal(64, manifest.GetProperty("suite").GetProperty("sha256").GetString()!.Length);

        var before = File.ReadAllText(Path.Combine(dir, "summary.json"));
        File.Delete(Path.Combine(dir, "summary.json"));
        File.Delete(Path.Combine(dir, "summary.csv"));
        var (again, _, againErr) = await CliHarness.RunAsync("summarize", dir);
        Assert.True(again == 0, againErr);
        Assert.Equal(before, File.ReadAllText(Path.Combine(dir, "summary.json")));
        Assert.True(File.Exists(Path.Combine(dir, "summary.csv")));
    }

    [Fact]
    public async Task Run_MalformedSuiteLine_Exit2NamesFileLineFieldAndWritesNothing()
    {
        var root = CliHarness.TempDir();
        var suite = Path.Combine(root, "bad.jsonl");
        var good = File.ReadLines(Path.Combine(CliHarness.RepoRoot, "datasets", "spark-mini", "tasks.jsonl")).First();
        await File.WriteAllTextAsync(suite, good + "\n" + good.Replace("\"kind\": \"stub\"", "\"kind\": \"limerick\"", StringComparison.Ordinal).Replace("py-stub-email", "other", StringComparison.Ordinal) + "\n", TestContext.Current.CancellationToken);
        var outDir = Path.Combine(root, "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--suite", suite, "--out", outDir);
        Assert.Equal(2, exit);
        Assert.Contains($"{suite}:2: field 'kind': unknown kind 'limerick'", stderr, StringComparison.Ordinal);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("--backend", "warp?x=1", "unknown backend kind 'warp'")]
    [InlineData("--backend", "sim?ttft=5", "unknown setting 'ttft'")]
    [InlineData("--backend", "sim?tokens_per_s=fast", "tokens_per_s=fast is not a number")]
    [InlineData("--fail-if", "ttft_p42_ms>3", "unknown metric 'ttft_p42_ms'")]
    [InlineData("--concurrency", "0", "--concurrency 0: must be ≥ 1")]
    [InlineData("--arrival", "uniform", "unknown arrival process")]
    [InlineData("--repeats", "two", "error:")]
    public async Task Run_BadFlag_Exit2WithFix(string flag, string value, string message)
    {
        var outDir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", flag, value, "--out", outDir);
        Assert.Equal(2, exit);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task Run_ConfigWithUnknownKey_Exit2NamesLine()
    {
        var root = CliHarness.TempDir();
        var config = Path.Combine(root, "plan.yaml");
        await File.WriteAllTextAsync(config, "repeats: 1\nconcurency: 3\n", TestContext.Current.CancellationToken);
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--config", config, "--out", Path.Combine(root, "run"));
        Assert.Equal(2, exit);
        Assert.Contains($"{config} line 2: unknown key 'concurency'. Did you mean 'concurrency'? Fix:", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Spark.Eval", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(root, "run")));
    }

    [Theory]
    [InlineData("repeats: 1\nwarmup: 0\nrepeats2: 1\n", "line 3: unknown key 'repeats2'. Did you mean 'repeats'?")]
    [InlineData("warmup: 0\nrepeats: two\n", "line 2: 'repeats' must be a whole number (got 'two')")]
    [InlineData("rate: fast\n", "line 1: 'rate' must be a number (got 'fast')")]
    [InlineData("interleave: maybe\n", "line 1: 'interleave' must be true or false (got 'maybe')")]
    [InlineData("backends: sim\n", "line 1: 'backends' must be a list (got 'sim')")]
    [InlineData("slo:\n  ttftMs: 300\n  tpotMS: 20\n", "line 3: unknown key 'tpotMS' under 'slo'. Did you mean 'tpotMs'?")]
    [InlineData("slo:\n  e2eMs: soon\n", "line 2: 'slo.e2eMs' must be a number (got 'soon')")]
    [InlineData("- repeats: 1\n", "line 1: a plan is a list of 'key: value' lines, not a list")]
    public async Task Run_ConfigTypoOrWrongType_Exit2InTheUsersWords(string yaml, string expected)
    {
        var root = CliHarness.TempDir();
        var config = Path.Combine(root, "plan.yaml");
        await File.WriteAllTextAsync(config, yaml, TestContext.Current.CancellationToken);
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--config", config, "--out", Path.Combine(root, "run"));
        Assert.Equal(2, exit);
        Assert.Contains($"{config} {expected}", stderr, StringComparison.Ordinal);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Spark.Eval", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(root, "run")));
    }

    [Fact]
    public async Task Run_ConfigFile_SuppliesPlanAndFlagsOverride()
    {
        var root = CliHarness.TempDir();
        var config = Path.Combine(root, "plan.yaml");
        await File.WriteAllTextAsync(config, $"backends:\n  - \"{Fast}\"\nrepeats: 3\nwarmup: 0\ntasks: 2\nslo:\n  ttftMs: 1000\n", TestContext.Current.CancellationToken);
        var dir = Path.Combine(root, "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--config", config, "--repeats", "1", "--out", dir);
        Assert.True(exit == 0, stderr);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Equal(2, records.Count);
        Assert.Contains("\"ttftMs\": 1000", File.ReadAllText(Path.Combine(dir, "manifest.json")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ConfigJudgeAndGradingKeys_AreUsedAndRecorded()
    {
        var root = CliHarness.TempDir();
        var config = Path.Combine(root, "plan.yaml");
        await File.WriteAllTextAsync(config, $"backends:\n  - \"{Fast}\"\nrepeats: 1\nwarmup: 0\ngrading: concurrent\njudge: \"hwsim?name=judge&hw=wse-3&model=llama-3.1-70b\"\n",
            TestContext.Current.CancellationToken);
        var dir = Path.Combine(root, "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--config", config, "--out", dir);
        Assert.True(exit is 0 or 1, stderr);
        using var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")));
        Assert.Equal("concurrent", manifest.RootElement.GetProperty("grading").GetProperty("mode").GetString());
        Assert.True(manifest.RootElement.TryGetProperty("judge", out var judge) && judge.ValueKind == System.Text.Json.JsonValueKind.Object, "no judge in the manifest");
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Contains(records, r => r.Grade?.Judge is not null);

        await File.WriteAllTextAsync(config, "grading: sometimes\n", TestContext.Current.CancellationToken);
        var (badExit, _, badErr) = await CliHarness.RunAsync("run", "--config", config, "--out", Path.Combine(root, "bad"));
        Assert.Equal(2, badExit);
        Assert.Contains("sometimes", badErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ThresholdBreached_Exit1()
    {
        // The sim's first token is due at 5 ms and never comes earlier (PreciseDelay waits out the coarse system timer), so
        // TTFT p50 > 4.9 ms holds on any machine, however loaded; the error rate stays 0, so only the TTFT check may fail.
        var (exit, stdout, stderr) = await CliHarness.RunAsync("run", "--backend", Fast, "--tasks", "2", "--repeats", "1", "--warmup", "0",
            "--fail-if", "ttft_p50_ms>4.9,error_rate>0.5", "--out", Path.Combine(CliHarness.TempDir(), "run"));
        Assert.True(exit == 1, $"exit {exit}; stderr: {stderr}; stdout: {stdout}");
        Assert.Contains("FAILED threshold: fast: ttft_p50_ms", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("error_rate =", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_EveryAttemptTimesOut_Exit1AndAttemptsRecordedAsTimeouts()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim?ttft_ms=2000", "--tasks", "2", "--repeats", "1", "--warmup", "0",
            "--timeout", "0.05", "--out", dir);
        Assert.Equal(1, exit);
        Assert.Contains("every attempt failed", stderr, StringComparison.Ordinal);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Equal(2, records.Count);
        Assert.All(records, r => Assert.Equal(AttemptStatus.Timeout, r.Outcome.Status));
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement.GetProperty("backends")[0];
        Assert.Equal(1.0, summary.GetProperty("errorRate").GetDouble());
    }

    [Fact]
    public async Task Run_OpenLoop_RecordsScheduleAndLag()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, stdout, stderr) = await CliHarness.RunAsync("run", "--backend", Fast, "--rate", "40", "--arrival", "gamma", "--burstiness", "0.5",
            "--repeats", "2", "--warmup", "0", "--seed", "7", "--out", dir, "--json");
        Assert.True(exit == 0, stderr);
        var json = JsonDocument.Parse(stdout).RootElement; // --json: stdout holds only the summary
        Assert.Equal(12, json.GetProperty("backends")[0].GetProperty("metrics").GetProperty("schedule_lag_ms").GetProperty("count").GetInt32());
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Equal(12, records.Count);
        Assert.All(records, r => Assert.NotNull(r.ScheduledUs));
        // Never early: the dispatcher waits for each scheduled time (how late is a benchmark, not a test).
        Assert.All(records, r => Assert.True(r.ScheduleLagUs >= 0));
        var expected = Core.Running.ArrivalSchedule.Compute(12, 40, "gamma", 0.5, 7);
        Assert.Equal(expected.Order(), records.Select(r => r.ScheduledUs!.Value - records.Min(x => x.ScheduledUs!.Value)).Order());
    }

    [Fact]
    public async Task Run_DurationReached_StopsAndRecordsUnfinishedAsCancelled()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim?ttft_ms=400&tokens_per_s=50", "--repeats", "5", "--warmup", "0",
            "--concurrency", "2", "--duration", "1", "--out", dir);
        Assert.True(exit is 0 or 1, stderr);
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal("duration_reached", manifest.GetProperty("status").GetString());
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.InRange(records.Count, 1, 29);
        Assert.Contains(records, r => r.Outcome.Status == AttemptStatus.Cancelled && r.Outcome.ErrorClass == "duration_limit");
    }

    [Fact]
    public async Task Run_PassRateThreshold_GradesThenGates()
    {
        // The constant-rate sim answers with each task's reference, so every graded answer passes.
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", Fast, "--tasks", "2", "--repeats", "1", "--warmup", "0",
            "--fail-if", "pass_rate<1.01", "--out", dir);
        Assert.True(exit == 1, stderr);
        Assert.Contains("FAILED threshold: fast: pass_rate = 1 breaches pass_rate<1.01", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--concurrency", "2000000000", "--concurrency 2000000000: above the bound of 10000")]
    [InlineData("--repeats", "1000000000", "above the bound of 1,000,000 per run")]
    [InlineData("--rate", "NaN", "--rate NaN: must be a finite number")]
    public async Task Run_PlanAboveItsBounds_Exit2BeforeAnythingIsAllocatedOrWritten(string flag, string value, string message)
    {
        var outDir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", Fast, flag, value, "--out", outDir);
        Assert.Equal(2, exit);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Run_TwoBackends_EachItsOwnLoopOneAfterAnotherUnlessInterleaved(bool interleave)
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        string[] args = ["run", "--backend", "sim?name=first&ttft_ms=20&tokens_per_s=2000", "--backend", "sim?name=second&ttft_ms=20&tokens_per_s=2000",
            "--repeats", "2", "--warmup", "1", "--concurrency", "2", "--no-grade", "--out", dir];
        var (exit, _, stderr) = await CliHarness.RunAsync(interleave ? [.. args, "--interleave"] : args);

        Assert.True(exit == 0, stderr);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        var first = records.Where(r => r.Slot.Backend == "first").ToList();
        var second = records.Where(r => r.Slot.Backend == "second").ToList();
        var firstEnd = first.Max(r => r.StartUs + r.Events[^1].OffsetMicroseconds);
        var secondStart = second.Min(r => r.StartUs);
        Assert.Equal(!interleave, secondStart >= firstEnd);
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal(interleave ? "interleaved" : "sequential", manifest.GetProperty("plan").GetProperty("load").GetString());
        Assert.Contains(interleave ? "backends side by side" : "backends one after another", stderr, StringComparison.Ordinal);
        Assert.Contains(interleave ? "backends side by side" : "backends one after another", File.ReadAllText(Path.Combine(dir, "report.md")), StringComparison.Ordinal);
    }
}
