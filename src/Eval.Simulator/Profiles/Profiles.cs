using System.Text.Json.Serialization;

namespace Spark.Eval.Simulator.Profiles;

/// <summary>How a device executes a model: HBM/DRAM roofline (GPU, CPU, unified memory) or an on-chip SRAM layer pipeline.</summary>
public enum DeviceArchitecture
{
    /// <summary>Weights stream from off-chip memory every step: a compute/bandwidth roofline.</summary>
    [JsonStringEnumMemberName("roofline")] Roofline,

    /// <summary>Weights stay in on-chip SRAM spread over layers (wafer-scale, LPU): latency is a per-layer pipeline.</summary>
    [JsonStringEnumMemberName("sram-pipeline")] SramPipeline,
}

/// <summary>Where one figure of a profile comes from: the field, a source address and the quoted text.</summary>
public sealed record FigureSource(string Field, string Url, string Quote);

/// <summary>One hardware profile (setters, not init, so that source-generated JSON keeps the defaults of absent fields): a device's memory, bandwidth, peak compute, efficiency constants, overheads and price.</summary>
public sealed record HardwareProfile
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    /// <summary>The calibration family (one set of efficiency constants per family, never per row).</summary>
    public required string Family { get; init; }
    public DeviceArchitecture Architecture { get; set; } = DeviceArchitecture.Roofline;
    /// <summary>Memory per device that holds weights and KV cache (HBM, DRAM, or on-chip SRAM for sram-pipeline), GB (1e9 bytes).</summary>
    public double MemoryGB { get; init; }
    /// <summary>Peak memory bandwidth per device, GB/s (SRAM bandwidth for sram-pipeline).</summary>
    public double MemoryBandwidthGBps { get; init; }
    /// <summary>Dense peak TFLOPS (or TOPS) per device by precision name.</summary>
    public IReadOnlyDictionary<string, double> PeakTflops { get; init => field = value ?? new Dictionary<string, double>(); } = new Dictionary<string, double>();
    /// <summary>Per-direction device-to-device bandwidth for tensor-parallel all-reduce, GB/s; 0 when devices are not linked.</summary>
    public double InterconnectGBps { get; init; }
    /// <summary>Fraction of peak compute reached by prefill matmuls (calibrated per family).</summary>
    public double ComputeEfficiency { get; set; } = 0.5;
    /// <summary>Fraction of peak bandwidth reached by decode weight and KV reads (calibrated per family).</summary>
    public double BandwidthEfficiency { get; set; } = 0.7;
    /// <summary>Fixed cost of one engine step (scheduling, kernel launches, sampling), ms.</summary>
    public double StepOverheadMs { get; init; }
    /// <summary>Fixed cost per request before its first step (tokenisation, HTTP, queue hand-off), ms.</summary>
    public double RequestOverheadMs { get; init; }
    /// <summary>
    /// Fixed cost per request that remains when the engine is driven in process (no HTTP server, no tokeniser round
    /// trip): the runtime's own per-call setup, ms. Replaces <see cref="RequestOverheadMs"/> for in-process validation rows; 0 unless a
    /// serving-stack profile gives it.
    /// </summary>
    public double InProcessRequestOverheadMs { get; init; }
    /// <summary>
    /// Decode attention reads each K/V head once per query head instead of once per group of query heads sharing it
    /// (grouped-query attention run by a kernel with one thread block per query head, e.g. TensorRT-LLM 2023's masked
    /// MHA without XQA): KV bytes read per step scale by attentionHeads / kvHeads. False for current engines.
    /// </summary>
    public bool KvReadPerQueryHead { get; init; }
    /// <summary>
    /// With <see cref="KvReadPerQueryHead"/>: the share of the extra per-query-head K/V reads that reach memory, the rest being served
    /// from the GPU's L2 cache by the group's other thread blocks. Reads per cached token = 1 + fraction · (attentionHeads / kvHeads − 1):
    /// 1 (the default) is the upper bound (every re-read from memory), 0 a kernel that shares each K/V head perfectly. Fitted per
    /// serving-stack profile on its grouped-query calibration rows (docs/simulator.md).
    /// </summary>
    public double KvGroupRereadFraction { get; set; } = 1.0;
    /// <summary>Client-to-server network round trip added to time to first token, ms.</summary>
    public double NetworkRttMs { get; init; }
    /// <summary>Latency of one all-reduce (launch plus synchronisation), µs; with <see cref="AllReduceHopLatencyUs"/> its base part.</summary>
    public double AllReduceLatencyUs { get; set; } = 8;
    /// <summary>
    /// Latency per ring step of one all-reduce, µs: a ring all-reduce over TP devices takes 2(TP − 1) steps (NCCL's
    /// latency model, base + steps · hop). 0 keeps the all-reduce latency independent of the TP degree.
    /// </summary>
    public double AllReduceHopLatencyUs { get; init; }
    /// <summary>Latency of one ring all-reduce over <paramref name="tensorParallel"/> devices, µs: base + 2(TP − 1) · hop.</summary>
    public double RingAllReduceLatencyUs(int tensorParallel) => AllReduceLatencyUs + (2.0 * (tensorParallel - 1) * AllReduceHopLatencyUs);
    /// <summary>
    /// Cost per all-reduce site of the model (two per layer) paid once per call, not per step, when TP &gt; 1, µs: the
    /// part of a fitted tensor-parallel cost that exceeds the collective's own latency. 0 unless a serving stack gives it.
    /// </summary>
    public double AllReduceCallOverheadUs { get; init; }
    /// <summary>Fraction of device memory left for weights and KV cache after runtime reservations (vLLM's gpu_memory_utilization).</summary>
    public double MemoryUtilization { get; set; } = 0.9;
    /// <summary>
    /// Share of the memory still free after the weights that the serving stack gives the KV cache (TensorRT-LLM's
    /// kv_cache_free_gpu_mem_fraction, 0.9 by default; 1 for stacks whose budget is <see cref="MemoryUtilization"/> alone, as vLLM).
    /// </summary>
    public double KvCacheFreeFraction { get; set; } = 1.0;
    /// <summary>
    /// Memory per device the serving stack holds outside weights and KV cache (activation workspace for a full step of
    /// <see cref="MaxStepTokens"/>, CUDA graphs, communication buffers), GB; taken before the KV share is computed.
    /// </summary>
    public double RuntimeReservedGB { get; init; }
    /// <summary>
    /// The serving stack's scheduler default: chunked prefill on (prompt chunks share steps with decode tokens, up to
    /// <see cref="MaxStepTokens"/>) or off (prefill-first). What <c>simulate</c> and validation use unless told otherwise.
    /// </summary>
    public bool ChunkedPrefill { get; set; } = true;
    /// <summary>
    /// sram-pipeline only: the largest share of each chip's SRAM the vendor's deployment gives the weights; the rest holds
    /// KV cache and activations, so the chip count is ceil(weights / (memory · this)). 1 sizes the pipeline to the weights alone.
    /// </summary>
    public double SramWeightFraction { get; set; } = 1.0;
    /// <summary>Largest batch the engine schedules in one step.</summary>
    public int MaxBatch { get; set; } = 256;
    /// <summary>Token budget of one step when chunked prefill is on.</summary>
    public int MaxStepTokens { get; set; } = 8192;
    /// <summary>Fixed cost of one layer in one step regardless of its size (per-operator dispatch and thread synchronisation), µs; measured for CPUs by calibrate, 0 elsewhere.</summary>
    public double LayerOverheadUs { get; init; }
    /// <summary>Fixed cost per prompt query·key pair per attention head per layer in prefill (scores, mask, softmax beyond their FLOPs), ns; measured for CPUs by calibrate, 0 elsewhere.</summary>
    public double PrefillPairNs { get; init; }
    /// <summary>Fixed cost per prompt token per hidden element per layer in prefill (norms, rotary, activations, residual adds: element-wise work outside the FLOP count), ns; measured for CPUs by calibrate, 0 elsewhere.</summary>
    public double PrefillElementNs { get; init; }
    /// <summary>Fixed cost per cached token of the decoding sequences per attention head per layer (KV-cache views, scores, softmax beyond their FLOPs), ns; measured for CPUs by calibrate, 0 elsewhere.</summary>
    public double DecodeContextNs { get; init; }
    /// <summary>
    /// Cost per head-dimension element that the runtime's F16 attention kernels leave to scalar code, per attended
    /// token·head·layer of a decode step (K dot product and V multiply-add each), ns; measured for CPUs by calibrate, 0 elsewhere.
    /// </summary>
    public double DecodeScalarElementNs { get; init; }
    /// <summary>
    /// Elements per SIMD block of the runtime's F16 dot-product and multiply-add kernels (llama.cpp's GGML_F16_STEP: 64
    /// on AVX-512, 32 on AVX/AVX2); head dimension mod this many elements run scalar. 0: no scalar remainder.
    /// </summary>
    public int F16VectorElements { get; init; }
    /// <summary>The runtime attends over its KV cache padded to a multiple of this many cells (llama.cpp: 256); 0: no padding.</summary>
    public int KvPadTokens { get; init; }
    /// <summary>
    /// A lone decoding sequence whose padded KV cache holds at least this many cells has its attention split over the
    /// threads in equal KV chunks (llama.cpp's split-KV path: 512); 0: attention is split over heads only.
    /// </summary>
    public int DecodeSplitKvTokens { get; init; }
    /// <summary>
    /// Measured rate at which a decode step streams weights of a precision, GB/s, efficiency included (the runtime's own
    /// matrix-vector kernels, e.g. llama.cpp's q8_0 and f16 dot products); used instead of bandwidth × efficiency for weight reads.
    /// </summary>
    public IReadOnlyDictionary<string, double> WeightReadGBps { get; init => field = value ?? new Dictionary<string, double>(); } = new Dictionary<string, double>();
    /// <summary>
    /// The checkpoint format the device's runtime loads: "gguf" for llama.cpp (a model's <c>ggufNonExpertPrecision</c> then
    /// applies); null: the model's published (Hugging Face) checkpoint.
    /// </summary>
    public string? CheckpointFormat { get; init; }

    /// <summary>
    /// The serving engine this profile's constants describe (one of <see cref="ServingEngines.Known"/>), used when a run names
    /// none (<c>simulate</c> without <c>--engine</c>, <c>procure</c>): its <see cref="EngineRequestOverheadMs"/> and
    /// <see cref="EngineSequenceOverheadUs"/> entries then apply. Null: the profile's own overheads only.
    /// </summary>
    public string? Engine { get; init; }
    /// <summary>
    /// The request overhead of a named serving engine on this device (vllm, sglang, …), ms, in place of
    /// <see cref="RequestOverheadMs"/> for a row or a <c>simulate --engine</c> run of that engine: the engine's own
    /// first-token path (API server, tokenising, the hop to the engine core, scheduling). An engine not listed pays
    /// the profile's <see cref="RequestOverheadMs"/>. Names: <see cref="ServingEngines.Known"/>.
    /// </summary>
    public IReadOnlyDictionary<string, double> EngineRequestOverheadMs { get; init => field = value ?? new Dictionary<string, double>(); } = new Dictionary<string, double>();

    /// <summary>
    /// Host time a named serving engine spends per running sequence per step, µs (scheduling, input preparation and output
    /// processing loop over the batch's sequences), beside the fixed <see cref="StepOverheadMs"/>: a step of n sequences pays
    /// stepOverheadMs + n · this on the host. Asynchronous scheduling overlaps both with the device's work. An engine not
    /// listed pays none; <see cref="SequenceOverheadUs"/> is the value in force for a run (set from this by the engine).
    /// </summary>
    public IReadOnlyDictionary<string, double> EngineSequenceOverheadUs { get; init => field = value ?? new Dictionary<string, double>(); } = new Dictionary<string, double>();

    /// <summary>The per-sequence host time in force for a run, µs (0 unless the run's engine has one in <see cref="EngineSequenceOverheadUs"/>).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public double SequenceOverheadUs { get; init; }
    /// <summary>
    /// Fraction of peak the routed-expert (mixture-of-experts) GEMMs reach, in place of <see cref="ComputeEfficiency"/>
    /// for the expert share of a step's linear FLOPs: a grouped GEMM over many small per-expert batches, with the weights
    /// widened from a block format inside the kernel, runs far below a dense GEMM. 0: the same as computeEfficiency.
    /// </summary>
    public double ExpertComputeEfficiency { get; init; }
    /// <summary>
    /// Fixed cost of one mixture-of-experts layer in every step, µs (0: none): the routing and token-permutation kernels and the
    /// grouped-GEMM launches of a serving stack's fused MoE path, which do not shrink with the bytes a small batch reads nor with
    /// tensor parallelism (each device runs them on its own slice). Charged per MoE layer (<see cref="ModelProfile.MoeLayers"/>:
    /// a model's dense-MLP layers run no MoE kernels). Fitted on MoE decode rows at small batch (docs/simulator.md).
    /// </summary>
    public double MoeLayerOverheadUs { get; init; }
    /// <summary>
    /// Cost of each routed expert a step touches, per MoE layer, µs (0: none): the grouped GEMM's per-expert tile work at a
    /// few tokens per expert, beyond the expert's bytes. Scales with the expected distinct experts the step's tokens touch
    /// (<see cref="Latency.LatencyModel.ExpectedDistinctExperts"/>) and sits on the memory side of the linear roofline, so a
    /// compute-bound step hides it (docs/simulator.md).
    /// </summary>
    public double MoeExpertOverheadUs { get; init; }
    /// <summary>
    /// Fraction of peak a decode step's matrix-vector kernels reach on their arithmetic when it does not overlap the weight
    /// stream (llama.cpp on Metal dequantises and multiplies each weight block once per sequence of the batch): a step with
    /// no prompt tokens then costs weights / read rate + linear FLOPs / (devices · peak · this), added, instead of the larger
    /// of the two. 0: the roofline maximum (every profile but apple-m).
    /// </summary>
    public double MatVecComputeEfficiency { get; init; }
    /// <summary>Threads the runtime used when this profile was measured (CPU profiles written by calibrate); 0 when not applicable.</summary>
    public int Threads { get; init; }
    /// <summary>Time for one token to pass one layer, µs (calibrated per family): on an sram-pipeline device the pipeline latency; on a roofline device the floor of a step's linear (weight-stream) kernels per layer, their dispatch chain (0 = none).</summary>
    public double LayerLatencyUs { get; init; }
    /// <summary>sram-pipeline only: cost of crossing from one device to the next in the pipeline, ms (calibrated per family).</summary>
    public double DeviceHopMs { get; init; }
    /// <summary>Price of one device-hour, USD (list or typical cloud price, see sources).</summary>
    public double PricePerDeviceHour { get; init; }
    /// <summary>
    /// Where the vendor sells tokens rather than device-hours (Cerebras, Groq): its API price per model id, USD per million
    /// input and output tokens (the <c>tokenPrices</c> source entry names the vendor's model names and the date).
    /// </summary>
    public IReadOnlyDictionary<string, ApiTokenPrice> TokenPrices { get; init => field = value ?? new Dictionary<string, ApiTokenPrice>(); } = new Dictionary<string, ApiTokenPrice>();
    /// <summary>
    /// A profile fitted to a measured sweep (<c>simulate calibrate --from-run --write</c>): its own error on that sweep, each
    /// step predicted by constants fitted without it, and the load and prompt lengths the sweep covered. Null on every
    /// catalog profile and on profiles the fit was carried to (<c>--apply-to</c>), whose error is their family's.
    /// </summary>
    public SweepFitError? SweepFit { get; init; }
    public IReadOnlyList<FigureSource> Sources { get; init => field = value ?? []; } = [];

    /// <summary>"url: quote" of the source entry for <paramref name="field"/>; null when the profile has none.</summary>
    public string? SourceOf(string field) => Sources.FirstOrDefault(s => s.Field == field) is { } s ? $"{s.Url}: {s.Quote}" : null;

    /// <summary>
    /// Peak TFLOPS for a precision: the precision's own figure, else its ComputeAs alias's (when the device has the
    /// tensor-core format the alias needs, see <see cref="Precision.AliasNeeds"/>), else bf16's.
    /// </summary>
    public double PeakTflopsFor(Precision precision)
    {
        ArgumentNullException.ThrowIfNull(precision);
        return PeakTflops.TryGetValue(precision.Name, out var v) ? v
            : precision.ComputeAs is { } alias && (precision.AliasNeeds is not { } needs || PeakTflops.ContainsKey(needs)) && PeakTflops.TryGetValue(alias, out var a) ? a
            : PeakTflops.TryGetValue("bf16", out var b) ? b : 0;
    }
}

