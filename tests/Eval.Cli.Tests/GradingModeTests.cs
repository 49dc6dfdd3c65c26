using System.Text.Json.Nodes;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Sandbox.Grading;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli.Tests;

/// <summary>A real serve-sim on loopback hosting the constant-rate sim at a pace slow enough for grading to overlap generation.</summary>
public sealed class SlowServerFixture : IAsyncLifetime
{
    public SimServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 20, 400, "slow-sim");
        Server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, CancellationToken.None);
    }

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

public class GradingModeTests(SlowServerFixture fixture) : IClassFixture<SlowServerFixture>
{
    private static BackendInfo Info(string kind, string spec, bool simulated = false) => new("b-" + kind, spec, kind, "d", simulated);

    [Theory]
    [InlineData("openai?url=https://api.example.com/v1&model=m", "concurrent")]
    [InlineData("openai?url=http://10.1.2.3:8000/v1&model=m", "concurrent")]
    [InlineData("openai?url=http://127.0.0.1:8000/v1&model=m", "after")]
    [InlineData("openai?url=http://localhost:8000/v1&model=m", "after")]
    [InlineData("openai?url=http://[::1]:8000/v1&model=m", "after")]
    public void Auto_OpenAIBackend_ConcurrentOnlyWhenNotLoopback(string spec, string expected)
    {
        var (mode, reason) = GradingModeRule.Resolve("auto", [Info("openai", spec)]);
        Assert.Equal(expected, mode == GradingMode.Concurrent ? "concurrent" : "after");
        Assert.StartsWith("auto: ", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_AnyBackendSharingThisMachine_After()
    {
        var remote = Info("openai", "openai?url=https://api.example.com/v1&model=m");
        Assert.Equal(GradingMode.Concurrent, GradingModeRule.Resolve("auto", [remote]).Mode);
        Assert.Equal(GradingMode.After, GradingModeRule.Resolve("auto", [remote, Info("local", "local?model=x.gguf")]).Mode);
        var (mode, reason) = GradingModeRule.Resolve("auto", [remote, Info("hwsim", "hwsim?hw=a&model=b", simulated: true)]);
        Assert.Equal(GradingMode.After, mode);
        Assert.Contains("simulated", reason, StringComparison.Ordinal);
        Assert.Equal(GradingMode.Concurrent, GradingModeRule.Resolve("concurrent", [Info("local", "local?model=x.gguf")]).Mode);
        Assert.Throws<InputException>(() => GradingModeRule.Resolve("sometimes", [remote]));
    }

    [Fact]
    public async Task RunConcurrent_AgainstServeSim_SameGradesAsAfterAndOverlapsGeneration()
    {
        var suite = Suite();
        var backend = $"openai?name=served&url={Uri.EscapeDataString(fixture.Server.BaseAddress.ToString().TrimEnd('/'))}&model=m&retries=0";
        var common = new[] { "run", "--suite", suite, "--backend", backend, "--repeats", "3", "--warmup", "0", "--concurrency", "1", "--max-tokens", "60",
            "--judge", "hwsim?name=judge&hw=wse-3&model=llama-3.1-70b" };
        var after = Path.Combine(CliHarness.TempDir(), "after");
        var concurrent = Path.Combine(CliHarness.TempDir(), "concurrent");

        var (exitAfter, _, errAfter) = await CliHarness.RunAsync([.. common, "--grading", "after", "--out", after]);
        var (exitConcurrent, _, errConcurrent) = await CliHarness.RunAsync([.. common, "--grading", "concurrent", "--out", concurrent]);

        Assert.True(exitAfter is 0 or 1, errAfter);
        Assert.True(exitConcurrent is 0 or 1, errConcurrent);
        var (afterRecords, _) = AttemptLog.Read(Path.Combine(after, "attempts.jsonl"));
        var (concurrentRecords, _) = AttemptLog.Read(Path.Combine(concurrent, "attempts.jsonl"));
        Assert.All(afterRecords.Concat(concurrentRecords), r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        Assert.All(afterRecords.Concat(concurrentRecords), r => Assert.NotNull(r.Grade));

        // Same grades, slot by slot: outcome, detail and the judge's verdict.
        Assert.Equal(Grades(afterRecords), Grades(concurrentRecords));
        Assert.Contains(afterRecords, r => r.Grade!.Judge is not null);
        Assert.Contains(afterRecords, r => r.Grade!.Judge is null);

        // after: every grade started once the last attempt had ended. concurrent: some started before it ended.
        var lastEndAfter = afterRecords.Max(End);
        Assert.All(afterRecords, r => Assert.True(GradeStartUs(r) >= lastEndAfter, $"{r.Slot}: grade start {GradeStartUs(r)} µs < last end {lastEndAfter} µs"));
        Assert.All(afterRecords, r => Assert.False(r.Grade!.Grading!.StartedDuringGeneration));
        Assert.All(afterRecords, r => Assert.False(r.Grade!.Grading!.Queued));
        Assert.All(concurrentRecords, r => Assert.True(r.Grade!.Grading!.Queued));
        var lastEnd = concurrentRecords.Max(End);
        var during = concurrentRecords.Where(r => r.Grade!.Grading!.StartedDuringGeneration).ToList();
        Assert.NotEmpty(during);
        // "During" means some attempt was still running when the grade started; in time, grades began before the last
        // attempt ended. (Grade and attempt times are µs from two origins taken a moment apart, so not compared one by one.)
        Assert.All(during, r => Assert.True(r.Grade!.Grading!.AttemptsFinishedAtStart < concurrentRecords.Count));
        Assert.Contains(during, r => GradeStartUs(r) < lastEnd);

        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(concurrent, "manifest.json")))!;
        Assert.Equal("concurrent", manifest["grading"]!["mode"]!.GetValue<string>());
        Assert.Equal(64, manifest["grading"]!["queueCapacity"]!.GetValue<int>());
        Assert.Contains("graded concurrently:", errConcurrent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FinishAsync_GradeStartedAfterTheLastAttemptButBeforeTheEndWasMarked_IsNotAnOverlap()
    {
        var task = JudgeTests.ExplainTask();
        var suite = new TaskSuite("one", "memory", new string('0', 64), [task]);
        using var grader = new SandboxAttemptGrader(suite, new GradingSettings(false, null, 42), TimeProvider.System, _ => { });
        await using var pipeline = new GradingPipeline(grader, GradingMode.Concurrent, TimeProvider.System, TimeProvider.System.GetTimestamp());
        var record = ReferenceAnswer(task, 0);

        // The only attempt is offered; its grade starts on a worker while the runner has not yet marked generation over
        // (the gap in which a run's last grades begin). No attempt was running by then.
        Assert.True(pipeline.Offer(record));
        await Task.Delay(200, TestContext.Current.CancellationToken);
        var grades = await pipeline.FinishAsync([record], TestContext.Current.CancellationToken);

        var grading = grades[0].Grading!;
        Assert.True(grading.Queued);
        Assert.Equal(1, grading.AttemptsFinishedAtStart);
        Assert.False(grading.StartedDuringGeneration);
        Assert.Equal(0, pipeline.StartedDuringGeneration);
    }

    [Fact]
    public async Task Offer_QueueFullBehindSlowJudge_NeverWaitsDefersAndGradesEveryAttempt()
    {
        var task = JudgeTests.ExplainTask();
        var suite = new TaskSuite("one", "memory", new string('0', 64), [task]);
        // A judge whose first token comes after a simulated 2 s round trip keeps both workers busy.
        var (handle, judge) = await JudgeOption.CreateJudgeAsync("hwsim?name=slow-judge&hw=wse-3&model=llama-3.1-70b&rtt_ms=2000",
            TimeProvider.System, TextWriter.Null, TestContext.Current.CancellationToken);
        await using var backend = handle;
        using var grader = new SandboxAttemptGrader(suite, new GradingSettings(false, judge, 42), TimeProvider.System, _ => { });
        await using var pipeline = new GradingPipeline(grader, GradingMode.Concurrent, TimeProvider.System, TimeProvider.System.GetTimestamp());
        const int Attempts = 100;
        var records = Enumerable.Range(0, Attempts).Select(i => ReferenceAnswer(task, i)).ToList();

        var queued = records.Count(pipeline.Offer);
        var grades = await pipeline.FinishAsync(records, TestContext.Current.CancellationToken);

        // At most the queue's capacity plus one record per busy worker were queued; the rest were deferred, not waited for.
        Assert.InRange(queued, 1, GradingPipeline.QueueCapacity + GradingPipeline.Parallelism);
        Assert.Equal(Attempts - queued, pipeline.Deferred);
        Assert.Equal(Attempts, grades.Count);
        Assert.Equal(Attempts - queued, grades.Values.Count(g => !g.Grading!.Queued));
        // Identical answers: one judge call, every grade the same verdict.
        Assert.Single(grades.Values, g => !g.Grading!.Reused);
        Assert.Single(grades.Values.Select(g => g.Outcome).Distinct());
    }

    /// <summary>An ok attempt of backend "b" at <paramref name="sequence"/> whose answer is the explain task's reference.</summary>
    private static AttemptRecord ReferenceAnswer(BenchTask task, int sequence) => new()
    {
        Sequence = sequence,
        Slot = new SlotKey(task.Id, "b", sequence),
        TaskKind = "Explain",
        Language = task.Language,
        Events = [],
        Outcome = AttemptOutcome.Ok,
        Answer = task.ReferenceSolution,
        Tokens = new TokenCounts { Tokenizer = "o200k_base" },
    };

    private static long End(AttemptRecord record) => record.StartUs + record.Events[^1].OffsetMicroseconds;

    private static long GradeStartUs(AttemptRecord record) => record.Grade!.Grading!.StartUs!.Value;

    private static List<string> Grades(IEnumerable<AttemptRecord> records) =>
        [.. records.OrderBy(r => r.Slot.ToString(), StringComparer.Ordinal).Select(r =>
            $"{r.Slot} {r.Grade!.Outcome} {r.Grade.Detail} judge={r.Grade.Judge?.Verdict}")];

    /// <summary>The Python stub/fix tasks and the explain tasks of spark-bounded (fast to grade; the explain ones go to the judge).</summary>
    private static string Suite()
    {
        var path = Path.Combine(CliHarness.TempDir(), "mixed.jsonl");
        var lines = File.ReadLines(Path.Combine(CliHarness.RepoRoot, "datasets", "spark-bounded", "tasks.jsonl")).ToList();
        File.WriteAllLines(path, lines.Where(l => l.Contains("\"language\":\"python\"", StringComparison.Ordinal)
            && (l.Contains("\"kind\":\"stub\"", StringComparison.Ordinal) || l.Contains("\"kind\":\"fix\"", StringComparison.Ordinal))).Take(3)
            .Concat(lines.Where(l => l.Contains("\"kind\":\"explain\"", StringComparison.Ordinal)).Take(3)));
        return path;
    }
}
