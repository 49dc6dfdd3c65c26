using Spark.Eval.Core;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting.Tests;

public sealed class PeerImportTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void FromAiperf_Fixture_MapsTheirMetricsOntoOurs()
    {
        var (manifest, summary) = PeerImport.FromAiperf(Path.Combine(Fixtures, "aiperf_profile_export_aiperf.json"), null, Now);
        var b = Assert.Single(summary.Backends);
        Assert.Equal("aiperf-qwen2.5-coder-7b-instruct", b.Backend);
        Assert.Equal(120.3, b.Metrics["ttft_ms"].P50);
        Assert.Equal(790.5, b.Metrics["e2e_ms"].P50);
        // AIPerf's inter_token_latency is our TPOT (docs/metrics.md).
        Assert.Equal(6.7, b.Metrics["tpot_ms"].P50);
        Assert.False(b.Metrics.ContainsKey("itl_ms"));
        Assert.Equal((200, 4), (b.Counts.Ok, b.Counts.Error));
        Assert.Equal(4 / 204.0, b.ErrorRate, 12);
        Assert.Equal(4.21, b.RequestThroughputRps);
        Assert.Equal(PeerImport.ImportedStatus, manifest.Status);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 2, 0, 5, 123, 456, TimeSpan.Zero), manifest.StartedUtc);
        Assert.Equal("Qwen/Qwen2.5-Coder-7B-Instruct", manifest.Backends[0].ModelReported);
        Assert.Contains("IMPORTED", summary.Notes[0], StringComparison.Ordinal);
    }

    [Fact]
    public void FromVllmBench_Fixture_MapsTheirMetricsOntoOurs()
    {
        var (_, summary) = PeerImport.FromVllmBench(Path.Combine(Fixtures, "vllm_bench_serve_result.json"), "peer", Now);
        var b = Assert.Single(summary.Backends);
        Assert.Equal("peer", b.Backend);
        Assert.Equal(128.4, b.Metrics["ttft_ms"].P50);
        Assert.Equal(281.5, b.Metrics["ttft_ms"].P99);
        Assert.Equal(6.9, b.Metrics["tpot_ms"].P50);
        Assert.Equal(6.5, b.Metrics["itl_ms"].P50);
        Assert.Equal(801.2, b.Metrics["e2e_ms"].P50);
        Assert.Equal((99, 1), (b.Counts.Ok, b.Counts.Error));
        Assert.Equal("imported: vLLM bench ttft", b.Metrics["ttft_ms"].Method);
    }

    [Fact]
    public void ImportedRun_ComparedWithSparkEvalRun_SetsMediansSideBySideWithoutAVerdict()
    {
        var dir = Path.Combine(_dir, "peer");
        var (manifest, summary) = PeerImport.FromVllmBench(Path.Combine(Fixtures, "vllm_bench_serve_result.json"), "peer", Now);
        PeerImport.Write(dir, manifest, summary);
        var imported = new RunDirectory(dir).Load();
        var ours = SyntheticRuns.Create("ours", seed: 3, tasks: 10, repeats: 3, ttftMedianMs: 100, graded: false);

        var result = RunComparison.Compare(imported, ours, new Dictionary<string, string> { ["peer"] = "sim-a" }, new Dictionary<string, double>());
        var ttft = result.Rows.Single(r => r.Metric == "ttft_p50_ms");
        Assert.Equal(128.4, ttft.Baseline);
        Assert.InRange(ttft.Candidate!.Value, 80, 125);
        Assert.Equal(ttft.Candidate / 128.4, ttft.Change);
        Assert.Equal(RunComparison.NotTested, ttft.Verdict);
        Assert.Contains("imported summary", ttft.Method, StringComparison.Ordinal);
        Assert.False(result.Regressed);
        Assert.Throws<InputException>(() => PeerImport.Write(dir, manifest, summary));
    }

    [Fact]
    public void FromAiperf_PerRequestJsonlInstead_IsBadInputNamingTheFix()
    {
        var path = Path.Combine(_dir, "profile_export.json");
        File.WriteAllText(path, "{\"metadata\": {\"session_num\": 0}, \"metrics\": {}, \"error\": null}");
        var ex = Assert.Throws<InputException>(() => PeerImport.FromAiperf(path, null, Now));
        Assert.Contains("profile_export_aiperf.json", ex.Message, StringComparison.Ordinal);
        Assert.StartsWith(path, ex.Message, StringComparison.Ordinal);
    }
}