/// <summary>
/// How well a profile fitted to a user's sweep predicts that endpoint: every step of the sweep was left out of the fit in
/// turn and predicted by the constants fitted on the others (mean TTFT and mean TPOT per step), so the ratios are errors
/// on points the constants had not seen. They hold only inside what the sweep measured: its output-token rates and its
/// prompt lengths (<c>procure</c> checks both before it uses them in place of the family's holdout band).
/// </summary>
public sealed record SweepFitError
{
    /// <summary>The sweep directory the profile was fitted to.</summary>
    public required string Run { get; init; }
    /// <summary>The backend of the sweep whose points were fitted.</summary>
    public required string Backend { get; init; }
    /// <summary>Steps (loads) of the sweep; each was left out once.</summary>
    public int Steps { get; init; }
    /// <summary>Worst max(predicted / measured, measured / predicted) of a left-out step's mean TTFT.</summary>
    public double TtftWorstRatio { get; init; }
    /// <summary>The same for mean TPOT.</summary>
    public double TpotWorstRatio { get; init; }
    /// <summary>Median |predicted − measured| / measured over every left-out point.</summary>
    public double MedianAbsoluteError { get; init; }
    /// <summary>Lowest and highest output tokens per second a step of the sweep measured (one endpoint: one replica).</summary>
    public double OutputTokensPerSecondMin { get; init; }
    public double OutputTokensPerSecondMax { get; init; }
    /// <summary>Lowest and highest mean prompt length of a step, tokens.</summary>
    public double InputTokensMin { get; init; }
    public double InputTokensMax { get; init; }
}

