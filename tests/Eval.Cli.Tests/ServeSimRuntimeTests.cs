using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// A plainly started serve-sim as a real process: it re-launches itself under its tuned runtime, warms up, serves, and
/// prints its lateness when stopped; and selftest --via run, which drives the user's serve-sim + run path.
/// </summary>
public sealed class ServeSimRuntimeTests
{
    [Fact]
    public async Task ServeSim_PlainStart_TunedChildWarmedUpAndLatenessPrintedAtStop()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "signals are sent with kill(1)");
        var ct = TestContext.Current.CancellationToken;
        using var process = CliHarness.Start(CliHarness.TempDir(), "serve-sim", "--port", "0", "--backend", "sim?ttft_ms=5&tokens_per_s=200", "--rt-priority", "0");
        var stderr = process.StandardError.ReadToEndAsync(ct);
        try
        {
            string? line;
            while ((line = await process.StandardOutput.ReadLineAsync(ct)) is not null && !line.Contains("listening on ", StringComparison.Ordinal))
            {
            }

            Assert.NotNull(line);
            // The listening line comes from the child, which runs under the tuned settings and was warmed up.
            Assert.Contains("runtime: tuned (DOTNET_TieredCompilation=0", line, StringComparison.Ordinal);
            Assert.Contains("DOTNET_gcServer=0", line, StringComparison.Ordinal);
            Assert.Contains("warmed up with 8 concurrent streams", line, StringComparison.Ordinal);
            var baseUrl = new Uri(line[(line.IndexOf("listening on ", StringComparison.Ordinal) + 13)..].Split(' ')[0]);

            using var http = new HttpClient { BaseAddress = baseUrl };
            var body = "{\"model\":\"sim\",\"stream\":true,\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
            using (var response = await http.PostAsync(new Uri("chat/completions", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"), ct))
            {
                Assert.Contains("[DONE]", await response.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
            }

            // The warm-up's requests are forgotten: the endpoint counts this one request only.
            using var lateness = JsonDocument.Parse(await http.GetStringAsync(new Uri("_spark/lateness", UriKind.Relative), ct));
            Assert.Equal(1, lateness.RootElement.GetProperty("total").GetProperty("requests").GetInt64());

            // SIGTERM to the parent: it passes the signal on, and the child prints the whole session's lateness as it stops.
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill!.WaitForExitAsync(ct);
            }

            await process.WaitForExitAsync(ct);
            var err = await stderr;
            Assert.Contains("serve-sim lateness, whole session: 1 requests; first token late p50 ", err, StringComparison.Ordinal);
            Assert.Contains("serve-sim stopped", err, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task SelfTest_ViaRun_PlainServeSimAndRunMeasuredFromTheRunDirectory()
    {
        var ct = TestContext.Current.CancellationToken;
        using var process = CliHarness.Start(CliHarness.TempDir(), "selftest", "--via", "run", "--json", "-c", "3", "--repeats", "1", "--warmup", "1", "--ttft-ms", "5", "--itl-ms", "2");
        var stderr = process.StandardError.ReadToEndAsync(ct);
        var stdout = await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await stderr}");

        using var report = JsonDocument.Parse(stdout);
        var root = report.RootElement;
        // The commands are the user's: serve-sim with nothing but its port and backend, run through the openai backend.
        Assert.Contains("spark-eval serve-sim --port 0 --backend \"sim?ttft_ms=5&tokens_per_s=500\"", root.GetProperty("commands").GetString(), StringComparison.Ordinal);
        Assert.Contains("runtime: tuned", root.GetProperty("server_line").GetString(), StringComparison.Ordinal);
        var level = Assert.Single(root.GetProperty("levels").EnumerateArray());
        Assert.Equal(3, level.GetProperty("concurrency").GetInt32());
        Assert.Equal(6, level.GetProperty("attempts").GetInt32()); // spark-mini: 6 tasks × 1 repeat
        Assert.Equal(0, level.GetProperty("failed").GetInt32());
        Assert.Equal(6, level.GetProperty("ttft_minus_schedule_ms").GetProperty("count").GetInt64());
        Assert.Equal(6, level.GetProperty("wire_ttft_minus_schedule_ms").GetProperty("count").GetInt64());
        Assert.Equal(0, level.GetProperty("sent_after_headers").GetInt32());
        // serve-sim's log of the same requests (the warm-up attempt included).
        Assert.Equal(7, level.GetProperty("server_lateness").GetProperty("requests").GetInt64());
    }
}
