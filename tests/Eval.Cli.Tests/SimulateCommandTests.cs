using System.Text.Json;

namespace Spark.Eval.Cli.Tests;

public class SimulateCommandTests
{
    private static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await SparkEvalCli.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Simulate_JsonSweep_PrintsOneDocumentedObject()
    {
        var (exit, stdout, stderr) = await RunAsync("simulate", "--hw", "h100-sxm", "--model", "llama-3.1-8b", "--precision", "fp8",
            "--input-tokens", "512", "--output-tokens", "64", "--concurrency", "1,16", "--requests", "64",
            "--slo", "ttft_ms=1000,tpot_ms=50", "--developers", "100", "--json");
        Assert.True(exit == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("simulated").GetBoolean());
        Assert.Equal("h100-sxm", root.GetProperty("hardware").GetString());
        var points = root.GetProperty("points");
        Assert.Equal(2, points.GetArrayLength());
        var single = points[0].GetProperty("stats");
        var loaded = points[1].GetProperty("stats");
        Assert.True(loaded.GetProperty("outputTokensPerSecond").GetDouble() > single.GetProperty("outputTokensPerSecond").GetDouble());
        Assert.True(root.GetProperty("saturation").GetProperty("concurrency").GetInt32() >= 1);
        Assert.True(root.GetProperty("plan").GetProperty("devices").GetInt32() >= 1);
        // How far to trust it: the worst holdout error of the Hopper rows measuring each latency (or any family's under load).
        Assert.True(root.GetProperty("ttftErrorBound").GetDouble() >= 1);
        Assert.True(root.GetProperty("tpotErrorBound").GetDouble() >= 1);
    }

    [Fact]
    public async Task Simulate_SendGap_IsSaidInTheHeaderAndTheJson()
    {
        var (exit, stdout, stderr) = await RunAsync("simulate", "--hw", "h100-sxm", "--model", "llama-3.1-8b", "-c", "10", "--requests", "64", "--no-saturation", "--send-gap-ms", "0.2");
        Assert.True(exit == 0, stderr);
        Assert.Contains("requests due together sent 0.2 ms apart", stdout, StringComparison.Ordinal);
        (exit, stdout, stderr) = await RunAsync("simulate", "--hw", "h100-sxm", "--model", "llama-3.1-8b", "-c", "10", "--requests", "64", "--no-saturation", "--send-gap-ms", "0.2", "--json");
        Assert.True(exit == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(0.2, doc.RootElement.GetProperty("sendGapMs").GetDouble(), 9);
    }

    [Fact]
    public async Task Simulate_Text_SaysTheErrorOnUnseenData_OrThatItIsUnknown()
    {
        var (exit, stdout, stderr) = await RunAsync("simulate", "--hw", "h100-sxm", "--model", "llama-3.1-8b", "--precision", "fp8", "-c", "1", "--requests", "64", "--no-saturation");
        Assert.True(exit == 0, stderr);
        Assert.Matches(@"error on unseen data \(nvidia-hopper holdout rows, or every family's under load where it has none\): TTFT up to \d+\.\d\d×, TPOT up to \d+\.\d\d×", stdout);

        (exit, stdout, stderr) = await RunAsync("simulate", "--hw", "b200", "--model", "llama-3.1-8b", "--precision", "fp8", "-c", "1", "--requests", "64", "--no-saturation");
        Assert.True(exit == 0, stderr);
        Assert.Contains("error on unseen data: unknown (no holdout row of the nvidia-blackwell family)", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("sold as an API", stdout, StringComparison.Ordinal);

        // A device its vendor sells only by the token: the figures leave out the internet and the vendor's front end.
        (exit, stdout, stderr) = await RunAsync("simulate", "--hw", "wse-3", "--model", "llama-3.1-8b", "-c", "1", "--requests", "64", "--no-saturation");
        Assert.True(exit == 0, stderr);
        Assert.Contains("sold as an API: these are the devices' own latencies", stdout, StringComparison.Ordinal);
        Assert.Contains("latencyRunDirectory", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--hw", "h999", "no hardware profile")]
    [InlineData("--precision", "fp3", "--precision 'fp3': unknown")]
    [InlineData("--concurrency", "x", "is not a number")]
    [InlineData("--send-gap-ms", "-1", "--send-gap-ms -1: not a gap in milliseconds")]
    [InlineData("--rate", "2", "an open loop's requests leave on their own schedule")]
    public async Task Simulate_BadInput_ExitsTwoWithFix(string option, string value, string expected)
    {
        var args = new List<string> { "simulate", "--hw", "h100-sxm", "--model", "llama-3.1-8b", "--requests", "8" };
        if (option == "--rate")
        {
            // A send gap belongs to a closed loop.
            args.AddRange(["--send-gap-ms", "0.2"]);
        }

        var at = args.IndexOf(option);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args.AddRange([option, value]);
        }

        var (exit, _, stderr) = await RunAsync([.. args]);
        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbeddedDefaults_AreAtLeastThreeSimulatedHwsimProfiles()
    {
        var hwsim = EmbeddedDefaults.Backends.Where(b => b.StartsWith("hwsim?", StringComparison.Ordinal)).ToList();
        Assert.True(hwsim.Count >= 3);
        var registry = Spark.Eval.Cli.Backends.CreateRegistry();
        var context = new Core.Backends.BackendContext(TimeProvider.System, CliHarness.RepoRoot, _ => { });
        var hardware = new HashSet<string>(StringComparer.Ordinal);
        foreach (var spec in hwsim)
        {
            await using var handle = await registry.CreateAsync(spec, context, TestContext.Current.CancellationToken);
            Assert.Equal("hwsim", handle.Info.Kind);
            Assert.True(handle.Info.Simulated);
            Assert.StartsWith("SIMULATED", handle.Info.Description, StringComparison.Ordinal);
            hardware.Add(((Spark.Eval.Simulator.Backend.HwSimChatClient)handle.Client).Latency.Hardware.Family);
        }

        Assert.True(hardware.Count >= 3, "the defaults compare different device families");
    }
}
