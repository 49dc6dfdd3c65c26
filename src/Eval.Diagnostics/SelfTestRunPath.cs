using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Diagnostics;

/// <summary>
/// <c>spark-eval selftest --via run</c>: the user's path instead of selftest's tuned client. A plainly started serve-sim
/// (<c>spark-eval serve-sim --port 0 --backend "sim?ttft_ms=…&amp;tokens_per_s=…"</c>, nothing else) and, per concurrency,
/// a plain <c>spark-eval run</c> through the <c>openai</c> backend, each its own process as a user starts them; the figures
/// come from the run directory's attempt records and serve-sim's log, as a user would read them.
/// </summary>
public static class SelfTestRunPath
{
    /// <summary>One concurrency level through <c>spark-eval run</c>, ms.</summary>
    public sealed record RunPathLevel(
        int Concurrency, int Attempts, int Failed,
        LatencyStatistics? TtftMinusScheduleMs, LatencyStatistics? WireTtftMinusScheduleMs, LatencyStatistics? SendDelayMs,
        LatencyStatistics? HeadersAfterSentMs, int SentAfterHeaders, LatenessReport ServerLateness, string RunDirectory,
        LatencyStatistics? StartWaitMs = null);

    /// <summary>The result as one JSON object.</summary>
    public sealed record RunPathReport(string Definition, double TtftMs, double ItlMs, int Repeats, int Warmup, int Cores, string LoadAverage, string Commands, string ServerLine, IReadOnlyList<RunPathLevel> Levels);

    public const string Definition = "ttft_minus_schedule = the run's ttft_ms (attempt start to first content) − the schedule's TTFT; wire = first content (kernel receive stamp) − request_sent (kernel transmit stamp where the client has one) − the schedule's TTFT; send_delay = attempt start − request_sent (the client's own overhead); start_wait = the attempt's hand-over to the client's send thread − its start stamp (harness overhead before the attempt, in no latency); server lateness from serve-sim's log (flush − due time of the timer that released the write)";

