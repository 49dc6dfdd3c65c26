using System.Text.Json;

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
}
