using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;
using Spark.Eval.TestSupport;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>The runner against a serve-sim that injects faults at a rate: every attempt is recorded, the run goes on, faulted ones are never ok.</summary>
public sealed class RunnerTests
{
    [Fact]
    public async Task Run_ServerInjectsFaultsAtRate_EveryFaultedRequestIsAFailedAttemptAndTheRestAreOk()
    {
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 2, 5000, "sim");
        var faults = RemoteFaults();
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions
        {
            Port = 0,
            Faults = new FaultInjector(0.5, faults, seed: 11),
        }, TimeProvider.System, ct);
        var suite = TaskSuiteLoader.Load(Path.Combine(RepoRoot(), "datasets", "spark-mini"));
        var tasks = suite.Tasks.Take(6).ToList();
        var plan = new RunPlanSpec { SuitePath = "spark-mini", BackendSpecs = ["remote"], Repeats = 3, Concurrency = 3, MaxTokens = 24, TimeoutSeconds = 30 };
        using var remote = new OpenAICompatibleChatClient(new OpenAIBackendOptions
        {
            BaseUrl = server.BaseAddress,
            Model = "m",
            MaxRetries = 0,
            BreakerMinimumThroughput = 0,
            IdleTimeout = TimeSpan.FromSeconds(2),
        }, TimeProvider.System, null);
        var backend = new RunBackend(new BackendInfo("remote", "openai", "openai", "test", false), new ChatClientBuilder(remote).UseTiming().Build());
        var slots = BenchmarkRunner.PlanSlots(plan, tasks, ["remote"]);
        var dir = Directory.CreateTempSubdirectory("spark-remote-run");
        var logPath = Path.Combine(dir.FullName, AttemptLog.FileName);

        RunResult result;
        using (var log = new AttemptLog(logPath))
        {
            result = await new BenchmarkRunner(TimeProvider.System, TokenCounter.Default)
                .RunAsync(plan, slots, [backend], log, new HashSet<SlotKey>(), 0, 0, null, ct);
        }

        var (records, _) = AttemptLog.Read(logPath);
        // serve-sim logs a request when its handler returns, which can be after the runner read its end: wait for it (bounded).
        var served = await ServerLogWait.AtLeastAsync(server.Log, null, records.Count, ct);
        Assert.Equal("completed", result.Status);
        Assert.Equal(slots.Count, records.Count);
        Assert.Equal(served.Count(e => e.Fault != "none"), records.Count(r => r.Outcome.Status == AttemptStatus.Error));
        Assert.Equal(served.Count(e => e.Fault == "none"), records.Count(r => r.Outcome.Status == AttemptStatus.Ok));
        Assert.Contains(records, r => r.Outcome.Status == AttemptStatus.Error);
        Assert.Contains(records, r => r.Outcome.Status == AttemptStatus.Ok);
        Assert.All(records.Where(r => r.Outcome.Status == AttemptStatus.Error),
            r => Assert.Contains(r.Outcome.ErrorClass, new[] { "http_429", "connection_reset", "early_end", "malformed_chunk" }));
        dir.Delete(recursive: true);
    }

    [Fact]
    public async Task Run_ModelWithKnownVocabulary_RecordsItsTokenizerAndTheUsageDiscrepancy()
    {
        var ct = TestContext.Current.CancellationToken;
        // The server counts with o200k; the client, for a gpt-3.5 model id, with cl100k: the discrepancy is what differs.
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 2, 5000, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var suite = TaskSuiteLoader.Load(Path.Combine(RepoRoot(), "datasets", "spark-mini"));
        var tasks = suite.Tasks.Take(3).ToList();
        var plan = new RunPlanSpec { SuitePath = "spark-mini", BackendSpecs = ["remote"], Repeats = 1, Concurrency = 1, MaxTokens = 40, TimeoutSeconds = 30 };
        using var remote = new OpenAICompatibleChatClient(new OpenAIBackendOptions
        {
            BaseUrl = server.BaseAddress,
            Model = "gpt-3.5-turbo",
            MaxRetries = 0,
            BreakerMinimumThroughput = 0,
        }, TimeProvider.System, null);
        var backend = new RunBackend(new BackendInfo("remote", "openai", "openai", "test", false), new ChatClientBuilder(remote).UseTiming().Build());
        var slots = BenchmarkRunner.PlanSlots(plan, tasks, ["remote"]);
        var dir = Directory.CreateTempSubdirectory("spark-remote-tokens");
        var logPath = Path.Combine(dir.FullName, AttemptLog.FileName);

        using (var log = new AttemptLog(logPath))
        {
            await new BenchmarkRunner(TimeProvider.System, TokenCounter.Default).RunAsync(plan, slots, [backend], log, new HashSet<SlotKey>(), 0, 0, null, ct);
        }

        var (records, _) = AttemptLog.Read(logPath);
        var cl100k = ModelTokenizers.Create("cl100k_base", exact: true);
        Assert.Equal(slots.Count, records.Count);
        Assert.All(records, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        Assert.All(records, r => Assert.Equal("cl100k_base", r.Tokens.Tokenizer));
        Assert.All(records, r => Assert.Equal(cl100k.Count(r.Answer), r.Tokens.OutputTokenizer));
        Assert.All(records, r => Assert.Equal(r.Tokens.OutputUsage - r.Tokens.OutputTokenizer, r.Tokens.Discrepancy));
        dir.Delete(recursive: true);
    }

    private static FaultSpec[] RemoteFaults() =>
    [
        FaultSpec.Parse("429;retry_after=0", "test"),
        FaultSpec.Parse("disconnect;after=2", "test"),
        FaultSpec.Parse("early_end;after=2", "test"),
        FaultSpec.Parse("malformed;after=2", "test"),
    ];

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Eval.sln not found");
    }
}
