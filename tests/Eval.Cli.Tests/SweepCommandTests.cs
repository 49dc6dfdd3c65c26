using Microsoft.Extensions.AI;
using System.Text.Json.Nodes;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// <c>run --sweep</c> against real endpoints (serve-sim's Kestrel on loopback, the in-process llama.cpp runtime) and
/// <c>simulate calibrate --from-run</c> on a sweep whose endpoint has known constants.
/// </summary>
public sealed class SweepCommandTests
{
    [Fact]
    public async Task Sweep_ServeSimKnownTtftAndRate_CurveShowsThemAtEveryLoad()
    {
        // A constant-rate endpoint: TTFT 120 ms, 250 tokens/s (TPOT 4 ms), whatever the load. The curve must show both at
        // each step, and the request throughput must grow with the concurrency (the requests really overlap).
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 120, 250, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0, Simulated = true }, TimeProvider.System, ct);
        var dir = Path.Combine(CliHarness.TempDir(), "sweep");
        var backend = $"openai?name=ep&url={Uri.EscapeDataString(server.BaseAddress.ToString())}&model=sim&retries=0";

        var (exit, stdout, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--tasks", "4", "--repeats", "2", "--warmup", "1",
            "--no-grade", "--max-tokens", "40", "--sweep", "concurrency=1,4", "--sweep-slo", "ttft_p99_ms=1000,tpot_p50_ms=20", "--out", dir);

        Assert.True(exit == 0, stderr);
        var sweep = SweepAnalysis.Read(dir);
        Assert.Equal("concurrency", sweep.Key);
        Assert.Equal([1.0, 4], sweep.Points.Select(p => p.Load));
        foreach (var p in sweep.Points)
        {
            Assert.Equal(8, p.Ok);
            // Never below the sim's 120 ms / 4 ms (PreciseDelay waits out the coarse system timer), and well under what a wrong
            // start (queueing, warm-up) or coalesced tokens (TPOT ~0) would give; the upper bounds leave room for a loaded 2-core
            // machine (speed is a benchmark's business, not this test's).
            Assert.InRange(p.TtftP50Ms!.Value, 118, 400);
            Assert.InRange(p.TpotP50Ms!.Value, 3.6, 8);
            Assert.True(p.MeetsSlo);
            Assert.True(File.Exists(Path.Combine(dir, sweep.Steps[p.Step - 1].RunDir, "attempts.jsonl")));
        }

        Assert.True(sweep.Points[1].RequestThroughputRps > 2 * sweep.Points[0].RequestThroughputRps,
            $"c4 {sweep.Points[1].RequestThroughputRps} req/s vs c1 {sweep.Points[0].RequestThroughputRps}");
        // serve-sim says its timings are modelled: the curve says so too.
        Assert.All(sweep.Points, p => Assert.True(p.Simulated));
        var verdict = Assert.Single(sweep.Verdicts);
        Assert.Equal(4, verdict.HighestPassingLoad);
        Assert.Contains("verdict: ep (SIMULATED): meets the SLO", stdout, StringComparison.Ordinal);
        Assert.Contains("ep (SIM)", stdout, StringComparison.Ordinal);
        var csv = File.ReadAllLines(Path.Combine(dir, "sweep.csv"));
        Assert.Equal(3, csv.Length);
        Assert.StartsWith("backend,simulated,concurrency,", csv[0], StringComparison.Ordinal);
        var html = File.ReadAllText(Path.Combine(dir, "sweep.html"));
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains("SLO verdict", html, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "plots", "sweep_ttft.png")));
        Assert.Equal(SweepReport.CurrentFormatVersion, JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "sweep.json")))!["formatVersion"]!.GetValue<int>());
    }

    [Fact]
    public async Task Sweep_TightSlo_VerdictNamesTheBreachAndNoLoadPasses()
    {
        // The first token is scheduled 20 ms after the request at every load (lateness only adds): a 10 ms bound can never be
        // met, and the verdict says by how much.
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 20, 250, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var dir = Path.Combine(CliHarness.TempDir(), "sweep");
        var backend = $"openai?name=ep&url={Uri.EscapeDataString(server.BaseAddress.ToString())}&model=sim&retries=0";

        var (exit, stdout, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--tasks", "2", "--repeats", "1", "--warmup", "0",
            "--no-grade", "--max-tokens", "20", "--sweep", "concurrency=1,2", "--sweep-slo", "ttft_p50_ms=10", "--json", "--out", dir);

        Assert.True(exit == 0, stderr);
        var json = JsonNode.Parse(stdout)!;
        Assert.Equal(2, json["points"]!.AsArray().Count);
        Assert.All(json["points"]!.AsArray(), p => Assert.False(p!["meetsSlo"]!.GetValue<bool>()));
        Assert.Contains("no load meets the SLO (ttft_p50_ms ≤ 10); at concurrency 1: ttft_p50_ms = ", json["verdicts"]![0]!["text"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Null(json["verdicts"]![0]!["highestPassingLoad"]);
    }

    /// <summary>An endpoint that slows with load: its first token waits 30 ms per request in flight (itself included).</summary>
    private sealed class QueueingEndpoint(IChatClient inner) : DelegatingChatClient(inner)
    {
        private int _inFlight;

        public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var load = Interlocked.Increment(ref _inFlight);
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(30 * load), cancellationToken);
                await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken))
                {
                    yield return update;
                }
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }

    [Fact]
    public async Task SweepSearch_EndpointSlowingWithLoad_BisectsToTheHighestConcurrencyMeetingTheSlo()
    {
        // TTFT ≈ 30 ms × requests in flight: a 105 ms p50 bound holds up to concurrency 3 and breaks at 4. The listed steps
        // (1, 8) only bracket it; the search must run 4 (miss), 2 (meet), 3 (meet) and stop with the bracket closed.
        var ct = TestContext.Current.CancellationToken;
        var sim = new QueueingEndpoint(new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 1, 1000, "sim"));
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var dir = Path.Combine(CliHarness.TempDir(), "sweep");
        var backend = $"openai?name=ep&url={Uri.EscapeDataString(server.BaseAddress.ToString())}&model=sim&retries=0";

        var (exit, stdout, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--tasks", "8", "--repeats", "2", "--warmup", "0",
            "--no-grade", "--max-tokens", "10", "--sweep", "concurrency=1,8", "--sweep-slo", "ttft_p50_ms=105", "--sweep-search", "5", "--out", dir);

        Assert.True(exit == 0, stderr);
        var sweep = SweepAnalysis.Read(dir);
        Assert.Equal([1.0, 8, 4, 2, 3], sweep.Steps.Select(s => s.Load));
        Assert.Equal([false, false, true, true, true], sweep.Steps.Select(s => s.Searched));
        var verdict = Assert.Single(sweep.Verdicts);
        Assert.Equal(3, verdict.HighestPassingLoad);
        Assert.Equal(4, verdict.LowestFailingLoad);
        Assert.Contains("highest load meeting the SLO (ttft_p50_ms ≤ 105): concurrency 3", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sweep_LocalTinyModel_EveryStepMeasuredByTheRealRuntime()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "sweep");
        var backend = $"local?name=tiny&model={Path.Combine(CliHarness.RepoRoot, "models", "tiny.gguf")}&threads=1&ctx=2048";

        var (exit, stdout, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--tasks", "2", "--repeats", "1", "--warmup", "0",
            "--no-grade", "--max-tokens", "8", "--sweep", "concurrency=1,2", "--out", dir);

        Assert.True(exit == 0, stderr);
        var sweep = SweepAnalysis.Read(dir);
        Assert.Equal(2, sweep.Steps.Count);
        Assert.All(sweep.Points, p =>
        {
            Assert.False(p.Simulated);
            Assert.Equal(2, p.Ok);
            Assert.True(p.TtftP50Ms > 0 && p.OutputTokenThroughputTps > 0, $"step {p.Step}: TTFT {p.TtftP50Ms}, {p.OutputTokenThroughputTps} tok/s");
            Assert.True(p.MeanInputTokens > 10);
        });
        Assert.Empty(sweep.Verdicts);
        Assert.Contains("tiny", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("(SIM)", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("load=1,2", "unknown sweep key 'load'")]
    [InlineData("concurrency=", "the list of values is empty")]
    [InlineData("concurrency=8,2", "not above the value before it")]
    public async Task Sweep_BadList_Exit2AndNothingWritten(string sweep, string expected)
    {
        var dir = Path.Combine(CliHarness.TempDir(), "sweep");
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim", "--tasks", "1", "--sweep", sweep, "--out", dir);

        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Theory]
    [InlineData(new[] { "--sweep", "concurrency=1,2", "--concurrency", "4" }, "--sweep concurrency=1,2 with --concurrency")]
    [InlineData(new[] { "--sweep-slo", "ttft_p99_ms=5" }, "--sweep-slo/--sweep-search without --sweep")]
    [InlineData(new[] { "--sweep", "concurrency=1,2", "--fail-if", "ttft_p99_ms>5" }, "a sweep's gate is its SLO")]
    [InlineData(new[] { "--sweep", "concurrency=1,2", "--sweep-search", "2" }, "--sweep-search without --sweep-slo")]
    [InlineData(new[] { "--sweep", "concurrency=1,2", "--sweep-slo", "ttft_p99_ms=5", "--sweep-search", "9" }, "--sweep-search 9: must be 0..8")]
    [InlineData(new[] { "--sweep", "concurrency=1,2", "--sweep-slo", "ttft_p99_ms=5", "--sweep-search", "2", "--backend", "sim?name=two" }, "--sweep-search with 2 backends")]
    [InlineData(new[] { "--sweep", "concurrency=1,2", "--sweep-slo", "tokens=5" }, "'tokens' is not a latency figure or error_rate")]
    public async Task Sweep_ConflictingOptions_Exit2(string[] extra, string expected)
    {
        var dir = Path.Combine(CliHarness.TempDir(), "sweep");
        var (exit, _, stderr) = await CliHarness.RunAsync(["run", "--backend", "sim", "--tasks", "1", "--no-grade", "--out", dir, .. extra]);

        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task CalibrateFromRun_NoSweepJson_Exit2NamingTheFile()
    {
        var dir = CliHarness.TempDir();
        var (exit, _, stderr) = await CliHarness.RunAsync("simulate", "calibrate", "--from-run", dir, "--hw", "h100-sxm", "--model", "llama-3.1-8b");

        Assert.Equal(2, exit);
        Assert.Contains(Path.Combine(dir, "sweep.json") + ": file not found", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CalibrateFromRun_ServeSimWithKnownConstants_RecoversThemAndWritesALoadableProfile()
    {
        // The endpoint: serve-sim (Kestrel on loopback) hosting the hardware simulator on an H100 profile whose decode
        // efficiency and per-request overhead were changed to known values (0.5 and 40 ms; the catalog says 0.78 and 5).
        var ct = TestContext.Current.CancellationToken;
        var work = CliHarness.TempDir();
        var (truth, catalogBandwidth) = WriteKnownH100Profiles(work);
        Assert.True(Math.Abs(catalogBandwidth - 0.5) > 0.1, "the catalog's constant must differ from the truth, or the test proves nothing");

        await using var endpoint = await Backends.CreateRegistry().CreateAsync($"hwsim?hw=h100-sxm&model=llama-3.1-8b&profiles={truth}",
            new BackendContext(TimeProvider.System, work, _ => { }), ct);
        await using var server = await SimServer.StartAsync(endpoint.Client, new SimServerOptions { Port = 0, ModelId = "ep", Simulated = true }, TimeProvider.System, ct);
        var sweepDir = Path.Combine(work, "sweep");
        var backend = $"openai?name=ep&url={Uri.EscapeDataString(server.BaseAddress.ToString())}&model=ep&retries=0";
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--tasks", "4", "--repeats", "2", "--warmup", "1",
            "--no-grade", "--max-tokens", "32", "--sweep", "concurrency=1,4", "--out", sweepDir);
        Assert.True(exit == 0, stderr);

        var derived = Path.Combine(work, "derived");
        (exit, var stdout, stderr) = await CliHarness.RunAsync("simulate", "calibrate", "--from-run", sweepDir, "--hw", "h100-sxm", "--model", "llama-3.1-8b",
            "--write", derived, "--apply-to", "h200");

        Assert.True(exit == 0, stderr);
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(derived, "hardware.json")))!["hardware"]!.AsArray();
        var fitted = file.Single(h => h!["id"]!.GetValue<string>() == "h100-sxm-fitted")!;
        Assert.InRange(fitted["bandwidthEfficiency"]!.GetValue<double>(), 0.46, 0.54);
        Assert.InRange(fitted["requestOverheadMs"]!.GetValue<double>(), 30, 52);
        Assert.Equal(fitted["bandwidthEfficiency"]!.GetValue<double>(), file.Single(h => h!["id"]!.GetValue<string>() == "h200-fitted")!["bandwidthEfficiency"]!.GetValue<double>());
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"bandwidthEfficiency: {catalogBandwidth:G4} → 0."), stdout, StringComparison.Ordinal);
        Assert.Matches(@"median absolute error [0-9.]+ % → [0-9.]+ %", stdout);
        // The tasks' prompts differ in length, so the steps are replayed with their measured spread, not in lockstep.
        Assert.Matches(@"  lengths: prompts uniform ± [1-9][0-9, ]* %, answers ± [0-9][0-9, ]* % around each step's means", stdout);
        // Two steps cannot be checked on a left-out step; the output says so rather than print an error it does not have.
        Assert.Contains("not checked on left-out steps: that needs 3 steps with measured throughput, and the sweep has 2 step(s)", stdout, StringComparison.Ordinal);

        // The derived folder is a catalog the simulator loads, and it is never overwritten.
        (exit, stdout, stderr) = await CliHarness.RunAsync("simulate", "--profiles", derived, "--hw", "h200-fitted", "--model", "llama-3.1-8b");
        Assert.True(exit == 0, stderr);
        (exit, _, stderr) = await CliHarness.RunAsync("simulate", "calibrate", "--from-run", sweepDir, "--hw", "h100-sxm", "--model", "llama-3.1-8b", "--write", derived);
        Assert.Equal(2, exit);
        Assert.Contains("never overwritten", stderr, StringComparison.Ordinal);
    }
    [Fact]
    public async Task CalibrateFromRun_RateSweepAgainstServeSim_RecoversTheConstantsAndNamesTheArrivals()
    {
        // The same known endpoint as above, loaded open loop: gamma arrivals (burstiness 2) at 2 and 6 requests/s.
        var ct = TestContext.Current.CancellationToken;
        var work = CliHarness.TempDir();
        var (truth, _) = WriteKnownH100Profiles(work);

        await using var endpoint = await Backends.CreateRegistry().CreateAsync($"hwsim?hw=h100-sxm&model=llama-3.1-8b&profiles={truth}",
            new BackendContext(TimeProvider.System, work, _ => { }), ct);
        await using var server = await SimServer.StartAsync(endpoint.Client, new SimServerOptions { Port = 0, ModelId = "ep", Simulated = true }, TimeProvider.System, ct);
        var sweepDir = Path.Combine(work, "sweep");
        var backend = $"openai?name=ep&url={Uri.EscapeDataString(server.BaseAddress.ToString())}&model=ep&retries=0";
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", backend, "--tasks", "4", "--repeats", "2", "--warmup", "1",
            "--no-grade", "--max-tokens", "32", "--sweep", "rate=2,6", "--arrival", "gamma", "--burstiness", "2", "--out", sweepDir);
        Assert.True(exit == 0, stderr);

        (exit, var stdout, stderr) = await CliHarness.RunAsync("simulate", "calibrate", "--from-run", sweepDir, "--hw", "h100-sxm", "--model", "llama-3.1-8b",
            "--write", Path.Combine(work, "derived"));

        Assert.True(exit == 0, stderr);
        Assert.Contains("load: open loop: each step's rate with gamma arrivals, burstiness 2 (from the steps' manifests)", stdout, StringComparison.Ordinal);
        Assert.Contains("ep-r6-itl_ms", stdout, StringComparison.Ordinal);
        var fitted = JsonNode.Parse(File.ReadAllText(Path.Combine(work, "derived", "hardware.json")))!["hardware"]!.AsArray()
            .Single(h => h!["id"]!.GetValue<string>() == "h100-sxm-fitted")!;
        Assert.InRange(fitted["bandwidthEfficiency"]!.GetValue<double>(), 0.46, 0.54);
        Assert.InRange(fitted["requestOverheadMs"]!.GetValue<double>(), 30, 52);
    }

    /// <summary>A profiles folder under <paramref name="work"/> whose h100-sxm streams at 0.5 of peak with a 40 ms request overhead; returns it and the catalog's own bandwidth efficiency.</summary>
    private static (string Folder, double CatalogBandwidth) WriteKnownH100Profiles(string work)
    {
        var truth = Path.Combine(work, "truth");
        Directory.CreateDirectory(truth);
        File.Copy(Path.Combine(CliHarness.RepoRoot, "hw-profiles", "models.json"), Path.Combine(truth, "models.json"));
        var hardware = JsonNode.Parse(File.ReadAllText(Path.Combine(CliHarness.RepoRoot, "hw-profiles", "hardware.json")))!;
        var h100 = hardware["hardware"]!.AsArray().Single(h => h!["id"]!.GetValue<string>() == "h100-sxm")!;
        var catalogBandwidth = h100["bandwidthEfficiency"]!.GetValue<double>();
        h100["bandwidthEfficiency"] = 0.5;
        h100["requestOverheadMs"] = 40.0;
        File.WriteAllText(Path.Combine(truth, "hardware.json"), hardware.ToJsonString());
        return (truth, catalogBandwidth);
    }
}
