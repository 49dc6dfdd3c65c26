using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Cli.Tests;

public sealed class CalibrateCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-calibrate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Calibrate_SkipRuntime_WritesAnAssumptionProfileTheCatalogLoads()
    {
        var target = Path.Combine(_dir, "cpu-local.json");
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var exit = await SparkEvalCli.RunAsync(["calibrate", "--skip-runtime", "--seconds", "0.2", "--out", target], stdout, stderr, TestContext.Current.CancellationToken);

        Assert.True(exit == 0, stderr.ToString());
        var parsed = ProfileCatalog.ParseHardware(target, await File.ReadAllBytesAsync(target, TestContext.Current.CancellationToken));
        var cpu = Assert.Single(parsed);
        Assert.Equal("cpu-local", cpu.Id);
        Assert.True(cpu.MemoryBandwidthGBps > 0);
        Assert.Empty(cpu.WeightReadGBps);
        Assert.Contains(cpu.Sources, s => s.Field == "stepOverheadMs" && s.Quote.StartsWith("assumption", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Calibrate_BadThreads_IsAnInputError()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var exit = await SparkEvalCli.RunAsync(["calibrate", "--threads", "0", "--out", Path.Combine(_dir, "x.json")], stdout, stderr, TestContext.Current.CancellationToken);

        Assert.Equal(2, exit);
        Assert.Contains("--threads", stderr.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "x.json")));
    }
}
