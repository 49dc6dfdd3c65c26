using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>One metric of AIPerf's profile_export_aiperf.json: its unit and statistics over requests.</summary>
public sealed record AiperfMetric(
    [property: JsonPropertyName("unit")] string? Unit,
    [property: JsonPropertyName("avg")] double? Avg,
    [property: JsonPropertyName("min")] double? Min,
    [property: JsonPropertyName("max")] double? Max,
    [property: JsonPropertyName("std")] double? Std,
    [property: JsonPropertyName("p50")] double? P50,
    [property: JsonPropertyName("p90")] double? P90,
    [property: JsonPropertyName("p95")] double? P95,
    [property: JsonPropertyName("p99")] double? P99);

/// <summary>The fields of vLLM's benchmark result JSON (vllm bench serve / benchmark_serving.py --save-result) that map onto a summary.</summary>
public sealed record VllmBenchResult
{
    [JsonPropertyName("date")] public string? Date { get; init; }
    [JsonPropertyName("backend")] public string? Backend { get; init; }
    [JsonPropertyName("model_id")] public string? ModelId { get; init; }
    [JsonPropertyName("num_prompts")] public int? NumPrompts { get; init; }
    [JsonPropertyName("duration")] public double? Duration { get; init; }
    [JsonPropertyName("completed")] public int? Completed { get; init; }
    [JsonPropertyName("failed")] public int? Failed { get; init; }
    [JsonPropertyName("total_input_tokens")] public long? TotalInputTokens { get; init; }
    [JsonPropertyName("total_output_tokens")] public long? TotalOutputTokens { get; init; }
    [JsonPropertyName("request_throughput")] public double? RequestThroughput { get; init; }
    [JsonPropertyName("request_goodput")] public double? RequestGoodput { get; init; }
    [JsonPropertyName("output_throughput")] public double? OutputThroughput { get; init; }
}

[JsonSourceGenerationOptions(NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals | JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(AiperfMetric))]
[JsonSerializable(typeof(VllmBenchResult))]
[JsonSerializable(typeof(Dictionary<string, JsonElement>))]
internal sealed partial class PeerJsonContext : JsonSerializerContext;

/// <summary>
/// Turns a peer tool's result into a run directory of Spark Eval (manifest.json + summary.json, no attempts), so
/// <c>compare</c> sets a team's earlier AIPerf or vLLM bench numbers beside its own. Their metrics map onto ours as
/// docs/metrics.md defines (AIPerf's inter_token_latency is our TPOT; vLLM's itl is our ITL); figures are copied,
/// never recomputed, and every statistic says where it came from.
/// </summary>
public static class PeerImport
{
    /// <summary>The manifest status of an imported run: its summary.json is the source, there are no attempts.</summary>
    public const string ImportedStatus = "imported";

