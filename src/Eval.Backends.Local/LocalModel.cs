using System.Globalization;
using System.Text;
using LLama;
using LLama.Common;
using LLama.Exceptions;
using LLama.Native;
using Microsoft.Extensions.AI;
using Spark.Eval.Backends.Local.Gguf;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Local;

/// <summary>
/// One loaded GGUF model with one llama.cpp context (a single sequence): the weights, the chat template and the
/// prompt and decode primitives that both the chat client and the bare benchmark loop use.
/// </summary>
public sealed class LocalModel : IDisposable
{
    private LocalModel(string path, LLamaWeights weights, LLamaContext context, TimeSpan loadTime, int threads)
    {
        Path = path;
        Weights = weights;
        Context = context;
        LoadTime = loadTime;
        Threads = threads;
        Batch = new LLamaBatch();
        var metadata = weights.Metadata;
        ChatTemplate = metadata.GetValueOrDefault("tokenizer.chat_template");
        RandomWeightsSeed = metadata.GetValueOrDefault(TestModelGenerator.RandomWeightsKey);
        Name = metadata.GetValueOrDefault("general.name") ?? System.IO.Path.GetFileNameWithoutExtension(path);
        TemplateUsable = ChatTemplate is not null && TemplateWorks();
    }

    public string Path { get; }

    public string Name { get; }

    public LLamaWeights Weights { get; }

    public LLamaContext Context { get; }

    /// <summary>The reusable batch; only the holder of <see cref="Gate"/> may touch it.</summary>
    public LLamaBatch Batch { get; }

    /// <summary>Serialises requests: one context holds one conversation at a time.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>Weights load plus context creation, measured with the injected clock.</summary>
    public TimeSpan LoadTime { get; }

    public int Threads { get; }

    public int ContextSize => (int)Context.ContextSize;

    /// <summary>The Jinja chat template from the GGUF metadata, if the file has one.</summary>
    public string? ChatTemplate { get; }

    /// <summary>
    /// True when llama.cpp can apply <see cref="ChatTemplate"/> (it recognises the common template families, not
    /// arbitrary Jinja); otherwise the plain template is used.
    /// </summary>
    public bool TemplateUsable { get; }

    /// <summary>The seed of a model written by <see cref="TestModelGenerator"/>; null for any other model.</summary>
    public string? RandomWeightsSeed { get; }

    /// <summary>Loads a GGUF file; a failure throws an exception that quotes llama.cpp's own log lines.</summary>
    public static LocalModel Load(string path, int threads, int contextSize, TimeProvider time, int gpuLayers = 0)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"model file '{path}' does not exist", path);
        }

        LlamaNative.EnsureInitialized();
        var mark = LlamaNative.Mark();
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)contextSize,
            Threads = threads,
            BatchThreads = threads,
            BatchSize = 512,
            GpuLayerCount = gpuLayers,
        };
        var start = time.GetTimestamp();
        LLamaWeights? weights = null;
        try
        {
            weights = LLamaWeights.LoadFromFile(parameters);
            var context = weights.CreateContext(parameters);
            return new LocalModel(path, weights, context, time.GetElapsedTime(start), threads);
        }
        catch (Exception ex) when (ex is LoadWeightsFailedException or RuntimeError)
        {
            weights?.Dispose();
            var log = LlamaNative.LinesSince(mark);
            var relevant = log.Where(l => l.StartsWith("error", StringComparison.Ordinal) || l.Contains("failed", StringComparison.OrdinalIgnoreCase)).ToList();
            var quoted = (relevant.Count > 0 ? relevant : log.TakeLast(8)).TakeLast(12);
            throw new BackendException("model_load_failed",
                $"llama.cpp could not load '{path}': {ex.Message}. llama.cpp said:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", quoted)}", ex);
        }
    }

    /// <summary>Renders the messages with the model's chat template, or with a plain "Role: text" template when it has none.</summary>
    public string FormatPrompt(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (TemplateUsable)
        {
            return ApplyTemplate(messages);
        }

        var plain = new StringBuilder();
        foreach (var message in messages)
        {
            var role = message.Role.Value;
            plain.Append(char.ToUpperInvariant(role[0])).Append(role.AsSpan(1)).Append(": ").Append(message.Text).Append('\n');
        }

        return plain.Append("Assistant:").ToString();
    }

    private string ApplyTemplate(IEnumerable<ChatMessage> messages)
    {
        var template = new LLamaTemplate(Weights) { AddAssistant = true };
        foreach (var message in messages)
        {
            template.Add(message.Role.Value, message.Text);
        }

        return Encoding.UTF8.GetString(template.Apply());
    }

