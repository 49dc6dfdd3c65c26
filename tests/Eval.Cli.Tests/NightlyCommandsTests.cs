using System.Xml.Linq;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Cli.Tests;

/// <summary>The nightly-regression surface of the CLI: CI gate outputs, power planning, trace replay, peer import.</summary>
public sealed class NightlyCommandsTests
{
    private const string Fast = "sim?name=fast&ttft_ms=5&tokens_per_s=20000";

    private static string LastLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];

    [Fact]
    public async Task RunFailIf_WithJUnit_WritesOneCasePerBackendAndThresholdAndEndsWithFailLine()
    {
        var root = CliHarness.TempDir();
        var junit = Path.Combine(root, "gate.xml");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", Fast, "--backend", "sim?name=slow&ttft_ms=400&tokens_per_s=5000",
            "--repeats", "1", "--warmup", "0", "--no-grade", "--out", Path.Combine(root, "run"), "--fail-if", "ttft_p50_ms>200,error_rate>0.5", "--junit", junit);

        Assert.Equal(1, exit);
        var doc = XDocument.Load(junit);
        Assert.Equal(4, doc.Descendants("testcase").Count());
        var failure = Assert.Single(doc.Descendants("failure"));
        Assert.Equal("ttft_p50_ms", failure.Parent!.Attribute("name")!.Value);
        Assert.Contains("slow", failure.Attribute("message")!.Value, StringComparison.Ordinal);
        Assert.Matches(@"ttft_p50_ms = \d", failure.Value);
        Assert.StartsWith("FAIL: spark-eval run --fail-if", LastLine(stderr), StringComparison.Ordinal);
        Assert.EndsWith("slow ttft_p50_ms", LastLine(stderr), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Junit_UnwritablePath_Exit2BeforeAnyWork()
    {
        var root = CliHarness.TempDir();
        var file = Path.Combine(root, "plain-file");
        await File.WriteAllTextAsync(file, "x", TestContext.Current.CancellationToken);
        var run = Path.Combine(root, "run");

        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", Fast, "--repeats", "1", "--warmup", "0", "--no-grade", "--out", run,
            "--fail-if", "ttft_p50_ms>30", "--junit", Path.Combine(file, "gate.xml"));
        Assert.Equal(2, exit);
        Assert.Contains("--junit", stderr, StringComparison.Ordinal);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(run), "the run started although its gate file could not be written");

        Assert.Equal(0, (await CliHarness.RunAsync("run", "--backend", Fast, "--repeats", "1", "--warmup", "0", "--no-grade", "--out", run)).Exit);
        var (compareExit, compareOut, compareErr) = await CliHarness.RunAsync("compare", run, run, "--junit", root);
        Assert.Equal(2, compareExit);
        Assert.Contains("is a directory", compareErr, StringComparison.Ordinal);
        Assert.DoesNotContain("detectable", compareOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compare_SameRunTwice_PrintsDetectableColumnAndEndsWithPassLine()
    {
        var root = CliHarness.TempDir();
        var run = Path.Combine(root, "run");
        Assert.Equal(0, (await CliHarness.RunAsync("run", "--backend", Fast, "--repeats", "2", "--warmup", "0", "--no-grade", "--out", run)).Exit);
        var junit = Path.Combine(root, "compare.xml");

        var (exit, stdout, stderr) = await CliHarness.RunAsync("compare", run, run, "--junit", junit);
        Assert.True(exit == 0, stderr);
        Assert.Contains("detectable", stdout, StringComparison.Ordinal);
        Assert.Matches(@"≥ \d+\.\d %", stdout);
        Assert.StartsWith("PASS: spark-eval compare", LastLine(stderr), StringComparison.Ordinal);
        Assert.Equal("0", XDocument.Load(junit).Root!.Attribute("failures")!.Value);

        var (planExit, plan, planErr) = await CliHarness.RunAsync("compare", run, "--plan-power", "ttft_p50_ms=10%");
        Assert.True(planExit == 0, planErr);
        Assert.Matches(@"recommendation: run --repeats \d+, then compare --tolerance ""ttft_p50_ms=\d", plan);

        var (alsoExit, pooled, _) = await CliHarness.RunAsync("compare", run, run, "--also-baseline", run);
        Assert.Equal(0, alsoExit);
        Assert.Contains("several runs of one configuration", pooled, StringComparison.Ordinal);

        var (missing, _, missingErr) = await CliHarness.RunAsync("compare", run);
        Assert.Equal(2, missing);
        Assert.Contains("Fix:", missingErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunTrace_MooncakeSampleWindow_ReplaysItsArrivalsAndRecordsThemAgain()
    {
        var sample = Path.GetFullPath(Path.Combine(CliHarness.RepoRoot, "..", "shared", "datasets", "traces", "mooncake_conversation_trace_head2000.jsonl"));
        Assert.SkipUnless(File.Exists(sample), $"{sample} is absent: the public trace samples live in ../shared/datasets/traces (see its SOURCES.md)");
        var root = CliHarness.TempDir();
        var run = Path.Combine(root, "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", Fast, "--warmup", "1", "--no-grade", "--out", run,
            "--trace", sample, "--window", "0..10", "--time-scale", "0.05");
        Assert.True(exit == 0, stderr);
        Assert.Contains("trace replay", stderr, StringComparison.Ordinal);
        var measured = AttemptLog.Read(Path.Combine(run, "attempts.jsonl")).Records.Where(r => !r.Slot.Warmup).ToList();
        Assert.Equal(38, measured.Count);
        Assert.All(measured, r => Assert.NotNull(r.ScheduleLagUs));

        // The run's own arrivals, replayable: the same request count and (in ms) the same relative timestamps.
        var arrivals = Path.Combine(run, "arrivals.jsonl");
        var replayed = Core.Traces.TraceReader.Read(arrivals, "mooncake");
        var original = Core.Traces.TraceReader.Read(sample, "mooncake").Window(0, 10).Scale(0.05);
        Assert.Equal(original.Requests.Select(r => Math.Round(r.TimestampUs / 1000.0)), replayed.Requests.Select(r => r.TimestampUs / 1000.0));
        var (again, _, againErr) = await CliHarness.RunAsync("run", "--backend", Fast, "--warmup", "0", "--no-grade", "--out", Path.Combine(root, "again"), "--trace", arrivals);
        Assert.True(again == 0, againErr);

        var (conflict, _, conflictErr) = await CliHarness.RunAsync("run", "--backend", Fast, "--trace", sample, "--rate", "5", "--out", Path.Combine(root, "x"));
        Assert.Equal(2, conflict);
        Assert.Contains("Fix:", conflictErr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(root, "x")));
    }

    [Fact]
    public async Task Import_AiperfResult_ThenCompareWithARun_SetsPeerNumbersBeside()
    {
        var root = CliHarness.TempDir();
        var fixture = Path.Combine(CliHarness.RepoRoot, "tests", "Eval.Reporting.Tests", "Fixtures", "aiperf_profile_export_aiperf.json");
        var peer = Path.Combine(root, "peer");
        var (exit, stdout, stderr) = await CliHarness.RunAsync("import", "aiperf", fixture, "--name", "aiperf-nightly", "--out", peer);
        Assert.True(exit == 0, stderr);
        Assert.Contains("aiperf-nightly", stdout, StringComparison.Ordinal);
        var run = Path.Combine(root, "run");
        Assert.Equal(0, (await CliHarness.RunAsync("run", "--backend", Fast, "--repeats", "1", "--warmup", "0", "--no-grade", "--out", run)).Exit);

        var (cmp, table, cmpErr) = await CliHarness.RunAsync("compare", peer, run, "--backend", "aiperf-nightly=fast");
        Assert.True(cmp == 0, cmpErr);
        Assert.Matches(@"aiperf-nightly → fast\s+ttft_p50_ms\s+120\s", table);
        Assert.Contains("not tested", table, StringComparison.Ordinal);
    }
}
