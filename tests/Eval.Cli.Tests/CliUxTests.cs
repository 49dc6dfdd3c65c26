namespace Spark.Eval.Cli.Tests;

/// <summary>What a new user meets first: hints for typos, one SLO syntax, a table that fits 100 columns.</summary>
public class CliUxTests
{
    [Theory]
    [InlineData(new[] { "summarise" }, "did you mean 'summarize'?")]
    [InlineData(new[] { "run", "--repeat", "2" }, "did you mean '--repeats'?")]
    [InlineData(new[] { "simulate", "--slo-ttft", "500" }, "did you mean '--slo-ttft-ms'?")]
    public async Task Typo_ExitsTwoWithDidYouMean(string[] args, string hint)
    {
        var (exit, _, stderr) = await CliHarness.RunAsync(args);
        Assert.Equal(2, exit);
        Assert.Contains(hint, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SloInEitherSpelling_SameManifestAndTableFitsHundredColumns()
    {
        var root = CliHarness.TempDir();
        const string Fast = "sim?name=fast-backend-with-a-long-name&ttft_ms=5&tokens_per_s=20000";
        var (exitA, stdoutA, errA) = await CliHarness.RunAsync("run", "--backend", Fast, "--tasks", "2", "--repeats", "1", "--warmup", "0", "--no-grade",
            "--slo", "ttft_ms=300,e2e_ms=2000", "--out", Path.Combine(root, "a"));
        var (exitB, _, errB) = await CliHarness.RunAsync("run", "--backend", Fast, "--tasks", "2", "--repeats", "1", "--warmup", "0", "--no-grade",
            "--slo-ttft-ms", "300", "--slo-e2e-ms", "2000", "--out", Path.Combine(root, "b"));
        Assert.True(exitA == 0, errA);
        Assert.True(exitB == 0, errB);
        static string Slo(string dir) => System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement.GetProperty("plan").GetProperty("slo").GetRawText();
        Assert.Equal(Slo(Path.Combine(root, "a")), Slo(Path.Combine(root, "b")));
        Assert.Contains("300", Slo(Path.Combine(root, "a")), StringComparison.Ordinal);
        Assert.All(stdoutA.Split('\n'), l => Assert.True(l.TrimEnd('\r').Length <= 100, l));
        Assert.Contains("goodput", stdoutA.Split('\n')[0], StringComparison.Ordinal);
        Assert.Contains("SLO (TTFT ≤ 300 ms, E2E ≤ 2000 ms)", stdoutA, StringComparison.Ordinal);
        Assert.Contains("verdict:", stdoutA, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SameTargetInBothSpellings_ExitsTwo()
    {
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim?name=a", "--slo", "ttft_ms=300", "--slo-ttft-ms", "200", "--out", Path.Combine(CliHarness.TempDir(), "x"));
        Assert.Equal(2, exit);
        Assert.Contains("both set ttft_ms", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_EveryAttemptRefused_PrintsTheErrorClassWithAnExampleMessage()
    {
        // A loopback port nobody listens on: every attempt fails with the connection refused.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", $"openai?name=down&url=http://127.0.0.1:{port}/v1&model=m&retries=0",
            "--tasks", "2", "--repeats", "1", "--warmup", "0", "--no-grade", "--out", Path.Combine(CliHarness.TempDir(), "run"));
        Assert.Equal(1, exit);
        Assert.Contains("FAILED: every attempt failed", stderr, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^  \S+ × 2 \(down\): e\.g\. .+", stderr);
    }
}