    public static async Task<int> RunAsync(string cli, int[] levels, double ttftMs, double itlMs, int repeats, int warmup, string? suite, string? backendOptions, bool json, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var spec = string.Create(CultureInfo.InvariantCulture, $"sim?ttft_ms={ttftMs}&tokens_per_s={1000.0 / itlMs}");
        using var server = Start(cli, ["serve-sim", "--port", "0", "--backend", spec], redirect: true);
        try
        {
            var (baseUrl, serverLine) = await ReadBaseUrlAsync(server, ct);
            using var log = new HttpClient { BaseAddress = baseUrl };
            var root = Path.Combine(Path.GetTempPath(), "spark-selftest-run-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(root);
            var results = new List<RunPathLevel>();
            var backend = $"openai?url={baseUrl}&model=sim" + (string.IsNullOrEmpty(backendOptions) ? "" : "&" + backendOptions.TrimStart('&'));
            var commands = string.Create(CultureInfo.InvariantCulture,
                $"spark-eval serve-sim --port 0 --backend \"{spec}\"; spark-eval run --backend \"{backend}\" --repeats {repeats} --warmup {warmup} --concurrency C --no-grade{(suite is null ? "" : " --suite " + suite)} (program: {cli})");
            foreach (var level in levels)
            {
                // Nothing from an earlier level (or serve-sim's own warm-up) in this level's server figures.
                _ = await log.GetStringAsync(new Uri("_spark/log?clear=1", UriKind.Relative), ct);
                var dir = Path.Combine(root, "c" + level.ToString(CultureInfo.InvariantCulture));
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }

                List<string> args = ["run", "--backend", backend, "--repeats", repeats.ToString(CultureInfo.InvariantCulture),
                    "--warmup", warmup.ToString(CultureInfo.InvariantCulture), "--concurrency", level.ToString(CultureInfo.InvariantCulture), "--no-grade", "--out", dir];
                if (suite is not null)
                {
                    args.AddRange(["--suite", suite]);
                }

                using (var run = Start(cli, args, redirect: false))
                {
                    await run.WaitForExitAsync(ct);
                    if (run.ExitCode != 0)
                    {
                        await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"selftest --via run: spark-eval run exited with {run.ExitCode} at concurrency {level}"));
                    }
                }

                var serverLog = await log.GetStringAsync(new Uri("_spark/log?clear=1", UriKind.Relative), ct);
                // Kept beside the run's own records, so a miss can be traced request by request (server-log.jsonl: one request per line).
                await File.WriteAllTextAsync(Path.Combine(dir, "server-log.jsonl"), serverLog, ct);
                // serve-sim's emission clock and runtime counters after the level (GET /v1/_spark/clock: callbacks, collections).
                await File.WriteAllTextAsync(Path.Combine(dir, "server-clock.json"), await log.GetStringAsync(new Uri("_spark/clock", UriKind.Relative), ct), ct);
                var entries = serverLog.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(ServerLogStore.FromJsonLine).OfType<ServerRequestLog>();
                results.Add(Measure(level, Path.Combine(dir, "attempts.jsonl"), ttftMs, entries, dir));
                await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"selftest --via run: concurrency {level} done"));
            }

            var load = File.Exists("/proc/loadavg") ? string.Join(' ', (await File.ReadAllTextAsync("/proc/loadavg", ct)).Split(' ').Take(3)) : "unknown";
            var report = new RunPathReport(Definition, ttftMs, itlMs, repeats, warmup, Environment.ProcessorCount, load, commands, serverLine, results);
            if (json)
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(report, RunPathJson.Default.RunPathReport));
            }
            else
            {
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"selftest --via run: serve-sim schedule TTFT {ttftMs} ms, inter-token {itlMs} ms; {repeats} repeats + {warmup} warm-up per level; {Environment.ProcessorCount} cores; load average {load}"));
                await stdout.WriteLineAsync("commands: " + commands);
                await stdout.WriteLineAsync("server: " + serverLine);
                await stdout.WriteLineAsync(Definition + "; ms");
                await stdout.WriteLineAsync("| concurrency | attempts | failed | TTFT−sched p50 | TTFT−sched p99 | wire TTFT−sched p50 | wire p99 | send delay p50 | send delay p99 | start wait p99 | sent after headers | server first token late p99 | server writes late p99 |");
                await stdout.WriteLineAsync("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
                foreach (var r in results)
                {
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"| {r.Concurrency} | {r.Attempts} | {r.Failed} | {F(r.TtftMinusScheduleMs?.P50)} | {F(r.TtftMinusScheduleMs?.P99)} | {F(r.WireTtftMinusScheduleMs?.P50)} | {F(r.WireTtftMinusScheduleMs?.P99)} | {F(r.SendDelayMs?.P50)} | {F(r.SendDelayMs?.P99)} | {F(r.StartWaitMs?.P99)} | {r.SentAfterHeaders} | {F(r.ServerLateness.FirstToken?.P99Ms)} | {F(r.ServerLateness.Writes?.P99Ms)} |"));
                }
            }

            return results.Any(r => r.Failed > 0 || r.Attempts == 0) ? DiagnosticExit.ThresholdFailed : DiagnosticExit.Ok;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync(CancellationToken.None);
            }
        }

        static string F(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "–";
    }

    /// <summary>The figures of one run directory's measured attempts and the server log entries of the same requests.</summary>
    internal static RunPathLevel Measure(int concurrency, string attemptsPath, double ttftMs, IEnumerable<ServerRequestLog> serverEntries, string runDirectory)
    {
        var (records, _) = AttemptLog.Read(attemptsPath);
        var measured = records.Where(r => !r.Slot.Warmup).ToList();
        var ttft = new List<double>();
        var wire = new List<double>();
        var send = new List<double>();
        var headers = new List<double>();
        var startWait = new List<double>();
        var sentAfterHeaders = 0;
        foreach (var record in measured.Where(r => r.Outcome.Status == AttemptStatus.Ok))
        {
            long? content = null, sent = null, head = null;
            foreach (var e in record.Events)
            {
                switch (e.Kind)
                {
                    case StreamEventKind.Content when e.Characters > 0:
                        content ??= e.OffsetMicroseconds;
                        break;
                    case StreamEventKind.RequestSent:
                        sent ??= e.OffsetMicroseconds;
                        break;
                    case StreamEventKind.ResponseHeaders:
                        head ??= e.OffsetMicroseconds;
                        break;
                    default:
                        break;
                }
            }

            if (content is not { } c)
            {
                continue;
            }

            ttft.Add((c / 1000.0) - ttftMs);
            if (record.StartWaitMs is { } waited)
            {
                startWait.Add(waited);
            }

            if (sent is { } s)
            {
                wire.Add(((c - s) / 1000.0) - ttftMs);
                send.Add(s / 1000.0);
                if (head is { } h)
                {
                    headers.Add((h - s) / 1000.0);
                    sentAfterHeaders += h < s ? 1 : 0;
                }
            }
        }

        var lateness = new EmissionLateness();
        foreach (var entry in serverEntries.Where(e => e.Path.Contains("/completions", StringComparison.Ordinal)))
        {
            lateness.Add(entry);
        }

        return new RunPathLevel(concurrency, measured.Count, measured.Count(r => r.Outcome.Status != AttemptStatus.Ok),
            LatencyStatistics.FromSamples([.. ttft], "ms"), LatencyStatistics.FromSamples([.. wire], "ms"), LatencyStatistics.FromSamples([.. send], "ms"),
            LatencyStatistics.FromSamples([.. headers], "ms"), sentAfterHeaders, lateness.Total(), runDirectory, LatencyStatistics.FromSamples([.. startWait], "ms"));
    }

    /// <summary>The spark-eval program at <paramref name="cli"/> (a .dll run by dotnet, or an executable), plainly: no environment of its own.</summary>
    private static Process Start(string cli, IEnumerable<string> args, bool redirect)
    {
        var dll = cli.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
        var info = new ProcessStartInfo(dll ? "dotnet" : cli) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = false };
        if (dll)
        {
            info.ArgumentList.Add(cli);
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // The user's path: none of selftest's own settings (a full-JIT selftest child would pass its variables on).
        foreach (var name in TunedRuntime.Settings.Select(s => s.Name).Append(TunedRuntime.ChildVariable))
        {
            info.Environment.Remove(name);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + cli);
        if (!redirect)
        {
            // The run's own summary is not ours to print: drain it.
            _ = process.StandardOutput.ReadToEndAsync();
        }

        return process;
    }

    private static async Task<(Uri, string)> ReadBaseUrlAsync(Process server, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        while (await server.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            const string marker = "listening on ";
            var at = line.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                var url = new Uri(line[(at + marker.Length)..].Split(' ')[0]);
                // Keep reading (and dropping) its output so the pipe never fills.
                _ = server.StandardOutput.ReadToEndAsync(CancellationToken.None);
                return (url, line);
            }
        }

        throw new InvalidOperationException("serve-sim exited before it printed its address");
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[System.Text.Json.Serialization.JsonSerializable(typeof(SelfTestRunPath.RunPathReport))]
internal sealed partial class RunPathJson : System.Text.Json.Serialization.JsonSerializerContext;