    public static (RunManifest Manifest, RunSummary Summary) FromAiperf(string path, string? name, DateTimeOffset importedUtc)
    {
        var root = Parse(path, PeerJsonContext.Default.DictionaryStringJsonElement);
        AiperfMetric? Metric(string key)
        {
            if (!root.TryGetValue(key, out var element) || element.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            try
            {
                return element.Deserialize(PeerJsonContext.Default.AiperfMetric);
            }
            catch (JsonException ex)
            {
                throw InputException.At(path, null, key, $"not an AIPerf metric object ({ex.Message})", "pass AIPerf's profile_export_aiperf.json unchanged");
            }
        }

        if (Metric("time_to_first_token") is null && Metric("request_latency") is null)
        {
            throw InputException.At(path, null, "time_to_first_token", "neither time_to_first_token nor request_latency is present",
                "pass AIPerf's aggregate export (artifacts/<run>/profile_export_aiperf.json), not the per-request profile_export.jsonl");
        }

        var ok = (int)(Metric("request_count")?.Avg ?? 0);
        var errors = (int)(Metric("error_request_count")?.Avg ?? 0);
        var metrics = new Dictionary<string, LatencyStatistics>(StringComparer.Ordinal);
        void Map(string ours, string theirs, string unit)
        {
            if (Metric(theirs) is { } m)
            {
                metrics[ours] = new LatencyStatistics
                {
                    Unit = m.Unit ?? unit, Count = ok, Mean = m.Avg ?? double.NaN, StdDev = m.Std ?? double.NaN, Min = m.Min ?? double.NaN, Max = m.Max ?? double.NaN,
                    P50 = m.P50 ?? double.NaN, P90 = m.P90 ?? double.NaN, P95 = m.P95 ?? double.NaN, P99 = m.P99 ?? double.NaN,
                    Method = $"imported: AIPerf {theirs}",
                };
            }
        }

        Map("ttft_ms", "time_to_first_token", "ms");
        Map("e2e_ms", "request_latency", "ms");
        Map("tpot_ms", "inter_token_latency", "ms");
        Map("itl_ms", "inter_chunk_latency", "ms");
        Map("output_tokens", "output_sequence_length", "tokens");
        var model = root.TryGetValue("input_config", out var config) && config.ValueKind == JsonValueKind.Object
            && config.TryGetProperty("endpoint", out var endpoint) && endpoint.TryGetProperty("model_names", out var names)
            && names.ValueKind == JsonValueKind.Array && names.GetArrayLength() > 0 ? names[0].GetString() : null;
        var started = root.TryGetValue("start_time", out var start) && start.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParse(start.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : importedUtc;
        var goodput = Metric("good_request_count")?.Avg;
        var backend = new BackendSummary
        {
            Backend = name ?? "aiperf" + (model is null ? "" : "-" + Slug(model)),
            Counts = new AttemptCounts(ok + errors, ok, errors, 0, 0, 0),
            ErrorRate = ok + errors == 0 ? 0 : (double)errors / (ok + errors),
            DurationSeconds = Metric("benchmark_duration")?.Avg ?? double.NaN,
            RequestThroughputRps = Metric("request_throughput")?.Avg ?? double.NaN,
            OutputTokenThroughputTps = Metric("output_token_throughput")?.Avg ?? double.NaN,
            Goodput = new GoodputSummary(new SloSpec(), (int)(goodput ?? 0), goodput is { } g && ok + errors > 0 ? g / (ok + errors) : double.NaN, Metric("goodput")?.Avg ?? double.NaN),
            Metrics = metrics,
            Tokens = new TokenSummary((long)(Metric("total_osl")?.Avg ?? 0), (long)(Metric("total_isl")?.Avg ?? 0), 0, "imported", null, null, "AIPerf's tokenizer"),
        };
        return Build(path, "aiperf", "AIPerf profile_export_aiperf.json", model, started, importedUtc, backend);
    }

    public static (RunManifest Manifest, RunSummary Summary) FromVllmBench(string path, string? name, DateTimeOffset importedUtc)
    {
        var result = Parse(path, PeerJsonContext.Default.VllmBenchResult);
        // mean_/median_/std_/pNN_ statistics of ttft, tpot, itl and e2el in ms, as vLLM names them.
        var statistics = Parse(path, PeerJsonContext.Default.DictionaryStringJsonElement);
        if (result.Completed is null || !statistics.ContainsKey("median_ttft_ms"))
        {
            throw InputException.At(path, null, result.Completed is null ? "completed" : "median_ttft_ms", "missing",
                "pass the JSON that 'vllm bench serve --save-result' (or benchmark_serving.py --save-result) wrote");
        }

        var ok = result.Completed.Value;
        var failed = result.Failed ?? Math.Max(0, (result.NumPrompts ?? ok) - ok);
        var metrics = new Dictionary<string, LatencyStatistics>(StringComparer.Ordinal);
        double Stat(string key) => statistics.TryGetValue(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
        foreach (var (ours, theirs) in new[] { ("ttft_ms", "ttft"), ("tpot_ms", "tpot"), ("itl_ms", "itl"), ("e2e_ms", "e2el") })
        {
            if (statistics.ContainsKey($"median_{theirs}_ms"))
            {
                metrics[ours] = new LatencyStatistics
                {
                    Unit = "ms", Count = ok, Mean = Stat($"mean_{theirs}_ms"), StdDev = Stat($"std_{theirs}_ms"), Min = double.NaN, Max = double.NaN,
                    P50 = Stat($"median_{theirs}_ms"), P90 = Stat($"p90_{theirs}_ms"), P95 = Stat($"p95_{theirs}_ms"), P99 = Stat($"p99_{theirs}_ms"),
                    Method = $"imported: vLLM bench {theirs}",
                };
            }
        }

        var started = DateTimeOffset.TryParseExact(result.Date, "yyyyMMdd-HHmmss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : importedUtc;
        var backend = new BackendSummary
        {
            Backend = name ?? "vllm-bench" + (result.ModelId is null ? "" : "-" + Slug(result.ModelId)),
            Counts = new AttemptCounts(ok + failed, ok, failed, 0, 0, 0),
            ErrorRate = ok + failed == 0 ? 0 : (double)failed / (ok + failed),
            DurationSeconds = result.Duration ?? double.NaN,
            RequestThroughputRps = result.RequestThroughput ?? double.NaN,
            OutputTokenThroughputTps = result.OutputThroughput ?? double.NaN,
            Goodput = new GoodputSummary(new SloSpec(), 0, double.NaN, result.RequestGoodput ?? double.NaN),
            Metrics = metrics,
            Tokens = new TokenSummary(result.TotalOutputTokens ?? 0, result.TotalInputTokens ?? 0, 0, "imported", null, null, "vLLM's tokenizer"),
        };
        return Build(path, "vllm-bench", $"vLLM bench result JSON (backend {result.Backend ?? "?"})", result.ModelId, started, importedUtc, backend);
    }

    /// <summary>Writes an imported run as a run directory: manifest.json, summary.json and an empty attempts.jsonl.</summary>
    public static void Write(string directory, RunManifest manifest, RunSummary summary)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(summary);
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
        {
            throw new InputException($"--out {directory}: the directory exists and is not empty. Fix: choose a new directory");
        }

        Directory.CreateDirectory(directory);
        var run = new RunDirectory(directory);
        RunDirectory.WriteAtomic(run.AttemptsPath, []);
        RunDirectory.WriteAtomic(Path.Combine(directory, RunDirectory.SummaryJsonFileName), JsonSerializer.SerializeToUtf8Bytes(summary, CoreIndentedJsonContext.Default.RunSummary));
        run.WriteManifest(manifest);
    }

    private static (RunManifest, RunSummary) Build(string path, string kind, string description, string? model, DateTimeOffset started, DateTimeOffset importedUtc, BackendSummary backend)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
        var runId = $"import-{kind}-{started.UtcDateTime:yyyyMMdd-HHmmss}-{sha[..6]}";
        var manifest = new RunManifest
        {
            RunId = runId,
            HarnessVersion = $"imported from {kind}",
            Plan = new RunPlanSpec { SuitePath = Path.GetFullPath(path), BackendSpecs = [$"{kind}:{Path.GetFileName(path)}"] },
            Suite = new SuiteInfo("imported", Path.GetFullPath(path), sha, 0),
            Backends = [new BackendInfo(backend.Backend, $"{kind}:{Path.GetFileName(path)}", kind, $"imported from {description}; figures as that tool measured them", Simulated: false, model)],
            Environment = new EnvironmentInfo("unknown (imported)", "unknown (imported)", 0, "n/a", null, "unknown (imported)"),
            StartedUtc = started,
            EndedUtc = importedUtc,
            Status = ImportedStatus,
        };
        var summary = new RunSummary
        {
            RunId = runId,
            Backends = [backend],
            Notes = [$"IMPORTED from {description} ({Path.GetFileName(path)}, sha256 {sha[..12]}…): aggregates only, no per-attempt records; metric names mapped as docs/metrics.md defines."],
        };
        return (manifest, summary);
    }

    private static T Parse<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        if (!File.Exists(path))
        {
            throw InputException.At(path, null, null, "no such file", "pass the peer tool's result JSON");
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), type) ?? throw new JsonException("empty document");
        }
        catch (JsonException ex)
        {
            throw InputException.At(path, (int?)ex.LineNumber + 1, ex.Path, $"not valid JSON of the expected shape ({ex.Message})", "pass the result JSON the tool wrote, unchanged");
        }
    }

    private static string Slug(string model)
    {
        var text = new StringBuilder();
        foreach (var c in model.Split('/')[^1].ToLowerInvariant())
        {
            text.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '-');
        }

        return text.ToString();
    }
}
