using System.Text.Json;

namespace Spark.Eval.Cli.Tests;

/// <summary>spark-eval selftest as a real child process (it starts serve-sim in its own process): protocol choice and refusals.</summary>
public class SelfTestCommandTests
{
    [Theory]
    [InlineData(false, "HTTP/1.1")]
    [InlineData(true, "HTTP/2")]
    public async Task SelfTest_Protocol_StreamsOverItAndMatchesServerLog(bool http2, string protocol)
    {
        // A schedule loose enough that a loaded CI machine still releases some chunks by timer: a handler more than the whole
        // schedule late finds every chunk overdue, writes them unscheduled and leaves the lateness figures empty (5 ms / 5 ms flaked).
        string[] args = ["selftest", "--json", "-c", "2", "--rounds", "1", "--ttft-ms", "60", "--itl-ms", "30", "--tokens", "4", "--rt-priority", "0"];
        using var report = await RunJsonAsync(http2 ? [.. args, "--http2"] : args);
        var conditions = report.RootElement.GetProperty("conditions").GetString();
        Assert.StartsWith(http2 ? "HTTP/2" : "HTTP/1.1", conditions, StringComparison.Ordinal);
        // By default the measuring client re-runs itself with tiering and ready-to-run code off (--client-jit full).
        Assert.Contains("DOTNET_TieredCompilation=0 DOTNET_ReadyToRun=0 (child process)", conditions, StringComparison.Ordinal);
        // Both heaps are pre-faulted by default, and the line says so.
        Assert.Contains("its budget pre-faulted", conditions, StringComparison.Ordinal);
        Assert.Contains("--prefault-mb 576", conditions, StringComparison.Ordinal);
        var level = Assert.Single(report.RootElement.GetProperty("levels").EnumerateArray());
        // The server logged every request under the protocol asked for, and client and server agree on every chunk.
        Assert.Equal(protocol, level.GetProperty("protocol").GetString());
        Assert.Equal(2, level.GetProperty("requests").GetInt32());
        Assert.Equal(0, level.GetProperty("failed").GetInt32());
        Assert.Equal(0, level.GetProperty("count_mismatches").GetInt32());
        Assert.True(level.GetProperty("chunks").GetInt64() >= 2);
        // recv late (client stamp − schedule) is computed from every chunk an emission-clock timer released. A handler that came
        // after its whole schedule (150 ms; CI at load 10 per core, HTTP/2) finds every chunk overdue and writes it unscheduled:
        // then there is none to compute from, and the figures are absent rather than made up.
        var timed = level.GetProperty("chunks").GetInt64() - level.GetProperty("unscheduled_chunks").GetInt64();
        var expectedKind = timed > 0 ? JsonValueKind.Object : JsonValueKind.Null;
        Assert.True(expectedKind == level.GetProperty("receive_lateness_ms").ValueKind && expectedKind == level.GetProperty("emit_lateness_ms").ValueKind,
            $"{timed} timer-released chunks, yet receive_lateness_ms is {level.GetProperty("receive_lateness_ms").ValueKind} and emit_lateness_ms {level.GetProperty("emit_lateness_ms").ValueKind}");
        // CPU time per chunk: the client's from the runtime, serve-sim's from /proc (10 ms ticks: may read 0 in so short a run).
        Assert.True(level.GetProperty("client_cpu_us_per_chunk").GetDouble() > 0);
        Assert.True(level.GetProperty("server_cpu_us_per_chunk").GetDouble() >= 0);
        Assert.True(level.GetProperty("client_page_faults_per_chunk").GetDouble() >= 0);
        Assert.True(level.GetProperty("server_page_faults_per_chunk").GetDouble() >= 0);
    }

    [Fact]
    public async Task SelfTest_ClientJitTiered_MeasuresInThisProcessAndSaysSo()
    {
        using var report = await RunJsonAsync(
            ["selftest", "--json", "-c", "1", "--rounds", "1", "--ttft-ms", "5", "--itl-ms", "5", "--tokens", "3", "--rt-priority", "0", "--client-jit", "tiered", "--no-prefault"]);
        var conditions = report.RootElement.GetProperty("conditions").GetString();
        Assert.Contains("tiered JIT (default runtime settings)", conditions, StringComparison.Ordinal);
        Assert.Contains("heap not pre-faulted", conditions, StringComparison.Ordinal);
        Assert.DoesNotContain("--prefault-mb", conditions, StringComparison.Ordinal);
        Assert.Equal(0, Assert.Single(report.RootElement.GetProperty("levels").EnumerateArray()).GetProperty("failed").GetInt32());
    }

    [Fact]
    public async Task SelfTest_UnknownClientJit_RefusedWithFix()
    {
        var (exit, _, err) = await CliHarness.RunAsync("selftest", "--client-jit", "fast");

        Assert.Equal(SparkEvalCli.ExitBadInput, exit);
        Assert.Contains("--client-jit full or --client-jit tiered", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SelfTest_Http2WithRealTimeClock_RefusedWithFix()
    {
        var (exit, _, err) = await CliHarness.RunAsync("selftest", "--http2", "-c", "1");

        Assert.Equal(SparkEvalCli.ExitBadInput, exit);
        Assert.Contains("--rt-priority 0", err, StringComparison.Ordinal);
        Assert.Contains("--no-emission-clock", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeSim_Http2WithRealTimeClock_RefusedWithFix()
    {
        var (exit, _, err) = await CliHarness.RunAsync("serve-sim", "--port", "0", "--http2", "--rt-priority", "5");

        Assert.Equal(SparkEvalCli.ExitBadInput, exit);
        Assert.Contains("serve-sim: --http2", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeSim_NegativePrefault_RefusedWithFix()
    {
        var (exit, _, err) = await CliHarness.RunAsync("serve-sim", "--port", "0", "--prefault-mb", "-1");

        Assert.Equal(SparkEvalCli.ExitBadInput, exit);
        Assert.Contains("--prefault-mb in 0..65536", err, StringComparison.Ordinal);
    }

    /// <summary>Runs selftest as a real child process; asserts exit 0 and returns its JSON report.</summary>
    private static async Task<JsonDocument> RunJsonAsync(string[] args)
    {
        var ct = TestContext.Current.CancellationToken;
        using var process = CliHarness.Start(CliHarness.TempDir(), args);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        var stdout = await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await stderr}");
        return JsonDocument.Parse(stdout);
    }
}
