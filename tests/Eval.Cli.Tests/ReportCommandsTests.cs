using System.Text.Json;

namespace Spark.Eval.Cli.Tests;

public class ReportCommandsTests
{
    /// <summary>Tolerances no noise can exceed (TPOT here is ~0.05 ms, so one scheduler stall on a loaded machine multiplies it by hundreds): with them the gate must pass.</summary>
    private const string Lenient = "ttft_p50_ms=1000000%,e2e_p50_ms=1000000%,tpot_p50_ms=1000000%,error_rate=1,flow_in_flow_ratio=1,pass_rate=1";

    private static async Task<string> RunAsync(string root, string name, int ttftMs)
    {
        var dir = Path.Combine(root, name);
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", $"sim?name=x&ttft_ms={ttftMs}&tokens_per_s=20000",
            "--repeats", "3", "--warmup", "0", "--concurrency", "2", "--no-grade", "--out", dir);
        Assert.True(exit == 0, stderr);
        return dir;
    }

    [Fact]
    public async Task CompareAndHistory_SlowerCandidate_GateFailsAndHistoryShowsBothRuns()
    {
        var root = CliHarness.TempDir();
        var baseline = await RunAsync(root, "a", 5);
        var candidate = await RunAsync(root, "b", 40);
        Assert.True(File.Exists(Path.Combine(baseline, "report.html")));
        Assert.True(File.Exists(Path.Combine(candidate, "plots", "ttft_cdf.png")));

        var (exit, stdout, stderr) = await CliHarness.RunAsync("compare", baseline, candidate, "--out", Path.Combine(root, "compare.md"));
        Assert.Equal(1, exit);
        Assert.Contains("REGRESSED", stdout, StringComparison.Ordinal);
        Assert.Contains("REGRESSION: x ttft_p50_ms", stderr, StringComparison.Ordinal);
        Assert.Contains("**REGRESSED**", File.ReadAllText(Path.Combine(root, "compare.md")), StringComparison.Ordinal);

        var (tolerated, _, _) = await CliHarness.RunAsync("compare", baseline, candidate, "--tolerance", Lenient);
        Assert.Equal(0, tolerated);

        // Only TTFT differs by construction; on a loaded machine the other metrics' noise must not decide this.
        var (_, json, _) = await CliHarness.RunAsync("compare", candidate, baseline, "--json");
        var ttft = JsonDocument.Parse(json).RootElement.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("metric").GetString() == "ttft_p50_ms");
        Assert.Equal("improved", ttft.GetProperty("verdict").GetString());

        var (historyExit, history, historyErr) = await CliHarness.RunAsync("history", Path.Combine(root, "history.sqlite"), "--metric", "ttft_p50_ms", "--json");
        Assert.True(historyExit == 0, historyErr);
        var points = JsonDocument.Parse(history).RootElement.EnumerateArray().ToList();
        Assert.Equal(2, points.Count);
        Assert.True(points[1].GetProperty("value").GetDouble() > points[0].GetProperty("value").GetDouble());
    }

    [Theory]
    [InlineData("--tolerance", "bogus=1")]
    [InlineData("--tolerance", "ttft_p50_ms=-3")]
    [InlineData("--backend", "nobody")]
    public async Task Compare_BadOption_ExitsTwoNamingTheFix(string option, string value)
    {
        var root = CliHarness.TempDir();
        var run = await RunAsync(root, "a", 5);
        var (exit, _, stderr) = await CliHarness.RunAsync("compare", run, run, option, value);
        Assert.Equal(2, exit);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task History_NotADatabase_ExitsTwoAndLeavesTheFileAlone()
    {
        var file = Path.Combine(CliHarness.TempDir(), "history.sqlite");
        await File.WriteAllTextAsync(file, "not sqlite", TestContext.Current.CancellationToken);
        var (exit, _, stderr) = await CliHarness.RunAsync("history", file);
        Assert.Equal(2, exit);
        Assert.Contains("not a readable SQLite history store", stderr, StringComparison.Ordinal);
        Assert.Equal("not sqlite", await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken));
    }
}
