using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Spark.Eval.Core;

namespace Spark.Eval.Simulator.Profiles;

/// <summary>
/// Loads and validates hardware and model profiles from <c>hw-profiles/</c> (hardware.json, models.json and
/// cpu-local.json written by <c>spark-eval calibrate</c>), falling back to the copies embedded at build time.
/// </summary>
public sealed class ProfileCatalog
{
    public const int FormatVersion = 1;
    public const string DirectoryName = "hw-profiles";
    public const string LocalHardwareFile = "cpu-local.json";

    private readonly Dictionary<string, HardwareProfile> _hardware;
    private readonly Dictionary<string, ModelProfile> _models;

    public ProfileCatalog(IEnumerable<HardwareProfile> hardware, IEnumerable<ModelProfile> models, string origin)
    {
        _hardware = new Dictionary<string, HardwareProfile>(StringComparer.OrdinalIgnoreCase);
        foreach (var h in hardware)
        {
            _hardware[h.Id] = h;
        }

        _models = new Dictionary<string, ModelProfile>(StringComparer.OrdinalIgnoreCase);
        foreach (var m in models)
        {
            _models[m.Id] = m;
        }

        Origin = origin;
    }

    /// <summary>Where the profiles came from: a directory or "embedded".</summary>
    public string Origin { get; }

    public IEnumerable<HardwareProfile> Hardware => _hardware.Values.OrderBy(h => h.Id, StringComparer.Ordinal);

    public IEnumerable<ModelProfile> Models => _models.Values.OrderBy(m => m.Id, StringComparer.Ordinal);

    public HardwareProfile GetHardware(string id, string field = "--hw") =>
        _hardware.TryGetValue(id, out var h) ? h
        : throw new InputException($"{field} '{id}': no hardware profile with that id in {Origin}. Fix: use one of: {string.Join(", ", _hardware.Keys.Order(StringComparer.Ordinal))}");

    public ModelProfile GetModel(string id, string field = "--model") =>
        _models.TryGetValue(id, out var m) ? m
        : throw new InputException($"{field} '{id}': no model profile with that id in {Origin}. Fix: use one of: {string.Join(", ", _models.Keys.Order(StringComparer.Ordinal))}");

    /// <summary>Finds hw-profiles/ in <paramref name="start"/> or a parent folder; null when there is none.</summary>
    public static string? FindDirectory(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, DirectoryName);
            if (File.Exists(Path.Combine(candidate, "hardware.json")))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Loads from <paramref name="directory"/>, else hw-profiles/ found above the working directory, else the embedded copies.</summary>
    public static ProfileCatalog Load(string? directory = null, string? workingDirectory = null)
    {
        directory ??= FindDirectory(workingDirectory ?? Directory.GetCurrentDirectory());
        if (directory is null)
        {
            return LoadEmbedded();
        }

        if (!Directory.Exists(directory))
        {
            throw new InputException($"--profiles '{directory}': folder not found. Fix: point --profiles at a folder holding hardware.json and models.json");
        }

        var hardware = new List<HardwareProfile>();
        foreach (var name in new[] { "hardware.json", LocalHardwareFile })
        {
            var path = Path.Combine(directory, name);
            if (File.Exists(path))
            {
                hardware.AddRange(ParseHardware(path, File.ReadAllBytes(path)));
            }
            else if (name == "hardware.json")
            {
                throw new InputException($"{path}: file not found. Fix: restore hw-profiles/hardware.json from the repository");
            }
        }

        var modelsPath = Path.Combine(directory, "models.json");
        if (!File.Exists(modelsPath))
        {
            throw new InputException($"{modelsPath}: file not found. Fix: restore hw-profiles/models.json from the repository");
        }

        var models = ParseModels(modelsPath, File.ReadAllBytes(modelsPath));
        CheckTokenPriceModels(Path.Combine(directory, "hardware.json"), hardware, models);
        return new ProfileCatalog(hardware, models, directory);
    }

