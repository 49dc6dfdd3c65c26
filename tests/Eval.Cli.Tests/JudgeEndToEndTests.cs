using System.Text.Json;
using System.Text.Json.Nodes;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Simulator.Server;
using Spark.Eval.TestSupport;

namespace Spark.Eval.Cli.Tests;

/// <summary>A real serve-sim (Kestrel on loopback) hosting a simulated hwsim model, reached by the openai backend as judge.</summary>
public sealed class JudgeServerFixture : IAsyncLifetime
{
    private BackendHandle _backend = null!;

    public SimServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _backend = await Backends.CreateRegistry().CreateAsync("hwsim?hw=wse-3&model=llama-3.1-70b",
            new BackendContext(TimeProvider.System, CliHarness.RepoRoot, _ => { }), CancellationToken.None);
        Server = await SimServer.StartAsync(_backend.Client, new SimServerOptions { Port = 0 }, TimeProvider.System, CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await _backend.DisposeAsync();
    }

    public string JudgeSpec(string? headers = null) =>
        $"openai?name=judge70b&url={Uri.EscapeDataString(Server.BaseAddress.ToString().TrimEnd('/'))}&model=judge-70b&retries=0&breaker_min_throughput=0&total_timeout_ms=60000"
        + (headers is null ? "" : "&headers=" + Uri.EscapeDataString(headers));

    /// <summary>The explain tasks of datasets/spark-bounded, as a suite file of their own.</summary>
    public static string ExplainSuite()
    {
        var path = Path.Combine(CliHarness.TempDir(), "explain.jsonl");
        File.WriteAllLines(path, File.ReadLines(Path.Combine(CliHarness.RepoRoot, "datasets", "spark-bounded", "tasks.jsonl"))
            .Where(l => l.Contains("\"kind\":\"explain\"", StringComparison.Ordinal)));
        return path;
    }
}

public class JudgeEndToEndTests(JudgeServerFixture fixture) : IClassFixture<JudgeServerFixture>
{
    private const string Generator = "hwsim?name=gen8b&hw=wse-3&model=llama-3.1-8b";

    [Fact]
    public async Task RunWithJudge_ServeSimJudgeOverOpenAI_BothVerdictsRecordedAndCombined()
    {
        var suite = JudgeServerFixture.ExplainSuite();
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var spec = fixture.JudgeSpec();
        var before = fixture.Server.Log.Find(null).Count;

        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--suite", suite, "--backend", Generator, "--repeats", "2", "--warmup", "0",
            "--judge", spec, "--out", dir, "--json");

        Assert.True(exit == 0, stderr);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Equal(12 * 2, records.Count);
        Assert.All(records, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        var grades = records.Select(r => r.Grade!).ToList();
        foreach (var grade in grades)
        {
            var judge = grade.Judge!;
            Assert.Equal("ok", judge.Status);
            Assert.Equal("judge70b", judge.Backend);
            Assert.Equal("openai", judge.Kind);
            // Reached over HTTP, the verdict itself says it is simulated.
            Assert.True(judge.Simulated);
            Assert.Equal("spark-judge/1", judge.Prompt);
            Assert.True(judge.LatencyMs > 0);
            Assert.True(judge.OutputTokens > 0);
            var rubricPassed = grade.Rubric!.Passed;
            var judgePassed = judge.Verdict == "pass";
            Assert.Equal(rubricPassed && judgePassed, grade.Passed);
            Assert.Equal(rubricPassed == judgePassed, judge.AgreesWithRubric);
            Assert.Equal("rubric_and_judge", grade.Combine);
        }

        // The 8B generator gives wrong explanations (mutants) as well as references: both rubric verdicts occur.
        Assert.Contains(grades, g => g.Rubric!.Passed);
        Assert.Contains(grades, g => !g.Rubric!.Passed);

        // Every judge call went over HTTP to serve-sim: one request per answer judged (identical answers are judged once).
        var calls = grades.Count(g => !g.Grading!.Reused);
        // serve-sim logs a request when its handler returns, which can be after the judge read its answer: wait (bounded).
        Assert.Equal(calls, (await ServerLogWait.AtLeastAsync(fixture.Server.Log, null, before + calls, TestContext.Current.CancellationToken)).Count - before);

        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!;
        Assert.Equal(spec, manifest["judge"]!["spec"]!.GetValue<string>());
        Assert.Equal("rubric_and_judge", manifest["judge"]!["combine"]!.GetValue<string>());
        Assert.Equal(2, manifest["judge"]!["maxTries"]!.GetValue<int>());
        Assert.Equal("after", manifest["grading"]!["mode"]!.GetValue<string>());
        Assert.Contains("judge (SIMULATED verdicts)", stderr, StringComparison.Ordinal);

        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!;
        var grading = summary["backends"]![0]!["grading"]!;
        Assert.Equal(24, grading["graded"]!.GetValue<int>());
        Assert.Equal(grades.Count(g => g.Passed), grading["passed"]!.GetValue<int>());
    }