/// <summary>A vendor's API price for one model, USD per million input and output tokens.</summary>
public sealed record ApiTokenPrice
{
    public double UsdPerMillionInputTokens { get; init; }
    public double UsdPerMillionOutputTokens { get; init; }
}

/// <summary>One model profile: architecture figures that drive the latency model, mixture-of-experts shape and capability.</summary>
public sealed record ModelProfile
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    /// <summary>All parameters, billions.</summary>
    public double ParametersB { get; init; }
    /// <summary>Parameters used per token, billions (equal to <see cref="ParametersB"/> for dense models).</summary>
    public double ActiveParametersB { get; init; }
    public int Layers { get; init; }
    public int HiddenSize { get; init; }
    public int AttentionHeads { get; init; }
    public int KvHeads { get; init; }
    public int HeadDim { get; init; }
    /// <summary>Routed experts per layer; 0 for dense models.</summary>
    public int Experts { get; init; }
    /// <summary>Routed experts each token uses.</summary>
    public int ExpertsPerToken { get; init; }
    /// <summary>Parameters inside routed experts (all layers, all experts), billions.</summary>
    public double ExpertParametersB { get; init; }
    /// <summary>
    /// Layers of a mixture-of-experts model whose MLP is dense (no router, no routed experts): DeepSeek-V3-style
    /// configurations' <c>first_k_dense_replace</c>. 0: every layer routes.
    /// </summary>
    public int DenseLayers { get; init; }
    /// <summary>
    /// Precision of the weights outside the routed experts (attention, router, embedding, head) in a checkpoint that quantizes
    /// only its experts (gpt-oss: MXFP4 experts, the rest BF16); applies when the model runs at its default precision. Null:
    /// every weight at the run's precision.
    /// </summary>
    public string? NonExpertPrecision { get; init; }
    /// <summary>
    /// Precision of the weights outside the routed experts in the model's GGUF checkpoint (ggml-org's gpt-oss GGUFs: Q8_0),
    /// used instead of <see cref="NonExpertPrecision"/> on a device whose runtime loads GGUF files.
    /// </summary>
    public string? GgufNonExpertPrecision { get; init; }
    /// <summary>Tokens a sliding-window attention layer attends to (the last W); 0 = no sliding-window layers.</summary>
    public int SlidingWindowTokens { get; init; }
    /// <summary>Layers that use sliding-window attention (gpt-oss: every other layer); the rest attend to the whole context.</summary>
    public int SlidingWindowLayers { get; init; }
    /// <summary>
    /// Vocabulary size; 0 = not given (every parameter then counts as a per-token linear weight). When given, the input
    /// embedding is a lookup (no compute, one row read) and the output head is computed only for tokens whose logits are needed.
    /// </summary>
    public int VocabSize { get; init; }
    /// <summary>Input embedding and output head share one matrix (counted once in <see cref="ParametersB"/>).</summary>
    public bool TiedEmbeddings { get; init; }
    public int ContextLength { get; set; } = 8192;
    /// <summary>Probability of a correct answer to a difficulty-1 task (simulated quality); see docs/simulator.md.</summary>
    public double Capability { get; set; } = 0.5;
    /// <summary>Precision used when none is given.</summary>
    public string DefaultPrecision { get; set; } = "bf16";
    public IReadOnlyList<FigureSource> Sources { get; init => field = value ?? []; } = [];

    public bool IsMixtureOfExperts => Experts > 0 && ExpertsPerToken > 0;

    /// <summary>Layers that run the routed-expert (fused MoE) path: layers − dense layers for an MoE model, else 0.</summary>
    public int MoeLayers => IsMixtureOfExperts ? Math.Max(0, Layers - DenseLayers) : 0;
}