    /// <summary>A hardware profile's <c>tokenPrices</c> must name models the catalog has.</summary>
    private static void CheckTokenPriceModels(string file, IEnumerable<HardwareProfile> hardware, IReadOnlyList<ModelProfile> models)
    {
        var ids = models.Select(m => m.Id).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var h in hardware)
        {
            foreach (var model in h.TokenPrices.Keys.Where(k => !ids.Contains(k)))
            {
                throw InputException.At(file, null, $"hardware '{h.Id}'.tokenPrices.{model}", "names no model profile", $"key it by a model id of models.json: {string.Join(", ", ids.Order(StringComparer.Ordinal))}");
            }
        }
    }

    /// <summary>The profiles embedded in this assembly at build time.</summary>
    public static ProfileCatalog LoadEmbedded()
    {
        var hardware = ParseHardware("embedded:hw-profiles/hardware.json", ReadEmbedded("hardware.json")!).ToList();
        if (ReadEmbedded(LocalHardwareFile) is { } local)
        {
            hardware.AddRange(ParseHardware("embedded:hw-profiles/" + LocalHardwareFile, local));
        }

        var models = ParseModels("embedded:hw-profiles/models.json", ReadEmbedded("models.json")!);
        CheckTokenPriceModels("embedded:hw-profiles/hardware.json", hardware, models);
        return new ProfileCatalog(hardware, models, "embedded hw-profiles");
    }

    internal static byte[]? ReadEmbedded(string name)
    {
        using var stream = typeof(ProfileCatalog).Assembly.GetManifestResourceStream("hw-profiles." + name);
        if (stream is null)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    public static IReadOnlyList<HardwareProfile> ParseHardware(string file, byte[] utf8)
    {
        var parsed = Deserialize(file, utf8, SimulatorJsonContext.Default.HardwareFile);
        CheckVersion(file, parsed.FormatVersion);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < parsed.Hardware.Count; i++)
        {
            var h = parsed.Hardware[i];
            var at = $"hardware[{i}]";
            Require(file, at, "id", !string.IsNullOrWhiteSpace(h.Id), "is empty", "give every profile a unique lower-case id");
            Require(file, at, "id", seen.Add(h.Id), $"'{h.Id}' appears twice", "give every profile a unique id");
            at = $"hardware[{i}] ('{h.Id}')";
            Require(file, at, "memoryGB", h.MemoryGB > 0, "must be > 0", "give the device memory in GB");
            Require(file, at, "memoryBandwidthGBps", h.MemoryBandwidthGBps > 0, "must be > 0", "give the peak memory bandwidth in GB/s");
            Require(file, at, "peakTflops", h.PeakTflops.TryGetValue("bf16", out var bf16) && bf16 > 0, "needs a bf16 entry > 0", "add \"bf16\": <dense TFLOPS>");
            Require(file, at, "computeEfficiency", h.ComputeEfficiency is > 0 and <= 1, "must be in (0, 1]", "use a fraction of peak such as 0.6");
            Require(file, at, "bandwidthEfficiency", h.BandwidthEfficiency is > 0 and <= 1, "must be in (0, 1]", "use a fraction of peak such as 0.8");
            Require(file, at, "memoryUtilization", h.MemoryUtilization is > 0 and <= 1, "must be in (0, 1]", "use a fraction such as 0.9");
            Require(file, at, "kvCacheFreeFraction", h.KvCacheFreeFraction is > 0 and <= 1, "must be in (0, 1]", "use the stack's share of free memory for the KV cache, e.g. 0.9 (TensorRT-LLM) or 1 (vLLM)");
            Require(file, at, "sramWeightFraction", h.SramWeightFraction is > 0 and <= 1, "must be in (0, 1]", "use the share of SRAM the weights may fill, e.g. 0.5");
            Require(file, at, "maxBatch", h.MaxBatch >= 1, "must be >= 1", "give the engine's largest batch, e.g. 256");
            Require(file, at, "maxStepTokens", h.MaxStepTokens >= 16, "must be >= 16", "give the chunked-prefill token budget, e.g. 8192");
            Require(file, at, "pricePerDeviceHour", h.PricePerDeviceHour >= 0, "must be >= 0", "give the USD price of one device-hour");
            foreach (var (field, value) in new[] { ("stepOverheadMs", h.StepOverheadMs), ("requestOverheadMs", h.RequestOverheadMs), ("inProcessRequestOverheadMs", h.InProcessRequestOverheadMs), ("networkRttMs", h.NetworkRttMs), ("allReduceLatencyUs", h.AllReduceLatencyUs), ("allReduceHopLatencyUs", h.AllReduceHopLatencyUs), ("allReduceCallOverheadUs", h.AllReduceCallOverheadUs), ("interconnectGBps", h.InterconnectGBps), ("runtimeReservedGB", h.RuntimeReservedGB), ("deviceHopMs", h.DeviceHopMs), ("layerOverheadUs", h.LayerOverheadUs), ("expertComputeEfficiency", h.ExpertComputeEfficiency), ("moeLayerOverheadUs", h.MoeLayerOverheadUs), ("moeExpertOverheadUs", h.MoeExpertOverheadUs), ("matVecComputeEfficiency", h.MatVecComputeEfficiency), ("prefillPairNs", h.PrefillPairNs), ("prefillElementNs", h.PrefillElementNs), ("decodeContextNs", h.DecodeContextNs), ("decodeScalarElementNs", h.DecodeScalarElementNs), ("f16VectorElements", h.F16VectorElements), ("kvPadTokens", h.KvPadTokens), ("decodeSplitKvTokens", h.DecodeSplitKvTokens) })
            {
                Require(file, at, field, value >= 0 && double.IsFinite(value), "must be a finite number >= 0", "use 0 when it does not apply");
            }

            Require(file, at, "expertComputeEfficiency", h.ExpertComputeEfficiency <= 1, "must be in [0, 1]", "use a fraction of peak, or 0 for the dense computeEfficiency");
            Require(file, at, "matVecComputeEfficiency", h.MatVecComputeEfficiency <= 1, "must be in [0, 1]", "use a fraction of peak, or 0 for the roofline maximum");
            Require(file, at, "checkpointFormat", h.CheckpointFormat is null || h.CheckpointFormat == "gguf", $"'{h.CheckpointFormat}' is not a known checkpoint format", "use \"gguf\" for a llama.cpp runtime, or leave it out");
            Require(file, at, "kvGroupRereadFraction", h.KvGroupRereadFraction is >= 0 and <= 1, "must be in [0, 1]", "use the share of per-query-head K/V re-reads that reach memory, 1 for every one");
            if (h.Architecture == DeviceArchitecture.SramPipeline)
            {
                Require(file, at, "layerLatencyUs", h.LayerLatencyUs > 0, "must be > 0 for an sram-pipeline device", "give the calibrated per-layer latency in µs");
            }

            var needed = new List<(string Field, bool Present)>
            {
                ("memoryGB", true), ("memoryBandwidthGBps", true), ("peakTflops", true), ("computeEfficiency", true), ("bandwidthEfficiency", true),
                ("stepOverheadMs", h.StepOverheadMs > 0), ("requestOverheadMs", h.RequestOverheadMs > 0), ("networkRttMs", h.NetworkRttMs > 0),
                ("inProcessRequestOverheadMs", h.InProcessRequestOverheadMs > 0), ("kvReadPerQueryHead", h.KvReadPerQueryHead), ("kvGroupRereadFraction", h.KvGroupRereadFraction < 1),
                ("allReduceHopLatencyUs", h.AllReduceHopLatencyUs > 0), ("allReduceCallOverheadUs", h.AllReduceCallOverheadUs > 0),
                ("interconnectGBps", h.InterconnectGBps > 0), ("pricePerDeviceHour", h.PricePerDeviceHour > 0), ("tokenPrices", h.TokenPrices.Count > 0),
                ("layerLatencyUs", h.LayerLatencyUs > 0), ("deviceHopMs", h.DeviceHopMs > 0),
                ("kvCacheFreeFraction", h.KvCacheFreeFraction < 1), ("sramWeightFraction", h.SramWeightFraction < 1), ("runtimeReservedGB", h.RuntimeReservedGB > 0),
                ("layerOverheadUs", h.LayerOverheadUs > 0), ("weightReadGBps", h.WeightReadGBps.Count > 0), ("engineRequestOverheadMs", h.EngineRequestOverheadMs.Count > 0), ("engineSequenceOverheadUs", h.EngineSequenceOverheadUs.Count > 0), ("engine", h.Engine is not null), ("expertComputeEfficiency", h.ExpertComputeEfficiency > 0), ("moeLayerOverheadUs", h.MoeLayerOverheadUs > 0), ("moeExpertOverheadUs", h.MoeExpertOverheadUs > 0), ("matVecComputeEfficiency", h.MatVecComputeEfficiency > 0), ("checkpointFormat", h.CheckpointFormat is not null),
                ("prefillPairNs", h.PrefillPairNs > 0), ("prefillElementNs", h.PrefillElementNs > 0), ("decodeContextNs", h.DecodeContextNs > 0),
                ("decodeScalarElementNs", h.DecodeScalarElementNs > 0), ("f16VectorElements", h.F16VectorElements > 0), ("kvPadTokens", h.KvPadTokens > 0), ("decodeSplitKvTokens", h.DecodeSplitKvTokens > 0),
            };
            foreach (var (name, rate) in h.WeightReadGBps)
            {
                Require(file, at, $"weightReadGBps.{name}", Precision.Find(name) is not null && rate > 0 && double.IsFinite(rate), "needs a known precision and a rate > 0", "give GB/s per precision, e.g. \"q8_0\": 12.5");
            }

            foreach (var (engine, ms) in h.EngineRequestOverheadMs)
            {
                Require(file, at, $"engineRequestOverheadMs.{engine}", ServingEngines.IsKnown(engine) && ms >= 0 && double.IsFinite(ms),
                    "needs a known serving engine and a request overhead >= 0 ms", $"key it by one of: {string.Join(", ", ServingEngines.Known)}, e.g. \"vllm\": 30");
            }

            if (h.Engine is not null)
            {
                Require(file, at, "engine", ServingEngines.IsKnown(h.Engine), "is not a known serving engine", $"use one of: {string.Join(", ", ServingEngines.Known)}, or drop it");
            }

            foreach (var (model, price) in h.TokenPrices)
            {
                Require(file, at, $"tokenPrices.{model}", price.UsdPerMillionInputTokens > 0 && price.UsdPerMillionOutputTokens > 0 && double.IsFinite(price.UsdPerMillionInputTokens) && double.IsFinite(price.UsdPerMillionOutputTokens),
                    "needs usdPerMillionInputTokens and usdPerMillionOutputTokens > 0", "give the vendor's API price per million tokens, e.g. { \"usdPerMillionInputTokens\": 0.6, \"usdPerMillionOutputTokens\": 0.6 }");
            }

            foreach (var (engine, us) in h.EngineSequenceOverheadUs)
            {
                Require(file, at, $"engineSequenceOverheadUs.{engine}", ServingEngines.IsKnown(engine) && us >= 0 && double.IsFinite(us),
                    "needs a known serving engine and a host time >= 0 µs per sequence per step", $"key it by one of: {string.Join(", ", ServingEngines.Known)}, e.g. \"vllm\": 10");
            }

            if (h.SweepFit is { } f)
            {
                const string Fix = "write it with spark-eval simulate calibrate --from-run DIR --write NEW-FOLDER, or drop sweepFit";
                Require(file, at, "sweepFit.run", !string.IsNullOrWhiteSpace(f.Run) && !string.IsNullOrWhiteSpace(f.Backend), "needs run and backend", Fix);
                Require(file, at, "sweepFit.steps", f.Steps >= 3, "must be >= 3 (each step is left out of the fit once)", Fix);
                Require(file, at, "sweepFit.ttftWorstRatio", f.TtftWorstRatio >= 1 && f.TpotWorstRatio >= 1 && double.IsFinite(f.TtftWorstRatio) && double.IsFinite(f.TpotWorstRatio),
                    "ttftWorstRatio and tpotWorstRatio must be finite ratios >= 1", Fix);
                Require(file, at, "sweepFit.medianAbsoluteError", f.MedianAbsoluteError >= 0 && double.IsFinite(f.MedianAbsoluteError), "must be a finite fraction >= 0", Fix);
                Require(file, at, "sweepFit.outputTokensPerSecondMin", f.OutputTokensPerSecondMin > 0 && f.OutputTokensPerSecondMin <= f.OutputTokensPerSecondMax && double.IsFinite(f.OutputTokensPerSecondMax),
                    "needs 0 < outputTokensPerSecondMin <= outputTokensPerSecondMax", Fix);
                Require(file, at, "sweepFit.inputTokensMin", f.InputTokensMin > 0 && f.InputTokensMin <= f.InputTokensMax && double.IsFinite(f.InputTokensMax),
                    "needs 0 < inputTokensMin <= inputTokensMax", Fix);
            }

            CheckSources(file, at, h.Sources, needed);
        }

        return parsed.Hardware;
    }

    public static IReadOnlyList<ModelProfile> ParseModels(string file, byte[] utf8)
    {
        var parsed = Deserialize(file, utf8, SimulatorJsonContext.Default.ModelFile);
        CheckVersion(file, parsed.FormatVersion);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < parsed.Models.Count; i++)
        {
            var m = parsed.Models[i];
            var at = $"models[{i}]";
            Require(file, at, "id", !string.IsNullOrWhiteSpace(m.Id), "is empty", "give every model a unique lower-case id");
            Require(file, at, "id", seen.Add(m.Id), $"'{m.Id}' appears twice", "give every model a unique id");
            at = $"models[{i}] ('{m.Id}')";
            Require(file, at, "parametersB", m.ParametersB > 0, "must be > 0", "give the total parameter count in billions");
            Require(file, at, "activeParametersB", m.ActiveParametersB > 0 && m.ActiveParametersB <= m.ParametersB + 1e-9, "must be in (0, parametersB]", "give the parameters used per token in billions");
            Require(file, at, "layers", m.Layers > 0, "must be > 0", "give the number of transformer layers");
            Require(file, at, "hiddenSize", m.HiddenSize > 0, "must be > 0", "give the model width");
            Require(file, at, "kvHeads", m.KvHeads > 0, "must be > 0", "give the number of key/value heads");
            Require(file, at, "headDim", m.HeadDim > 0, "must be > 0", "give the attention head dimension");
            Require(file, at, "capability", m.Capability is >= 0 and <= 1, "must be in [0, 1]", "give the probability of a correct difficulty-1 answer");
            Require(file, at, "defaultPrecision", Precision.Find(m.DefaultPrecision) is not null, $"'{m.DefaultPrecision}' is not a known precision", $"use one of: {string.Join(", ", Precision.All.Select(p => p.Name))}");
            Require(file, at, "vocabSize", m.VocabSize == 0 || (m.VocabSize > 0 && (m.TiedEmbeddings ? 1.0 : 2.0) * m.VocabSize * m.HiddenSize / 1e9 < m.ParametersB), "must be 0 (not given) or leave parameters beyond embedding and head", "give the vocabulary size, or 0");
            if (m.Experts > 0)
            {
                Require(file, at, "expertsPerToken", m.ExpertsPerToken is > 0 && m.ExpertsPerToken <= m.Experts, "must be in [1, experts]", "give the routed experts per token");
                Require(file, at, "expertParametersB", m.ExpertParametersB > 0 && m.ExpertParametersB < m.ParametersB, "must be in (0, parametersB)", "give the parameters inside routed experts, billions");
            }

            foreach (var (field, value) in new[] { ("nonExpertPrecision", m.NonExpertPrecision), ("ggufNonExpertPrecision", m.GgufNonExpertPrecision) })
            {
                Require(file, at, field, value is null || (m.Experts > 0 && Precision.Find(value) is not null), "must be absent, or for a mixture-of-experts model a known precision", $"use one of: {string.Join(", ", Precision.All.Select(p => p.Name))}, or leave it out");
            }

            Require(file, at, "slidingWindowLayers", m.SlidingWindowLayers >= 0 && m.SlidingWindowLayers <= m.Layers && (m.SlidingWindowLayers == 0) == (m.SlidingWindowTokens == 0), "must be 0 with slidingWindowTokens 0, or in [1, layers] with slidingWindowTokens > 0", "give the layers that attend to a sliding window and the window's tokens, or neither");
            Require(file, at, "slidingWindowTokens", m.SlidingWindowTokens >= 0, "must be >= 0", "give the tokens a sliding-window layer attends to, or 0");
            Require(file, at, "denseLayers", m.DenseLayers >= 0 && (m.DenseLayers == 0 || (m.Experts > 0 && m.DenseLayers < m.Layers)), "must be 0, or for a mixture-of-experts model in [0, layers)", "give the layers whose MLP is dense (first_k_dense_replace), or 0");

            var needed = new List<(string Field, bool Present)>
            {
                ("parametersB", true), ("activeParametersB", m.ActiveParametersB < m.ParametersB), ("layers", true), ("hiddenSize", true),
                ("kvHeads", true), ("headDim", true), ("experts", m.Experts > 0), ("expertParametersB", m.Experts > 0), ("capability", true), ("vocabSize", m.VocabSize > 0), ("denseLayers", m.DenseLayers > 0), ("nonExpertPrecision", m.NonExpertPrecision is not null), ("ggufNonExpertPrecision", m.GgufNonExpertPrecision is not null), ("slidingWindowTokens", m.SlidingWindowTokens > 0),
            };
            CheckSources(file, at, m.Sources, needed);
        }

        return parsed.Models;
    }

    private static void CheckSources(string file, string at, IReadOnlyList<FigureSource> sources, List<(string Field, bool Present)> needed)
    {
        for (var s = 0; s < sources.Count; s++)
        {
            var src = sources[s];
            Require(file, at, $"sources[{s}]", !string.IsNullOrWhiteSpace(src.Url) && !string.IsNullOrWhiteSpace(src.Quote) && !string.IsNullOrWhiteSpace(src.Field),
                "needs field, url and quote", "name the field, the source address and the quoted figure");
        }

        foreach (var (field, present) in needed)
        {
            if (present && !sources.Any(s => string.Equals(s.Field, field, StringComparison.Ordinal)))
            {
                throw InputException.At(file, null, $"{at}.{field}", "has no source", $"add {{\"field\": \"{field}\", \"url\": \"…\", \"quote\": \"…\"}} to sources (every figure needs its source)");
            }
        }
    }

    private static T Deserialize<T>(string file, byte[] utf8, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(utf8, type) ?? throw InputException.At(file, null, null, "is empty (null)", "write a JSON object with formatVersion");
        }
        catch (JsonException ex)
        {
            var line = ex.LineNumber is { } l ? (int)l + 1 : (int?)null;
            throw InputException.At(file, line, ex.Path, $"is not valid ({FirstSentence(ex.Message)})", "correct the JSON; see docs/simulator.md#profiles for the shape");
        }
    }

    private static string FirstSentence(string message)
    {
        var dot = message.IndexOf(". ", StringComparison.Ordinal);
        return dot > 0 ? message[..dot] : message;
    }

    private static void CheckVersion(string file, int version)
    {
        if (version != FormatVersion)
        {
            throw InputException.At(file, null, "formatVersion", string.Create(CultureInfo.InvariantCulture, $"is {version}, this build reads {FormatVersion}"), $"set \"formatVersion\": {FormatVersion}");
        }
    }

    private static void Require(string file, string at, string field, bool ok, string problem, string fix)
    {
        if (!ok)
        {
            throw InputException.At(file, null, $"{at}.{field}", problem, fix);
        }
    }

    internal static Assembly Assembly => typeof(ProfileCatalog).Assembly;
}
