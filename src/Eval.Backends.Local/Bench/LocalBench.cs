using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Serialization;
using LLama.Native;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Backends.Local.Bench;

/// <summary>What <c>spark-eval bench-local</c> sweeps.</summary>
public sealed record LocalBenchSettings
{
    public IReadOnlyList<int> PromptTokens { get; init; } = [16, 64, 256, 1024];
    public IReadOnlyList<int> Threads { get; init; } = [2];
    public int DecodeTokens { get; init; } = 64;
    public int Warmup { get; init; } = 1;
    public int Repeats { get; init; } = 5;
}

/// <summary>One measured generation: its TTFT and its decode rate.</summary>
public sealed record LocalBenchSample(double TtftMs, double DecodeTokensPerSecond, int OutputTokens);

/// <summary>Medians of one path (harness or bare loop) at one point of the sweep, with the samples they come from.</summary>
public sealed record LocalBenchPathResult(double TtftMsMedian, double PrefillTokensPerSecondMedian, double DecodeTokensPerSecondMedian, IReadOnlyList<LocalBenchSample> Samples);

/// <summary>One point of the sweep: a thread count and a prompt length, measured through the harness and through the bare loop.</summary>
public sealed record LocalBenchPoint(int Threads, int TargetPromptTokens, int PromptTokens, LocalBenchPathResult Harness, LocalBenchPathResult Bare, double DecodeRatio);

/// <summary>The model a bench ran on.</summary>
public sealed record LocalBenchModel(string Path, string Name, ulong Parameters, ulong SizeBytes, string? RandomWeightsSeed, IReadOnlyDictionary<string, double> LoadMsByThreads);

/// <summary>The result file of <c>spark-eval bench-local</c> (format version 1).</summary>
public sealed record LocalBenchReport
{
    public int FormatVersion { get; init; } = 1;
    public required DateTimeOffset StartedUtc { get; init; }
    public required string Cpu { get; init; }
    public required int Cores { get; init; }
    public required string Os { get; init; }
    public required string SimdBuild { get; init; }
    public required string LlamaSystemInfo { get; init; }
    public required LocalBenchModel Model { get; init; }
    public required LocalBenchSettings Settings { get; init; }
    public required IReadOnlyList<LocalBenchPoint> Points { get; init; }
    /// <summary>Median over all points of the per-point decode ratio.</summary>
    public required double DecodeRatioMedian { get; init; }
    public required IReadOnlyDictionary<string, string> Definitions { get; init; }

    /// <summary>Every harness generation (warm-ups flagged) as a run-format attempt: slot task "prompt-N", backend "local-tT".</summary>
    [JsonIgnore]
    public IReadOnlyList<AttemptRecord> HarnessAttempts { get; init; } = [];

    /// <summary>One backend per thread count, named as in <see cref="HarnessAttempts"/>.</summary>
    [JsonIgnore]
    public IReadOnlyList<BackendInfo> Backends { get; init; } = [];
}

/// <summary>Source-generated JSON for the bench-local result file.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LocalBenchReport))]
public sealed partial class LocalBenchJsonContext : JsonSerializerContext;