    [Fact]
    public async Task GradeWithJudge_ServeSimFault500_ClassifiedJudgeFailureKeptInDenominator()
    {
        var suite = JudgeServerFixture.ExplainSuite();
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--suite", suite, "--backend", Generator, "--repeats", "1", "--warmup", "0", "--out", dir);
        Assert.True(exit == 0, stderr);

        var (generated, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));

        // serve-sim answers every judge request with HTTP 500 (fault injection by header).
        var (gradeExit, stdout, gradeErr) = await CliHarness.RunAsync("grade", dir, "--judge", fixture.JudgeSpec("x-spark-fault:500"), "--json");

        Assert.True(gradeExit == 0, gradeErr);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        // Judging adds to the grade only: the measured record (events, tokens, outcome) is unchanged.
        Assert.Equal(generated.Select(Measured), records.Select(Measured));
        Assert.Equal(12, records.Count);
        foreach (var grade in records.Select(r => r.Grade!))
        {
            var judge = grade.Judge!;
            Assert.Equal("failed", judge.Status);
            Assert.Equal("http_500", judge.ErrorClass);
            Assert.Equal(2, judge.Tries);
            Assert.False(grade.Passed);
            var expected = grade.Rubric!.Passed ? "harness_error" : "wrong_answer";
            Assert.Equal(expected, grade.Outcome);
        }

        Assert.Contains(records, r => r.Grade!.Outcome == "harness_error");
        var report = JsonNode.Parse(stdout)!;
        Assert.Equal(12, report["judge"]!["failures"]!["http_500"]!.GetValue<int>());
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!;
        var grading = summary["backends"]![0]!["grading"]!;
        // Judge failures stay in the denominator and never pass.
        Assert.Equal(12, grading["graded"]!.GetValue<int>());
        Assert.Equal(0, grading["passed"]!.GetValue<int>());
    }

    [Fact]
    public async Task GradeWithJudge_ProseReplyingBackend_UnparsableVerdictRetriedOnceAndRecorded()
    {
        var suite = JudgeServerFixture.ExplainSuite();
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--suite", suite, "--backend", Generator, "--repeats", "1", "--warmup", "0", "--tasks", "4", "--out", dir);
        Assert.True(exit == 0, stderr);

        // The constant-rate sim answers a prompt without a task by echoing it: prose, no JSON verdict.
        var (gradeExit, _, gradeErr) = await CliHarness.RunAsync("grade", dir, "--judge", "sim?name=echo&ttft_ms=0&tokens_per_s=1000000");

        Assert.True(gradeExit == 0, gradeErr);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        // The echo holds pieces of the judge input, sometimes a balanced {…} without a verdict: either parse failure class.
        Assert.All(records, r => Assert.Contains(r.Grade!.Judge!.ErrorClass, new[] { "judge_unparsable", "judge_bad_verdict" }));
        Assert.All(records, r => Assert.Equal(2, r.Grade!.Judge!.Tries));
        Assert.All(records, r => Assert.False(r.Grade!.Passed));
        Assert.All(records, r => Assert.StartsWith("Simulated answer", r.Grade!.Judge!.RawReply, StringComparison.Ordinal));
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal("echo", manifest.GetProperty("judge").GetProperty("name").GetString());
        Assert.True(manifest.GetProperty("judge").GetProperty("simulated").GetBoolean());
    }

    private static string Measured(AttemptRecord record) => JsonSerializer.Serialize(record with { Grade = null }, CoreJsonContext.Default.AttemptRecord);

    [Fact]
    public async Task RunWithJudge_BadJudgeSpec_Exit2NamesJudgeAndWritesNothing()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim?ttft_ms=1", "--judge", "openai?model=m", "--out", dir);
        Assert.Equal(2, exit);
        Assert.Contains("--judge: ", stderr, StringComparison.Ordinal);
        Assert.Contains("url is missing", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task RunWithJudge_NoGrade_Exit2WithFix()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim?ttft_ms=1", "--judge", "sim?ttft_ms=1", "--no-grade", "--out", dir);
        Assert.Equal(2, exit);
        Assert.Contains("--judge with --no-grade", stderr, StringComparison.Ordinal);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }
}
