using System.Text.Json;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli.Tests;

public class ProcureCommandTests
{
    [Fact]
    public async Task Procure_ExamplePlan_WritesReportAndPrintsJson()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"procure-cli-{Guid.NewGuid():N}");
        try
        {
            var plan = Path.Combine(CliHarness.RepoRoot, "hw-profiles", "procure-example.json");
            var (exit, stdout, stderr) = await CliHarness.RunAsync("procure", plan, "--out", dir, "--price", "wse-3=20", "--json");
            Assert.True(exit == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            Assert.True(root.GetProperty("simulated").GetBoolean());
            Assert.Equal(200, root.GetProperty("developers").GetInt32());
            var candidates = root.GetProperty("candidates");
            Assert.Equal(10, candidates.GetArrayLength());
            // The --price override costs the otherwise unpriced wafer-scale candidates.
            Assert.All(candidates.EnumerateArray().Where(c => c.GetProperty("hardware").GetString() == "wse-3"),
                c => Assert.Equal("DeviceHour", c.GetProperty("priceKind").GetString()));
            Assert.StartsWith("Buy ", root.GetProperty("verdict").GetString(), StringComparison.Ordinal);
            // The verdict says how far its simulated latencies can be trusted: the pick's SLO margin against its family's holdout error.
            Assert.Contains(" Trust: ", root.GetProperty("verdict").GetString(), StringComparison.Ordinal);
            Assert.True(root.GetProperty("underLoadError").GetProperty("rows").GetInt32() > 0);
            Assert.All(candidates.EnumerateArray().Where(c => c.GetProperty("meetsSlo").GetBoolean()), c => Assert.True(c.GetProperty("sloMargin").GetDouble() >= 1));
            Assert.Contains(candidates.EnumerateArray(), c => c.TryGetProperty("familyError", out _));
            foreach (var f in new[] { "procurement.html", "procurement.md", "procurement.csv", "procurement.json" })
            {
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            }
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Procure_PilotTelemetry_ReplacesTheAssumedDemandWithTheMeasuredOne()
    {
        var dir = CliHarness.TempDir();
        var synth = Path.Combine(dir, "synth");
        var (exit, _, stderr) = await CliHarness.RunAsync("pilot", "synth", "--out", synth, "--developers", "8", "--days", "30", "--seed", "3", "--formats", "csv");
        Assert.True(exit == 0, stderr);
        var report = Path.Combine(dir, "report");
        var thinkTimes = Path.Combine(dir, "think-times.json");
        (exit, _, stderr) = await CliHarness.RunAsync("pilot", "analyze", Path.Combine(synth, "events.csv"), "--out", report, "--think-times", thinkTimes, "--bootstrap", "100");
        Assert.True(exit == 0, stderr);
        var pilotJson = Path.Combine(report, "pilot.json");

        var plan = Path.Combine(CliHarness.RepoRoot, "hw-profiles", "procure-example.json");
        string stdout;
        (exit, stdout, stderr) = await CliHarness.RunAsync("procure", plan, "--out", Path.Combine(dir, "out"), "--pilot", pilotJson, "--think-times", thinkTimes, "--hours-per-day", "6", "--json");
        Assert.True(exit == 0, stderr);

        // The figures the pilot report and the think-time export hold, read here apart from the command.
        using var pilotDoc = JsonDocument.Parse(File.ReadAllText(pilotJson));
        var uses = pilotDoc.RootElement.GetProperty("effects").EnumerateArray().Single(e => e.GetProperty("metric").GetString() == "uses_per_dev_day")
            .GetProperty("cells").EnumerateArray().Single(c => c.GetProperty("cohort").GetString() == "Pilot" && c.GetProperty("period").GetString() == "During").GetProperty("mean").GetDouble();
        using var ttDoc = JsonDocument.Parse(File.ReadAllText(thinkTimes));
        var meanThink = ttDoc.RootElement.GetProperty("kinds").EnumerateArray().Single(k => k.GetProperty("kind").GetString() == "all").GetProperty("meanSeconds").GetDouble();

        using var doc = JsonDocument.Parse(stdout);
        var demand = doc.RootElement.GetProperty("demand");
        Assert.Equal(uses / 6, demand.GetProperty("interactionsPerDeveloperHour").GetDouble(), 9);
        Assert.Equal(meanThink, demand.GetProperty("thinkTimeSeconds").GetDouble(), 9);
        Assert.Contains("pilot.json", demand.GetProperty("source").GetString(), StringComparison.Ordinal);
        Assert.Equal(200 * uses / 6 / 3600, doc.RootElement.GetProperty("demandRequestsPerSecond").GetDouble(), 9);

        // A think-time export where a pilot report belongs, or an impossible working day: exit 2, named, nothing written.
        var bad = Path.Combine(dir, "bad");
        (exit, _, stderr) = await CliHarness.RunAsync("procure", plan, "--out", bad, "--pilot", thinkTimes);
        Assert.Equal(2, exit);
        Assert.Contains("think-times.json", stderr, StringComparison.Ordinal);
        (exit, _, stderr) = await CliHarness.RunAsync("procure", plan, "--out", bad, "--think-times", Path.Combine(dir, "missing.json"));
        Assert.Equal(2, exit);
        Assert.Contains("missing.json: file not found", stderr, StringComparison.Ordinal);
        (exit, _, stderr) = await CliHarness.RunAsync("procure", plan, "--out", bad, "--pilot", pilotJson, "--hours-per-day", "0");
        Assert.Equal(2, exit);
        Assert.Contains("--hours-per-day", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(bad));
    }

    [Theory]
    [InlineData("missing-plan.json", null, "file not found")]
    [InlineData("hw-profiles/procure-example.json", "h100-sxm", "expected hardware=USD")]
    [InlineData("hw-profiles/procure-example.json", "h999=3", "--price")]
    public async Task Procure_BadInput_ExitsTwoAndWritesNothing(string plan, string? price, string expected)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"procure-bad-{Guid.NewGuid():N}");
        string[] args = price is null
            ? ["procure", Path.Combine(CliHarness.RepoRoot, plan), "--out", dir]
            : ["procure", Path.Combine(CliHarness.RepoRoot, plan), "--out", dir, "--price", price];
        var (exit, _, stderr) = await CliHarness.RunAsync(args);
        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task Procure_ApiCandidateMeasuredAgainstAnEndpoint_UsesTheMeasuredLatency()
    {
        // The vendor's API stands in as serve-sim on loopback (real Kestrel, real HTTP): 400 ms to the first token, then
        // 100 tokens/s, far slower than the simulated wafer-scale device. procure must judge the API by what the run measured.
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 400, 100, "api");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var dir = CliHarness.TempDir();
        var run = Path.Combine(dir, "run");
        var backend = $"openai?name=vendor&url={Uri.EscapeDataString(server.BaseAddress.ToString())}&model=api&retries=0";
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--tasks", "3", "--repeats", "2", "--no-grade", "--max-tokens", "20", "--out", run);
        Assert.True(exit == 0, stderr);
        var plan = Path.Combine(dir, "plan.json");
        File.WriteAllText(plan, "{\"formatVersion\": 1, \"name\": \"api\", \"developers\": 20, \"demand\": {\"outputTokens\": 64}, \"candidates\": [" +
            "{\"hardware\": \"wse-3\", \"model\": \"llama-3.1-8b\", \"precision\": \"bf16\", \"latencyRunDirectory\": " + JsonSerializer.Serialize(run) + "}]}");

        string stdout;
        (exit, stdout, stderr) = await CliHarness.RunAsync("procure", plan, "--out", Path.Combine(dir, "out"), "--json");

        Assert.True(exit == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var c = doc.RootElement.GetProperty("candidates")[0];
        Assert.True(c.GetProperty("latencyMeasured").GetBoolean());
        Assert.Equal(6, c.GetProperty("latencyAttempts").GetInt32());
        Assert.InRange(c.GetProperty("ttftP99Ms").GetDouble(), 398, 1000);
        Assert.InRange(c.GetProperty("tpotP99Ms").GetDouble(), 9, 40);
        Assert.Contains("backend 'vendor'", c.GetProperty("latencySource").GetString(), StringComparison.Ordinal);
        Assert.Contains("MEASURED latency", doc.RootElement.GetProperty("verdict").GetString(), StringComparison.Ordinal);
        var csv = File.ReadAllLines(Path.Combine(dir, "out", "procurement.csv"));
        Assert.EndsWith(",false,measured", csv[1], StringComparison.Ordinal);
        Assert.Contains("latency: measured: 6 ok of 6 attempts", File.ReadAllText(Path.Combine(dir, "out", "procurement.md")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Procure_ProfileFittedToASweep_IsJudgedByItsLeftOutStepError()
    {
        // The user's own endpoint (serve-sim hosting the simulated H100 over real HTTP) swept at three loads, a profile
        // fitted to it, and a plan inside what the sweep measured: procure must set each latency margin against the fitted
        // profile's error on steps left out of its fit, as written beside it, not against the Hopper family's holdout band.
        var ct = TestContext.Current.CancellationToken;
        var dir = CliHarness.TempDir();
        await using var endpoint = await Backends.CreateRegistry().CreateAsync("hwsim?hw=h100-sxm&model=llama-3.1-8b", new BackendContext(TimeProvider.System, dir, _ => { }), ct);
        await using var server = await SimServer.StartAsync(endpoint.Client, new SimServerOptions { Port = 0, ModelId = "ep", Simulated = true }, TimeProvider.System, ct);
        var sweep = Path.Combine(dir, "sweep");
        var backend = $"openai?name=ep&url={Uri.EscapeDataString(server.BaseAddress.ToString())}&model=ep&retries=0";
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--tasks", "3", "--repeats", "2", "--no-grade", "--max-tokens", "32",
            "--sweep", "concurrency=1,2,4", "--out", sweep);
        Assert.True(exit == 0, stderr);
        var profiles = Path.Combine(dir, "profiles");
        (exit, var stdout, stderr) = await CliHarness.RunAsync("simulate", "calibrate", "--from-run", sweep, "--hw", "h100-sxm", "--model", "llama-3.1-8b", "--write", profiles);
        Assert.True(exit == 0, stderr);
        Assert.Contains("each step left out of the fit and predicted by the others (3 steps)", stdout, StringComparison.Ordinal);
        using var hardware = JsonDocument.Parse(File.ReadAllText(Path.Combine(profiles, "hardware.json")));
        var fit = hardware.RootElement.GetProperty("hardware").EnumerateArray().Single(h => h.GetProperty("id").GetString() == "h100-sxm-fitted").GetProperty("sweepFit");
        var prompt = (int)Math.Round(fit.GetProperty("inputTokensMin").GetDouble());
        var plan = Path.Combine(dir, "plan.json");
        File.WriteAllText(plan, "{\"formatVersion\": 1, \"name\": \"own\", \"developers\": 5, \"demand\": {\"inputTokens\": " + prompt + ", \"outputTokens\": 32}, \"candidates\": [" +
            "{\"hardware\": \"h100-sxm-fitted\", \"model\": \"llama-3.1-8b\", \"precision\": \"bf16\"}]}");

        (exit, stdout, stderr) = await CliHarness.RunAsync("procure", plan, "--profiles", profiles, "--out", Path.Combine(dir, "out"), "--json");

        Assert.True(exit == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var c = doc.RootElement.GetProperty("candidates")[0];
        Assert.Equal(fit.GetProperty("ttftWorstRatio").GetDouble(), c.GetProperty("ttftErrorBound").GetDouble());
        Assert.Equal(fit.GetProperty("tpotWorstRatio").GetDouble(), c.GetProperty("tpotErrorBound").GetDouble());
        Assert.Equal(3, c.GetProperty("fittedSweepError").GetProperty("steps").GetInt32());
        Assert.EndsWith(",own_sweep", File.ReadAllLines(Path.Combine(dir, "out", "procurement.csv"))[1], StringComparison.Ordinal);
        Assert.Contains("simulator error: leave-one-step-out error of the profile fitted to a measured sweep", File.ReadAllText(Path.Combine(dir, "out", "procurement.md")), StringComparison.Ordinal);

        // The same sweep named in the plan (relative to the plan's folder): procure fits the profile itself, to the same bounds.
        var direct = Path.Combine(dir, "direct.json");
        File.WriteAllText(direct, "{\"formatVersion\": 1, \"name\": \"own\", \"developers\": 5, \"demand\": {\"inputTokens\": " + prompt + ", \"outputTokens\": 32}, \"candidates\": [" +
            "{\"hardware\": \"h100-sxm\", \"model\": \"llama-3.1-8b\", \"precision\": \"bf16\", \"sweepRunDirectory\": \"sweep\"}]}");
        (exit, stdout, stderr) = await CliHarness.RunAsync("procure", direct, "--out", Path.Combine(dir, "out-direct"), "--json");
        Assert.True(exit == 0, stderr);
        using var directDoc = JsonDocument.Parse(stdout);
        var d = directDoc.RootElement.GetProperty("candidates")[0];
        Assert.Equal("h100-sxm-fitted", d.GetProperty("hardware").GetString());
        Assert.Equal(c.GetProperty("ttftErrorBound").GetDouble(), d.GetProperty("ttftErrorBound").GetDouble());
        Assert.Equal(c.GetProperty("tpotP99Ms").GetDouble(), d.GetProperty("tpotP99Ms").GetDouble());
        Assert.Contains("constants fitted to the sweep " + sweep, d.GetProperty("fittedFrom").GetString(), StringComparison.Ordinal);
    }
}