/// <summary>
/// Measures the local runtime two ways on the same loaded model, prompt and threads, alternating: through the harness
/// (<see cref="LocalChatClient"/> behind the timing middleware) and through a bare loop (LLamaSharp batch decode plus
/// the greedy sampler, no detokenising, no async iterator). Their decode-rate ratio is the harness's overhead.
/// </summary>
public sealed class LocalBench(TimeProvider time, Action<string> log)
{
    public static readonly IReadOnlyDictionary<string, string> Definitions = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["ttftMs"] = "harness: first content event − request start (timing middleware); bare: first greedy sample − start of prompt decode; both from an empty KV cache",
        ["prefillTokensPerSecond"] = "prompt tokens / TTFT (TTFT includes the first sample, so this slightly understates pure prompt processing)",
        ["decodeTokensPerSecond"] = "(output tokens − 1) / (time of last token − time of first token)",
        ["decodeRatio"] = "median harness decodeTokensPerSecond / median bare decodeTokensPerSecond at the same point",
        ["median"] = "type-7 percentile 0.5 of the measured repeats (warm-up runs excluded)",
    };

    public async Task<LocalBenchReport> RunAsync(string modelPath, LocalBenchSettings settings, string cpu, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var started = time.GetUtcNow();
        var points = new List<LocalBenchPoint>();
        var loadMs = new Dictionary<string, double>(StringComparer.Ordinal);
        LocalBenchModel? modelInfo = null;
        var contextSize = settings.PromptTokens.Max() + settings.DecodeTokens + 64;
        var attempts = new List<AttemptRecord>();
        var backends = new List<BackendInfo>();
        var runStart = time.GetTimestamp();
        foreach (var threads in settings.Threads)
        {
            using var model = LocalModel.Load(modelPath, threads, contextSize, time);
            loadMs[threads.ToString(CultureInfo.InvariantCulture)] = model.LoadTime.TotalMilliseconds;
            log(string.Create(CultureInfo.InvariantCulture, $"bench-local: {model.Describe()}"));
            modelInfo ??= new LocalBenchModel(modelPath, model.Name, model.Weights.ParameterCount, model.Weights.SizeInBytes, model.RandomWeightsSeed, loadMs);
            using var client = new ChatClientBuilder(new LocalChatClient(model, ownsModel: false)).UseTiming().Build();
            var backendName = string.Create(CultureInfo.InvariantCulture, $"local-t{threads}");
            backends.Add(new BackendInfo(backendName, string.Create(CultureInfo.InvariantCulture, $"local?name={backendName}&model={modelPath}&threads={threads}&ctx={contextSize}"),
                "local", model.Describe(), Simulated: false, model.Name));
            foreach (var target in settings.PromptTokens)
            {
                var messages = PromptOfLength(model, target);
                var tokens = model.Tokenize(model.FormatPrompt(messages));
                var harness = new List<LocalBenchSample>();
                var bare = new List<LocalBenchSample>();
                for (var i = 0; i < settings.Warmup + settings.Repeats; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();

                    // Alternate which path goes first so that drift on a shared machine hits both alike.
                    LocalBenchSample h, b;
                    AttemptRecorder recorder;
                    if (i % 2 == 0)
                    {
                        (h, recorder) = await MeasureHarnessAsync(client, messages, settings.DecodeTokens, cancellationToken);
                        b = MeasureBare(model, tokens, settings.DecodeTokens);
                    }
                    else
                    {
                        b = MeasureBare(model, tokens, settings.DecodeTokens);
                        (h, recorder) = await MeasureHarnessAsync(client, messages, settings.DecodeTokens, cancellationToken);
                    }

                    var warm = i < settings.Warmup;
                    var slot = new SlotKey(string.Create(CultureInfo.InvariantCulture, $"prompt-{target}"), backendName, warm ? i : i - settings.Warmup, warm);
                    attempts.Add(ToAttempt(recorder, slot, attempts.Count, runStart, messages));

                    if (i >= settings.Warmup)
                    {
                        harness.Add(h);
                        bare.Add(b);
                    }
                }

                var hr = Summarize(harness, tokens.Length);
                var br = Summarize(bare, tokens.Length);
                var point = new LocalBenchPoint(threads, target, tokens.Length, hr, br, hr.DecodeTokensPerSecondMedian / br.DecodeTokensPerSecondMedian);
                points.Add(point);
                log(string.Create(CultureInfo.InvariantCulture,
                    $"bench-local: threads {threads}, prompt {tokens.Length} tokens: TTFT {hr.TtftMsMedian:0.0} ms (bare {br.TtftMsMedian:0.0}), decode {hr.DecodeTokensPerSecondMedian:0.0} tok/s (bare {br.DecodeTokensPerSecondMedian:0.0}), ratio {point.DecodeRatio:0.000}"));
            }
        }

        var ratios = points.Select(p => p.DecodeRatio).Order().ToList();
        return new LocalBenchReport
        {
            StartedUtc = started,
            Cpu = cpu,
            Cores = Environment.ProcessorCount,
            Os = RuntimeInformation.OSDescription,
            SimdBuild = LlamaNative.SimdBuild,
            LlamaSystemInfo = LlamaNative.SystemInfo,
            Model = modelInfo!,
            Settings = settings,
            Points = points,
            DecodeRatioMedian = LatencyStatistics.Percentile(ratios, 0.5),
            Definitions = Definitions,
            HarnessAttempts = attempts,
            Backends = backends,
        };
    }

    /// <summary>
    /// Harness path only (no bare loop, no attempt records): loads <paramref name="modelPath"/> once per thread count and
    /// measures each prompt length <paramref name="warmup"/> + <paramref name="repeats"/> times from an empty KV cache.
    /// Used by <c>spark-eval calibrate</c> and <c>simulate validate-local</c>, which compare the harness path only.
    /// </summary>
    public async Task<IReadOnlyList<(int Threads, int PromptTokens, LocalBenchPathResult Result)>> RunHarnessAsync(
        string modelPath, IReadOnlyList<int> threadCounts, IReadOnlyList<int> promptTargets, int decodeTokens, int warmup, int repeats, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(threadCounts);
        ArgumentNullException.ThrowIfNull(promptTargets);
        var results = new List<(int, int, LocalBenchPathResult)>();
        var contextSize = promptTargets.Max() + decodeTokens + 64;
        foreach (var threads in threadCounts)
        {
            using var model = LocalModel.Load(modelPath, threads, contextSize, time);
            using var client = new ChatClientBuilder(new LocalChatClient(model, ownsModel: false)).UseTiming().Build();
            foreach (var target in promptTargets)
            {
                var messages = PromptOfLength(model, target);
                var promptTokens = model.Tokenize(model.FormatPrompt(messages)).Length;
                var samples = new List<LocalBenchSample>();
                for (var i = 0; i < warmup + repeats; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var (sample, _) = await MeasureHarnessAsync(client, messages, decodeTokens, cancellationToken);
                    if (i >= warmup)
                    {
                        samples.Add(sample);
                    }
                }

                var result = Summarize(samples, promptTokens);
                results.Add((threads, promptTokens, result));
                log(string.Create(CultureInfo.InvariantCulture,
                    $"{System.IO.Path.GetFileName(modelPath)}: threads {threads}, prompt {promptTokens} tokens: TTFT {result.TtftMsMedian:0.0} ms, decode {result.DecodeTokensPerSecondMedian:0.0} tok/s (medians of {repeats})"));
            }
        }

        return results;
    }

    private AttemptRecord ToAttempt(AttemptRecorder recorder, SlotKey slot, long sequence, long runStart, IReadOnlyList<ChatMessage> messages)
    {
        var tokens = TokenCounter.Default;
        var usage = recorder.Usage;
        return new AttemptRecord
        {
            Sequence = sequence,
            Slot = slot,
            TaskKind = "bench-local",
            StartUs = (long)((recorder.StartTimestamp - runStart) * 1_000_000.0 / time.TimestampFrequency),
            Events = recorder.Events(),
            Outcome = AttemptOutcome.Ok,
            Answer = recorder.Answer,
            Tokens = new TokenCounts
            {
                OutputUsage = usage?.OutputTokenCount,
                InputUsage = usage?.InputTokenCount,
                OutputTokenizer = tokens.Count(recorder.Answer),
                InputTokenizer = messages.Sum(m => tokens.Count(m.Text)),
                Tokenizer = tokens.Name,
            },
            ModelReported = recorder.ModelId,
            Simulated = false,
        };
    }

    /// <summary>A user message of code-like text whose rendered, tokenized prompt is as close to <paramref name="target"/> tokens as the text allows (not above).</summary>
    public static IReadOnlyList<ChatMessage> PromptOfLength(LocalModel model, int target)
    {
        ArgumentNullException.ThrowIfNull(model);
        var corpus = new StringBuilder();
        for (var i = 0; corpus.Length < (target * 8) + 256; i++)
        {
            corpus.Append(CultureInfo.InvariantCulture, $"def step_{i}(values, limit={i % 17}):\n    total = sum(v * {i % 7 + 1} for v in values if v < limit)\n    return total - {i}\n\n");
        }

        var text = corpus.ToString();
        int Count(int chars) => model.Tokenize(model.FormatPrompt([new ChatMessage(ChatRole.User, text[..chars])])).Length;
        int lo = 0, hi = text.Length;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (Count(mid) <= target)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return [new ChatMessage(ChatRole.User, text[..lo])];
    }

    private async Task<(LocalBenchSample Sample, AttemptRecorder Recorder)> MeasureHarnessAsync(IChatClient client, IReadOnlyList<ChatMessage> messages, int decodeTokens, CancellationToken cancellationToken)
    {
        var recorder = new AttemptRecorder(time);
        var options = new ChatOptions
        {
            MaxOutputTokens = decodeTokens,
            Temperature = 0,
            AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder },
        };
        await foreach (var _ in client.GetStreamingResponseAsync(messages, options, cancellationToken))
        {
        }

        var content = recorder.Events().Where(e => e.Kind == StreamEventKind.Content).ToList();
        var output = (int)(recorder.Usage?.OutputTokenCount ?? content.Count);
        var first = content[0].OffsetMicroseconds / 1000.0;
        var last = content[^1].OffsetMicroseconds / 1000.0;
        return (new LocalBenchSample(first, (output - 1) / ((last - first) / 1000.0), output), recorder);
    }

    /// <summary>The reference loop: LLamaSharp's batch decode and the native greedy sampler, nothing else.</summary>
    private LocalBenchSample MeasureBare(LocalModel model, LLamaToken[] prompt, int decodeTokens)
    {
        var context = model.Context.NativeHandle;
        var batchSize = (int)model.Context.BatchSize;
        model.ClearKvCache();
        using var sampler = LocalModel.CreateSampler(0, 0);
        var batch = model.Batch;
        var start = time.GetTimestamp();
        var index = 0;
        for (var at = 0; at < prompt.Length; at += batchSize)
        {
            var length = Math.Min(batchSize, prompt.Length - at);
            batch.Clear();
            index = batch.AddRange(prompt.AsSpan(at, length), at, LLamaSeqId.Zero, at + length == prompt.Length);
            Ensure(context.Decode(batch));
        }

        var token = sampler.Sample(context, index);
        var first = time.GetTimestamp();
        var position = prompt.Length;
        for (var produced = 1; produced < decodeTokens; produced++)
        {
            batch.Clear();
            batch.Add(token, position++, LLamaSeqId.Zero, true);
            Ensure(context.Decode(batch));
            token = sampler.Sample(context, 0);
        }

        var end = time.GetTimestamp();
        var ttftMs = time.GetElapsedTime(start, first).TotalMilliseconds;
        var decodeSeconds = time.GetElapsedTime(first, end).TotalSeconds;
        return new LocalBenchSample(ttftMs, (decodeTokens - 1) / decodeSeconds, decodeTokens);
    }

    private static void Ensure(DecodeResult result)
    {
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException($"llama_decode returned {result}");
        }
    }

    private static LocalBenchPathResult Summarize(List<LocalBenchSample> samples, int promptTokens)
    {
        var ttft = samples.Select(s => s.TtftMs).Order().ToList();
        var prefill = samples.Select(s => promptTokens / (s.TtftMs / 1000.0)).Order().ToList();
        var decode = samples.Select(s => s.DecodeTokensPerSecond).Order().ToList();
        return new LocalBenchPathResult(LatencyStatistics.Percentile(ttft, 0.5), LatencyStatistics.Percentile(prefill, 0.5), LatencyStatistics.Percentile(decode, 0.5), samples);
    }

    /// <summary>The table the CLI prints: one row per point.</summary>
    public static string FormatTable(LocalBenchReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"bench-local · {report.Model.Name} ({report.Model.Parameters / 1e6:0.##}M params{(report.Model.RandomWeightsSeed is null ? "" : ", RANDOM weights")}) · CPU {report.Cpu} ({report.Cores} cores) · llama.cpp {report.SimdBuild} build").AppendLine();
        sb.Append(CultureInfo.InvariantCulture, $"medians of {report.Settings.Repeats} repeats after {report.Settings.Warmup} warm-up, {report.Settings.DecodeTokens} output tokens each").AppendLine();
        sb.AppendLine("threads  prompt_tok  ttft_ms  prefill_tok/s  decode_tok/s  bare_ttft_ms  bare_decode_tok/s  decode_ratio");
        foreach (var p in report.Points)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"{p.Threads,7}  {p.PromptTokens,10}  {p.Harness.TtftMsMedian,7:0.0}  {p.Harness.PrefillTokensPerSecondMedian,13:0}  {p.Harness.DecodeTokensPerSecondMedian,12:0.0}  {p.Bare.TtftMsMedian,12:0.0}  {p.Bare.DecodeTokensPerSecondMedian,17:0.0}  {p.DecodeRatio,12:0.000}").AppendLine();
        }

        sb.Append(CultureInfo.InvariantCulture, $"decode ratio harness/bare (median over points): {report.DecodeRatioMedian:0.000}").AppendLine();
        return sb.ToString();
    }
}