#pragma warning disable CA1031 // Any failure of the native template engine means: fall back to the plain template.
    private bool TemplateWorks()
    {
        try
        {
            return ApplyTemplate([new ChatMessage(ChatRole.User, "ping")]).Contains("ping", StringComparison.Ordinal);
        }
        catch (Exception)
        {
            return false;
        }
    }
#pragma warning restore CA1031

    /// <summary>Tokenizes with BOS and with control tokens (such as &lt;|im_start|&gt;) parsed as tokens.</summary>
    public LLamaToken[] Tokenize(string text) => Context.Tokenize(text, addBos: true, special: true);

    /// <summary>Empties the KV cache so that nothing of an earlier prompt is visible to the next one.</summary>
    public void ClearKvCache() => Context.NativeHandle.MemoryClear(true);

    /// <summary>
    /// Decodes the prompt in chunks of the batch size into a cleared cache; returns the batch index whose
    /// logits predict the first output token.
    /// </summary>
    public int Prefill(ReadOnlySpan<LLamaToken> prompt)
    {
        var batchSize = (int)Context.BatchSize;
        var index = 0;
        for (var start = 0; start < prompt.Length; start += batchSize)
        {
            var length = Math.Min(batchSize, prompt.Length - start);
            Batch.Clear();
            index = Batch.AddRange(prompt.Slice(start, length), start, LLamaSeqId.Zero, start + length == prompt.Length);
            Check(Context.NativeHandle.Decode(Batch), "prompt");
        }

        return index;
    }

    /// <summary>Decodes one generated token at <paramref name="position"/>; its logits are at batch index 0.</summary>
    public void DecodeOne(LLamaToken token, int position)
    {
        Batch.Clear();
        Batch.Add(token, position, LLamaSeqId.Zero, true);
        Check(Context.NativeHandle.Decode(Batch), "token");
    }

    /// <summary>Greedy at temperature 0 (or none); temperature plus a seeded draw otherwise.</summary>
    public static SafeLLamaSamplerChainHandle CreateSampler(float? temperature, int seed)
    {
        var chain = SafeLLamaSamplerChainHandle.Create(LLamaSamplerChainParams.Default());
        if (temperature is null or <= 0f)
        {
            chain.AddGreedySampler();
        }
        else
        {
            chain.AddTemperature(temperature.Value);
            chain.AddDistributionSampler(unchecked((uint)seed));
        }

        return chain;
    }

    /// <summary>One line for manifests and logs: what was loaded, how, and how long it took.</summary>
    public string Describe()
    {
        var weights = RandomWeightsSeed is { } seed
            ? $"RANDOM weights (generated, seed {seed}): real timings, meaningless text"
            : "weights from the file";
        return string.Create(CultureInfo.InvariantCulture,
            $"llama.cpp in process (LLamaSharp, CPU {LlamaNative.SimdBuild} build) · {System.IO.Path.GetFileName(Path)} '{Name}', {Weights.ParameterCount / 1e6:0.##}M params, {Weights.SizeInBytes / 1e6:0.#} MB · {weights} · chat template: {(TemplateUsable ? "from GGUF" : ChatTemplate is null ? "plain (none in GGUF)" : "plain (GGUF template not supported by llama.cpp)")} · threads {Threads} · ctx {ContextSize} · model load {LoadTime.TotalMilliseconds:0} ms");
    }

    private static void Check(DecodeResult result, string what)
    {
        if (result != DecodeResult.Ok)
        {
            throw new BackendException("decode_failed", $"llama_decode failed on the {what} batch: {result}");
        }
    }

    public void Dispose()
    {
        Context.Dispose();
        Weights.Dispose();
        Gate.Dispose();
    }
}
