using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>A simulated backend served through serve-sim stays simulated: the server says so in a header, the client records it.</summary>
public sealed class SimulatedHeaderTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Run_ThroughServeSim_RecordsSimulatedExactlyWhenTheServerSaysSo(bool simulated)
    {
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 2, 5000, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0, Simulated = simulated }, TimeProvider.System, ct);
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Eval.sln")))
        {
            root = root.Parent;
        }

        var tasks = TaskSuiteLoader.Load(Path.Combine(root!.FullName, "datasets", "spark-mini")).Tasks.Take(2).ToList();
        var plan = new RunPlanSpec { SuitePath = "spark-mini", BackendSpecs = ["remote"], Repeats = 1, Concurrency = 1, MaxTokens = 16, TimeoutSeconds = 30 };
        using var remote = new OpenAICompatibleChatClient(new OpenAIBackendOptions { BaseUrl = server.BaseAddress, Model = "m", MaxRetries = 0, BreakerMinimumThroughput = 0 }, TimeProvider.System, null);
        // The openai backend itself does not know what it talks to: Simulated false in its info.
        var backend = new RunBackend(new BackendInfo("remote", "openai", "openai", "test", false), new ChatClientBuilder(remote).UseTiming().Build());
        var dir = Directory.CreateTempSubdirectory("spark-sim-header");
        var logPath = Path.Combine(dir.FullName, AttemptLog.FileName);
        using (var log = new AttemptLog(logPath))
        {
            await new BenchmarkRunner(TimeProvider.System, TokenCounter.Default)
                .RunAsync(plan, BenchmarkRunner.PlanSlots(plan, tasks, ["remote"]), [backend], log, new HashSet<SlotKey>(), 0, 0, null, ct);
        }

        var (records, _) = AttemptLog.Read(logPath);
        dir.Delete(recursive: true);
        Assert.Equal(2, records.Count);
        Assert.All(records, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        Assert.All(records, r => Assert.Equal(simulated, r.Simulated));
        Assert.Equal(simulated, SummaryCalculator.Compute("r", records, new SloSpec()).Backends[0].Simulated);
    }
}
