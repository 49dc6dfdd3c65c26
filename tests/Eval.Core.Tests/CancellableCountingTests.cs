using System.Text;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Tests;

/// <summary>Issue #15 item 3: Ctrl+C is honoured while the runner counts prompt tokens, not only after.</summary>
public sealed class CancellableCountingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-count-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Runner_CancelledBeforePromptCounting_StopsWithoutCountingEveryPrompt()
    {
        var prompt = new string('x', 2_000_000); // whitespace-free: the slow case for counting
        var time = TimeProvider.System;
        var start = time.GetTimestamp();
        TokenCounter.Default.Count(prompt);
        var oneCount = time.GetElapsedTime(start);

        var lines = new StringBuilder();
        for (var i = 0; i < 6; i++)
        {
            lines.Append(System.Globalization.CultureInfo.InvariantCulture, $$"""{"formatVersion":1,"id":"t{{i}}","kind":"stub","language":"python","prompt":"{{prompt}}{{i}}","hiddenChecks":"assert True","referenceSolution":"x"}""").Append('\n');
        }

        var tasks = TaskSuiteLoader.Parse("big", "big.jsonl", Encoding.UTF8.GetBytes(lines.ToString())).Tasks;
        var plan = new RunPlanSpec { SuitePath = "big", BackendSpecs = ["sim"], TimeoutSeconds = 30 };
        var slots = BenchmarkRunner.PlanSlots(plan, tasks, ["sim"]);
        var client = new ChatClientBuilder(new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, ttftMs: 1, tokensPerSecond: 100_000, "sim")).UseTiming().Build();
        var backend = new RunBackend(new BackendInfo("sim", "sim", "sim", "constant-rate simulator", Simulated: true), client);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        using var log = new AttemptLog(Path.Combine(_dir, AttemptLog.FileName));

        start = time.GetTimestamp();
        var result = await new BenchmarkRunner(TimeProvider.System, TokenCounter.Default)
            .RunAsync(plan, slots, [backend], log, new HashSet<SlotKey>(), 0, 0, null, cancelled.Token);
        var elapsed = time.GetElapsedTime(start);

        Assert.Equal("interrupted", result.Status);
        Assert.Equal(0, result.Attempts);
        // Six prompts counted in full would take about six single counts; a cancellable count stops at the first piece.
        Assert.True(elapsed < oneCount, $"the runner took {elapsed.TotalMilliseconds:F0} ms; one full count takes {oneCount.TotalMilliseconds:F0} ms");
    }

}