/// <summary>A hardware profile file: format version and the profiles it holds.</summary>
public sealed record HardwareFile
{
    public int FormatVersion { get; init; }
    public IReadOnlyList<HardwareProfile> Hardware { get; init => field = value ?? []; } = [];
}

/// <summary>A model profile file: format version and the profiles it holds.</summary>
public sealed record ModelFile
{
    public int FormatVersion { get; init; }
    public IReadOnlyList<ModelProfile> Models { get; init => field = value ?? []; } = [];
}

/// <summary>
/// A numeric precision: bytes per weight, bytes per KV element, which peak-compute figure it uses, and which tensor-core
/// format a device must have for that figure to apply (otherwise the weights are widened and multiplied at bf16).
/// </summary>
public sealed record Precision(string Name, double BytesPerWeight, double BytesPerKv, string? ComputeAs, string? AliasNeeds = null)
{
    public static readonly IReadOnlyList<Precision> All =
    [
        new("bf16", 2.0, 2.0, null),
        new("fp8", 1.0, 1.0, null),
        new("int8", 1.0, 2.0, "fp8"),
        // llama.cpp block formats: q8_0 stores 32 int8 weights plus one fp16 scale (8.5 bits); q4_0 stores 4.5 bits.
        new("q8_0", 1.0625, 2.0, "int8"),
        new("q4", 0.5625, 2.0, "int8"),
        // MXFP4 (gpt-oss): 4-bit values with a shared 8-bit scale per 32 (4.25 bits).
        // Devices with FP4 tensor cores (Blackwell) multiply MXFP4 weights with FP8 activations; devices without them
        // (Hopper, whose narrowest tensor format is FP8; CDNA3) widen the weights and run bf16 GEMMs (weight-only W4A16).
        new("mxfp4", 0.53125, 2.0, "fp8", AliasNeeds: "fp4"),
        // NVFP4 (Blackwell): 4-bit values with an FP8 scale per 16 (4.5 bits); KV cache in FP8.
        new("fp4", 0.5625, 1.0, "fp8"),
    ];

    public static Precision? Find(string name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
}
