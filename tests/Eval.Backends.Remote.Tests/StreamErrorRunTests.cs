using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>
/// llama-server's context overflow (HTTP 200, `error: {…}` in the stream, then `data: [DONE]`) through the runner: every
/// such attempt is a failed attempt with the server's message, and the error rate counts it.
/// </summary>
public sealed class StreamErrorRunTests
{
    [Fact]
    public async Task Run_EveryOtherResponseIsLlamaServerContextOverflow_ThoseAttemptsFailAndErrorRateCountsThem()
    {
        var ct = TestContext.Current.CancellationToken;
        var ok = Transcript.Load("llama-server-chat.sse");
        var overflow = Transcript.Load("llama-server-context-overflow.sse");
        var served = 0;
        await using var server = await ReplayServer.StartAsync(_ => Interlocked.Increment(ref served) % 2 == 0 ? overflow : ok);
        var suite = TaskSuiteLoader.Load(Path.Combine(RepoRoot(), "datasets", "spark-mini"));
        var plan = new RunPlanSpec { SuitePath = "spark-mini", BackendSpecs = ["remote"], Repeats = 2, Concurrency = 1, MaxTokens = 24, TimeoutSeconds = 30 };
        using var remote = new OpenAICompatibleChatClient(new OpenAIBackendOptions { BaseUrl = server.BaseAddress, Model = "m", MaxRetries = 0, BreakerMinimumThroughput = 0 }, TimeProvider.System, null);
        var backend = new RunBackend(new BackendInfo("remote", "openai", "openai", "test", false), new ChatClientBuilder(remote).UseTiming().Build());
        var slots = BenchmarkRunner.PlanSlots(plan, suite.Tasks.Take(3).ToList(), ["remote"]);
        var dir = Directory.CreateTempSubdirectory("spark-stream-error");
        var logPath = Path.Combine(dir.FullName, AttemptLog.FileName);

        using (var log = new AttemptLog(logPath))
        {
            await new BenchmarkRunner(TimeProvider.System, TokenCounter.Default).RunAsync(plan, slots, [backend], log, new HashSet<SlotKey>(), 0, 0, null, ct);
        }

        var (records, _) = AttemptLog.Read(logPath);
        var summary = Assert.Single(SummaryCalculator.Compute("r", records, new SloSpec()).Backends);
        Assert.Equal(6, records.Count);
        var failed = records.Where(r => r.Outcome.Status == AttemptStatus.Error).ToList();
        Assert.Equal(3, failed.Count);
        Assert.All(failed, r => Assert.Equal("server_error_event", r.Outcome.ErrorClass));
        Assert.All(failed, r => Assert.Contains("the request exceeds the available context size", r.Outcome.Message, StringComparison.Ordinal));
        Assert.All(failed, r => Assert.Equal(string.Empty, r.Answer));
        Assert.Equal(0.5, summary.ErrorRate);
        Assert.Equal(3, summary.ErrorClasses["server_error_event"]);
        dir.Delete(recursive: true);
    }

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
