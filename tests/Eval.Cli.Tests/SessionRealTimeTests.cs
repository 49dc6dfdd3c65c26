using System.Text.Json;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// <c>run --sessions</c> in real time against a real serve-sim (Kestrel on loopback) at the load of the benchmark
/// (docs/benchmarks.md, "Developer sessions in real time"): 256 developers at once, each interaction recorded exactly once,
/// the schedule lag reported. No timing is asserted (a timed assertion fails on a busy machine); the benchmark measures it.
/// And the cost of simulated profiles: the hardware's price reaches the manifest and summary.json.
/// </summary>
public class SessionRealTimeTests
{
    private const int Developers = 256;
    private const int Seed = 5;
    private const double LengthSeconds = 2;
    private const double ThinkScale = 0.005;

    [Fact]
    public async Task Sessions_256AgainstServeSimInRealTime_EveryInteractionRecordedOnceWithScheduleLag()
    {
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 20, 2000, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, TestContext.Current.CancellationToken);
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var backend = $"openai?name=served&url={Uri.EscapeDataString(server.BaseAddress.ToString().TrimEnd('/'))}&model=sim&retries=0";

        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--sessions", $"{Developers}", "--session-length", $"{LengthSeconds}s",
            "--think-scale", $"{ThinkScale}", "--no-grade", "--seed", $"{Seed}", "--out", dir);

        Assert.True(exit == 0, stderr);
        var lanes = Spark.Eval.Cli.Commands.SessionOptions.WakeLanes(Environment.ProcessorCount);
        Assert.Contains($"sessions in real time wake up on {lanes} timer thread(s)", stderr, StringComparison.Ordinal);
        // The manifest says how the sessions woke, and every session's connection was opened before the first interaction.
        var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(dir, "manifest.json")), CoreJsonContext.Default.RunManifest)!;
        Assert.StartsWith($"{lanes} timer thread(s)", manifest.Environment.SessionWakeClock, StringComparison.Ordinal);
        Assert.Contains($"{Developers} connection(s) opened and warmed before the first attempt", Assert.Single(manifest.Backends).Description, StringComparison.Ordinal);
        Assert.Contains("schedule lag p50 ", stderr, StringComparison.Ordinal);
        Assert.Contains("0 interactions dropped, 0 recorded twice", stderr, StringComparison.Ordinal);
        var (records, torn) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.False(torn);
        Assert.All(records, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        Assert.Equal(records.Count, records.Select(r => r.Slot).Distinct().Count());
        Assert.Equal(records.Count, records.Select(r => r.Sequence).Distinct().Count());
        Assert.Equal((0, 0), SessionFlowMetrics.Completeness(records));

        // Every developer whose first think time ended inside the session asked at least once; none asked after its time was up.
        for (var session = 0; session < Developers; session++)
        {
            var first = Mini[SessionRunner.TaskOrder(Seed, session, Mini.Count)[0]];
            var think = ThinkTimeModel.Defaults.Sample(Seed, session, 0, 0, first.Kind).TotalSeconds * ThinkScale;
            var asked = records.Count(r => r.Session!.Session == session);
            Assert.True(think >= LengthSeconds || asked > 0, $"session {session} (first think {think:0.###} s) asked nothing");
        }

        // Every interaction has its schedule and its lag; summary.json carries the same figures.
        Assert.All(records, r => Assert.NotNull(r.ScheduleLagUs));
        Assert.All(records, r => Assert.True(r.ScheduleLagUs >= 0, $"{r.Slot.Session}: started {r.ScheduleLagUs} µs before its think time ended"));
        var summary = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(dir, "summary.json")), CoreJsonContext.Default.RunSummary)!;
        var arm = Assert.Single(summary.Sessions!.Arms);
        Assert.Equal(records.Count, arm.Interactions);
        Assert.Equal(records.Count, arm.ScheduleLagMs!.Count);
        Assert.Equal(records.Max(r => r.ScheduleLagUs!.Value) / 1000.0, arm.ScheduleLagMs.Max, 9);
        Assert.Equal(0, arm.DroppedInteractions);
        Assert.Equal(0, arm.DuplicateInteractions);
        // An OpenAI-compatible server has no price: its cost is unknown, never 0.
        Assert.Null(arm.Cost);
        Assert.Contains("Schedule lag (request start", File.ReadAllText(Path.Combine(dir, "report.md")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sessions_HwsimProfiles_PricedFromTheHardwareProfileAndUnpricedShownAsUnknown()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");

        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "hwsim?name=deep&hw=h100-sxm&model=llama-3.1-70b&tp=4",
            "--backend", "hwsim?name=wafer&hw=wse-3&model=qwen2.5-coder-7b", "--backend", "hwsim?name=api&hw=wse-3&model=llama-3.1-8b",
            "--sessions", "2", "--session-length", "10m", "--no-grade", "--seed", "2", "--out", dir);

        Assert.True(exit == 0, stderr);
        var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(dir, "manifest.json")), CoreJsonContext.Default.RunManifest)!;
        var price = manifest.Backends.Single(b => b.Name == "deep").Price!;
        Assert.Equal(3.0, price.UsdPerDeviceHour);
        Assert.Equal(4, price.Devices);
        // Cerebras sells WSE-3 by the token: Llama 3.1 8B has the profile's API price, Qwen2.5-Coder 7B none.
        Assert.Null(manifest.Backends.Single(b => b.Name == "wafer").Price);
        var api = manifest.Backends.Single(b => b.Name == "api").Price!;
        Assert.True(api.PerToken);
        Assert.Equal(0.10, api.UsdPerMillionInputTokens);
        Assert.Equal(0.10, api.UsdPerMillionOutputTokens);
        var summary = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(dir, "summary.json")), CoreJsonContext.Default.RunSummary)!;
        var arms = summary.Sessions!.Arms.ToDictionary(a => a.Arm);
        var deep = arms["deep"].Cost!;
        Assert.True(deep.Usd > 0 && deep.DeviceHours > 0, $"deep: {deep}");
        // Busy time only: never more than the 2 developers' 10 minutes of waiting on 4 devices.
        Assert.True(deep.DeviceHours <= arms["deep"].SessionHours * arms["deep"].WaitShare.Value * 4 + 1e-9, $"deep: {deep.DeviceHours} device-hours");
        Assert.Equal(deep.Usd!.Value, deep.DeviceHours * 3.0, 9);
        Assert.Null(arms["wafer"].Cost!.Usd);
        Assert.Equal(["wafer"], arms["wafer"].Cost!.UnpricedBackends);
        var byToken = arms["api"].Cost!;
        Assert.Equal("tokens", byToken.Basis);
        Assert.True(byToken.Usd > 0, $"api: {byToken}");
    }

    private static readonly List<(string Id, string Kind)> Mini = [.. File.ReadLines(Path.Combine(CliHarness.RepoRoot, "datasets", "spark-mini", "tasks.jsonl"))
        .Select(l => JsonDocument.Parse(l).RootElement).Select(e => (e.GetProperty("id").GetString()!, e.GetProperty("kind").GetString()!))];
}
