using System.Globalization;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Latency;

/// <summary>
/// The analytic cost of one engine step for a hardware × model × precision × tensor-parallel profile.
/// Roofline devices: linear layers and attention each max(compute, memory), added, + all-reduce + step overhead.
/// SRAM-pipeline devices: per-layer pipeline latency plus device hops, or compute when the batch is large. Every formula is written out in docs/simulator.md.
/// </summary>
public sealed class LatencyModel
{
    private readonly double _computeFlopsPerSecond;
    private readonly double _bytesPerSecond;
    private readonly double _nonExpertBytes;
    private readonly double _expertBytes;
    private readonly double _attentionWidth;
    private readonly double _stepOverhead;
    private readonly double _sequenceOverhead;
    private readonly double _pipelineLatency;
    private readonly double _linearFloor;
    private readonly double _layerOverhead;
    private readonly double _linearParams;
    private readonly double _headParams;
    private readonly double _lookupBytes;
    private readonly double _weightBytesPerSecond;
    private readonly double _nonExpertWeightBytesPerSecond;
    private readonly double _kvContextReads;
    private readonly double _expertFlopsPerSecond;
    private readonly double _expertActiveParams;
    private readonly double _matVecFlopsPerSecond;
    private readonly double _moeLayerOverhead;
    private readonly double _moeExpertOverhead;

    public LatencyModel(HardwareProfile hardware, ModelProfile model, Precision precision, int tensorParallel)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(precision);
        Hardware = hardware;
        Model = model;
        Precision = precision;
        // A checkpoint that quantizes only its routed experts (gpt-oss: MXFP4 experts, BF16 attention, router, embedding and
        // head) keeps the other weights at their own precision when it runs as published (its default precision).
        var nonExpertPrecision = NonExpertPrecisionFor(model, precision, hardware);
        _expertBytes = model.IsMixtureOfExperts ? model.ExpertParametersB * 1e9 * precision.BytesPerWeight : 0;
        _nonExpertBytes = ((model.ParametersB - (model.IsMixtureOfExperts ? model.ExpertParametersB : 0)) * 1e9 * nonExpertPrecision.BytesPerWeight);
        WeightBytes = _nonExpertBytes + _expertBytes;
        KvBytesPerToken = 2.0 * model.Layers * model.KvHeads * model.HeadDim * precision.BytesPerKv;
        _attentionWidth = (double)Math.Max(1, model.AttentionHeads) * model.HeadDim;
        _stepOverhead = hardware.StepOverheadMs / 1000.0;
        _sequenceOverhead = hardware.SequenceOverheadUs / 1e6;
        _layerOverhead = model.Layers * hardware.LayerOverheadUs / 1e6;
        // A stack's fused MoE path runs its routing, permutation and grouped-GEMM kernels once per MoE layer per step; dense-MLP
        // layers of an MoE model (first_k_dense_replace) run none (docs/simulator.md).
        _moeLayerOverhead = model.MoeLayers * hardware.MoeLayerOverheadUs / 1e6;
        // Each routed expert a step touches costs its grouped-GEMM tile work once per MoE layer, beside its bytes (docs/simulator.md).
        _moeExpertOverhead = model.MoeLayers * hardware.MoeExpertOverheadUs / 1e6;
        // A kernel with one thread block per query head reads a shared (grouped-query) K/V head once per query head; the share of
        // those re-reads that the L2 cache does not catch reaches memory (KvGroupRereadFraction, 1 = every re-read).
        _kvContextReads = hardware.KvReadPerQueryHead
            ? 1.0 + (Math.Clamp(hardware.KvGroupRereadFraction, 0, 1) * (Math.Max(1.0, (double)model.AttentionHeads / model.KvHeads) - 1.0))
            : 1.0;

        // With a vocabulary size the input embedding is a lookup (no FLOPs; one row read) and the output head is
        // computed only for tokens that need logits. Without it every parameter is a per-token linear weight.
        var headParams = model.VocabSize > 0 ? (double)model.VocabSize * model.HiddenSize : 0;
        var lookupParams = model.VocabSize > 0 && !model.TiedEmbeddings ? headParams : 0;
        _headParams = headParams;
        _linearParams = (model.ActiveParametersB * 1e9) - headParams - lookupParams;
        _lookupBytes = lookupParams * nonExpertPrecision.BytesPerWeight;
        var usable = hardware.MemoryGB * 1e9 * hardware.MemoryUtilization;

        if (hardware.Architecture == DeviceArchitecture.SramPipeline)
        {
            // Weights must sit in on-chip SRAM: the device count follows from the model size, not from --tp. Vendors deploy
            // enough chips that the weights fill only part of the SRAM; the rest holds the KV cache of a batch.
            Devices = Math.Max(tensorParallel, (int)Math.Ceiling((WeightBytes / (usable * Math.Clamp(hardware.SramWeightFraction, 0.01, 1.0))) - 1e-9));
            _pipelineLatency = (model.Layers * hardware.LayerLatencyUs / 1e6) + ((Devices - 1) * hardware.DeviceHopMs / 1000.0);
        }
        else
        {
            Devices = tensorParallel;
            // The linear kernels of a step run as a chain per layer: each waits for the previous, so a small model's step cannot
            // be shorter than the chain's dispatch latency, whatever its weight stream (llama.cpp on Metal; docs/simulator.md).
            _linearFloor = model.Layers * hardware.LayerLatencyUs / 1e6;
            if (WeightBytes > Devices * usable)
            {
                throw new InputException(string.Create(CultureInfo.InvariantCulture,
                    $"--model {model.Id} at {precision.Name}: weights need {WeightBytes / 1e9:F1} GB but {Devices} × {hardware.Id} hold {Devices * usable / 1e9:F1} GB usable. Fix: raise --tp, or pick a smaller --precision or model"));
            }
        }

        TensorParallel = tensorParallel;
        _computeFlopsPerSecond = Devices * hardware.PeakTflopsFor(precision) * 1e12 * hardware.ComputeEfficiency;
        // Routed-expert GEMMs may run at their own efficiency (grouped GEMM over per-expert batches; docs/simulator.md).
        _expertFlopsPerSecond = hardware.ExpertComputeEfficiency > 0 ? Devices * hardware.PeakTflopsFor(precision) * 1e12 * hardware.ExpertComputeEfficiency : _computeFlopsPerSecond;
        _expertActiveParams = model.IsMixtureOfExperts ? model.ExpertParametersB * 1e9 * model.ExpertsPerToken / model.Experts : 0;
        _matVecFlopsPerSecond = Devices * hardware.PeakTflopsFor(precision) * 1e12 * hardware.MatVecComputeEfficiency;
        _bytesPerSecond = Devices * hardware.MemoryBandwidthGBps * 1e9 * hardware.BandwidthEfficiency;
        _weightBytesPerSecond = hardware.WeightReadGBps.TryGetValue(precision.Name, out var measured) ? Devices * measured * 1e9 : _bytesPerSecond;
        _nonExpertWeightBytesPerSecond = hardware.WeightReadGBps.TryGetValue(nonExpertPrecision.Name, out var measuredDense) ? Devices * measuredDense * 1e9 : _bytesPerSecond;
        // The stack's budget (memory × utilisation) less the weights; a stack such as TensorRT-LLM gives the KV cache a share of that free memory.
        KvCapacityTokens = (long)Math.Max(0, ((Devices * (usable - (hardware.RuntimeReservedGB * 1e9))) - WeightBytes) * Math.Clamp(hardware.KvCacheFreeFraction, 0, 1) / KvBytesPerToken);
    }

    public HardwareProfile Hardware { get; }

    public ModelProfile Model { get; }

    public Precision Precision { get; }

    public int TensorParallel { get; }

    /// <summary>Devices that serve one replica: the TP degree, or for SRAM-pipeline chips the count whose SRAM holds the weights.</summary>
    public int Devices { get; }

    /// <summary>Bytes of all weights at this precision.</summary>
    public double WeightBytes { get; }

    /// <summary>KV-cache bytes per token: 2 (K and V) · layers · kvHeads · headDim · bytes per element.</summary>
    public double KvBytesPerToken { get; }

    /// <summary>Tokens of KV cache the replica holds: (devices · (memory · utilisation − runtime reserve) − weights) · KV free fraction / KV bytes per token.</summary>
    public long KvCapacityTokens { get; }

    /// <summary>Largest batch of sequences of <paramref name="sequenceTokens"/> tokens that fits the KV cache and the engine's batch limit.</summary>
    public int MaxBatch(int sequenceTokens) =>
        (int)Math.Clamp(KvCapacityTokens / Math.Max(1, KvTokensFor(sequenceTokens)), 0, Hardware.MaxBatch);

    /// <summary>
    /// Expected distinct routed experts touched per layer by <paramref name="tokens"/> tokens, each choosing k of E
    /// uniformly: E · (1 − (1 − k/E)^tokens).
    /// </summary>
    public double ExpectedDistinctExperts(double tokens)
    {
        if (!Model.IsMixtureOfExperts)
        {
            return 0;
        }

        var e = (double)Model.Experts;
        return e * (1 - Math.Pow(1 - (Model.ExpertsPerToken / e), tokens));
    }

    /// <summary>
    /// Seconds one step spends on the routed experts it touches beyond their bytes: MoE layers · moeExpertOverheadUs ·
    /// expected distinct experts of <paramref name="tokens"/> tokens; 0 for a dense model or without the constant.
    /// </summary>
    public double MoeExpertSeconds(double tokens) => _moeExpertOverhead == 0 ? 0 : _moeExpertOverhead * ExpectedDistinctExperts(tokens);

    /// <summary>Bytes of weights one step reads: all dense weights plus the experts its tokens touch.</summary>
    public double WeightBytesRead(double tokens) => NonExpertBytesRead + ExpertBytesRead(tokens);

    /// <summary>Seconds one step spends streaming its weights: non-expert and touched expert bytes, each at its format's read rate.</summary>
    public double WeightReadSeconds(double tokens) =>
        (NonExpertBytesRead / _nonExpertWeightBytesPerSecond) + (ExpertBytesRead(tokens) / _weightBytesPerSecond);

    /// <summary>
    /// Precision of the weights outside the routed experts: when the model runs at its default (published) precision, its
    /// <c>nonExpertPrecision</c> (its <c>ggufNonExpertPrecision</c> on a device whose runtime loads GGUF files); else the run's precision.
    /// </summary>
    private static Precision NonExpertPrecisionFor(ModelProfile model, Precision precision, HardwareProfile hardware)
    {
        var name = string.Equals(hardware.CheckpointFormat, "gguf", StringComparison.OrdinalIgnoreCase) && model.GgufNonExpertPrecision is { } gguf
            ? gguf
            : model.NonExpertPrecision;
        return name is not null
            && string.Equals(precision.Name, model.DefaultPrecision, StringComparison.OrdinalIgnoreCase)
            && Precision.Find(name) is { } own ? own : precision;
    }

    private double NonExpertBytesRead => _nonExpertBytes - _lookupBytes;

    private double ExpertBytesRead(double tokens) =>
        Model.IsMixtureOfExperts ? _expertBytes * ExpectedDistinctExperts(tokens) / Model.Experts : 0;

    /// <summary>
    /// Tensor-parallel all-reduce time of one step: two all-reduces per layer, each α + 2(TP−1)/TP · tokens·hidden·2 bytes / link bandwidth,
    /// with α = latency + 2(TP−1) · hop latency (a ring all-reduce's steps).
    /// </summary>
    public double AllReduceSeconds(double tokens)
    {
        if (TensorParallel <= 1 || Hardware.Architecture == DeviceArchitecture.SramPipeline)
        {
            return 0;
        }

        var bytes = tokens * Model.HiddenSize * 2.0;
        var link = Hardware.InterconnectGBps > 0 ? Hardware.InterconnectGBps * 1e9 : 25e9;
        var latency = Hardware.RingAllReduceLatencyUs(TensorParallel) / 1e6;
        var perReduce = latency + (2.0 * (TensorParallel - 1) / TensorParallel * bytes / link);
        return 2.0 * Model.Layers * perReduce;
    }

    /// <summary>
    /// Seconds of one engine step that prefills <paramref name="prefillTokens"/> prompt tokens (with
    /// <paramref name="prefillAttentionPairs"/> query·key pairs) and decodes one token for each of
    /// <paramref name="decodeBatch"/> sequences whose contexts sum to <paramref name="decodeContext"/> tokens.
    /// </summary>
    public double StepSeconds(double prefillTokens, double prefillAttentionPairs, int decodeBatch, double decodeContext) =>
        StepSeconds(prefillTokens, prefillAttentionPairs, decodeBatch, decodeContext, prefillTokens > 0 ? 1 : 0);

    /// <summary>
    /// The host's work in a step over <paramref name="sequences"/> sequences: the fixed stepOverheadMs plus the engine's
    /// per-sequence time (<see cref="HardwareProfile.SequenceOverheadUs"/>), seconds. Synchronous steps add it to the device's
    /// work; asynchronous scheduling overlaps the two.
    /// </summary>
    public double HostSeconds(int sequences) => _stepOverhead + (_sequenceOverhead * Math.Max(0, sequences));

    /// <summary>
    /// A step of <paramref name="stepSeconds"/> (device and host work added) under asynchronous scheduling: the host forms the
    /// next step while the device runs this one, so it lasts the longer of the two instead of their sum.
    /// </summary>
    public double AsyncStepSeconds(double stepSeconds, int sequences)
    {
        var host = HostSeconds(sequences);
        return Math.Max(stepSeconds - host, host);
    }

    /// <summary>As <see cref="StepSeconds(double, double, int, double)"/>, with <paramref name="prefillSequences"/> prompts prefilled in the step (the host's per-sequence work counts them).</summary>
    public double StepSeconds(double prefillTokens, double prefillAttentionPairs, int decodeBatch, double decodeContext, int prefillSequences)
    {
        var tokens = prefillTokens + decodeBatch;
        if (tokens <= 0)
        {
            return 0;
        }

        // The routed experts' share of the linear FLOPs (k of E experts per token) runs at the expert GEMM efficiency.
        var expertFlops = _expertFlopsPerSecond == _computeFlopsPerSecond ? 0 : 2.0 * _expertActiveParams * tokens;
        var linearCompute = expertFlops == 0
            ? LinearFlops(prefillTokens, decodeBatch) / _computeFlopsPerSecond
            : ((LinearFlops(prefillTokens, decodeBatch) - expertFlops) / _computeFlopsPerSecond) + (expertFlops / _expertFlopsPerSecond);
        var attentionCompute = AttentionFlops(prefillTokens, prefillAttentionPairs, decodeBatch, decodeContext) / _computeFlopsPerSecond;
        if (Hardware.Architecture == DeviceArchitecture.SramPipeline)
        {
            // Weights never move: a token pays the pipeline latency; a big batch or a long prompt is compute bound.
            return Math.Max(_pipelineLatency, linearCompute + attentionCompute) + _stepOverhead;
        }

        // GEMMs and attention are separate kernels run one after the other, so each meets its own roofline and the times
        // add (per-operator, as Vidur, arXiv 2405.05465, and Yuan et al., arXiv 2402.16363; docs/simulator.md).
        // A decode step whose matrix-vector kernels do their arithmetic per sequence without hiding it behind the weight stream
        // (llama.cpp on Metal) pays both: weights / read rate + FLOPs at the mat-vec efficiency (docs/simulator.md).
        // A step of one token in all runs those mat-vec kernels whether the token is a prompt's or a generated one (llama.cpp
        // sends a one-token batch through the same kernels: PR #10581's pp1 column is unchanged by its small-batch kernels).
        // The touched experts' per-expert work sits with their weight stream, on the memory side of the roofline.
        var weightSeconds = WeightReadSeconds(tokens) + MoeExpertSeconds(tokens);
        var matVecStep = _matVecFlopsPerSecond > 0 && (prefillTokens <= 0 || tokens <= 1);
        var linear = Math.Max(_linearFloor, matVecStep
            ? weightSeconds + (LinearFlops(prefillTokens, decodeBatch) / _matVecFlopsPerSecond)
            : Math.Max(linearCompute, weightSeconds));
        var attention = Math.Max(attentionCompute, KvBytesRead(tokens, decodeContext, decodeBatch) / _bytesPerSecond);
        return linear + attention + AllReduceSeconds(tokens) + HostSeconds(decodeBatch + prefillSequences) + _layerOverhead + _moeLayerOverhead + RuntimeOverheadSeconds(prefillTokens, prefillAttentionPairs, decodeBatch, decodeContext);
    }

    /// <summary>
    /// FLOPs of one step. Linear layers: 2 per active parameter per token (the output head only for tokens that need
    /// logits when the vocabulary is known: each decoding sequence and the last prompt token). Attention: QKᵀ and AV,
    /// 2·2·layers·width per query·key pair (sliding-window layers: only the pairs inside the window).
    /// </summary>
    public double StepFlops(double prefillTokens, double prefillAttentionPairs, int decodeBatch, double decodeContext) =>
        LinearFlops(prefillTokens, decodeBatch) + AttentionFlops(prefillTokens, prefillAttentionPairs, decodeBatch, decodeContext);

    /// <summary>Linear-layer FLOPs of one step: 2 per active parameter per token, the output head only for tokens that need logits.</summary>
    public double LinearFlops(double prefillTokens, int decodeBatch)
    {
        var logitTokens = decodeBatch + (prefillTokens > 0 ? 1 : 0);
        return (2.0 * _linearParams * (prefillTokens + decodeBatch)) + (2.0 * _headParams * logitTokens);
    }

    /// <summary>
    /// Attention FLOPs of one step (QKᵀ and AV): 2·2·width per query·key pair per layer, prefill pairs plus decode context.
    /// A sliding-window layer attends to the last W tokens only: its prefill pairs are at most W per prompt token and its
    /// decode context at most W per sequence (exact once positions pass W; a fresh prompt's first W tokens are counted as W).
    /// </summary>
    public double AttentionFlops(double prefillTokens, double prefillAttentionPairs, int decodeBatch, double decodeContext) =>
        4.0 * Model.Layers * _attentionWidth * (LayerMean(prefillAttentionPairs, prefillTokens) + LayerMean(decodeContext, decodeBatch));

    /// <summary>
    /// KV-cache tokens (of every layer) a sequence of <paramref name="sequenceTokens"/> tokens holds: all of them on full-attention
    /// layers, at most the window on sliding-window layers, which the serving stacks allocate only for the last W tokens (vLLM's
    /// hybrid KV cache manager, TensorRT-LLM's per-window pools).
    /// </summary>
    public long KvTokensFor(long sequenceTokens) =>
        Model.SlidingWindowLayers <= 0 ? sequenceTokens : (long)Math.Ceiling(LayerMean(sequenceTokens, 1) - 1e-9);

    /// <summary>
    /// A per-layer amount averaged over the layers: full-attention layers take all of <paramref name="amount"/>, sliding-window
    /// layers at most W × <paramref name="units"/> (units: prompt tokens for prefill pairs, sequences for decode context).
    /// </summary>
    private double LayerMean(double amount, double units)
    {
        var windowed = Model.SlidingWindowLayers;
        if (windowed <= 0 || Model.SlidingWindowTokens <= 0)
        {
            return amount;
        }

        var full = Model.Layers - windowed;
        return ((full * amount) + (windowed * Math.Min(amount, Model.SlidingWindowTokens * units))) / Model.Layers;
    }

    /// <summary>
    /// Runtime costs outside FLOPs and bytes (measured CPU runtimes only, 0 elsewhere): layers · heads · prefill pairs ·
    /// prefillPairNs + prompt tokens · hidden · layers · prefillElementNs + layers · attended token·heads ·
    /// (decodeContextNs + scalar elements · decodeScalarElementNs).
    /// </summary>
    public double RuntimeOverheadSeconds(double prefillTokens, double prefillAttentionPairs, int decodeBatch, double decodeContext) =>
        ((Model.Layers * (double)Math.Max(1, Model.AttentionHeads) * prefillAttentionPairs * Hardware.PrefillPairNs)
         + (prefillTokens * (double)Model.HiddenSize * Model.Layers * Hardware.PrefillElementNs)
         + (Model.Layers * AttendedTokenHeads(decodeBatch, decodeContext) * (Hardware.DecodeContextNs + (ScalarElementsPerTokenHead * Hardware.DecodeScalarElementNs)))) / 1e9;

    /// <summary>
    /// Head-dimension elements per attended token·head that the runtime's F16 kernels run scalar: the K dot product's and
    /// the V multiply-add's remainder after whole SIMD blocks, 2 · (headDim mod f16VectorElements); 0 without a block size.
    /// </summary>
    public int ScalarElementsPerTokenHead => Hardware.F16VectorElements > 0 ? 2 * (Model.HeadDim % Hardware.F16VectorElements) : 0;

    /// <summary>
    /// Cached token·heads one layer's decode attention works through on its busiest thread (T = the profile's threads).
    /// A lone sequence whose KV cache, padded to kvPadTokens, reaches decodeSplitKvTokens is split into T equal KV
    /// chunks, each attended by all heads, so the first (full) chunk sets the time: heads · min(S, ⌈padded / T⌉).
    /// Otherwise the heads are shared out: ⌈heads / T⌉ · S for one sequence, heads · S / T for a batch.
    /// </summary>
    public double AttendedTokenHeads(int decodeBatch, double decodeContext)
    {
        var heads = Math.Max(1, Model.AttentionHeads);
        var threads = Math.Max(1, Hardware.Threads);
        if (decodeBatch > 1)
        {
            return heads * decodeContext / threads;
        }

        if (Hardware.DecodeSplitKvTokens > 0 && threads > 1)
        {
            var cells = decodeContext + 1;
            var padded = Hardware.KvPadTokens > 0 ? Math.Ceiling(cells / Hardware.KvPadTokens) * Hardware.KvPadTokens : cells;
            if (padded >= Hardware.DecodeSplitKvTokens)
            {
                return heads * Math.Min(decodeContext, Math.Ceiling(padded / threads));
            }
        }

        return Math.Ceiling(heads / (double)threads) * decodeContext;
    }

    /// <summary>
    /// KV-cache bytes a step moves: every cached token of the decoding sequences read once (once per query head of its
    /// group when the profile's kernel does not share K/V heads: 1 + reread fraction · (group − 1) reads), every new token's K and V written.
    /// Sliding-window layers read at most the last W tokens of each of the <paramref name="decodeBatch"/> sequences.
    /// </summary>
    public double KvBytesRead(double tokens, double decodeContext, int decodeBatch = 1) =>
        KvBytesPerToken * ((LayerMean(decodeContext, decodeBatch) * _kvContextReads) + tokens);

    /// <summary>Seconds of a decode step for <paramref name="batch"/> sequences with contexts summing to <paramref name="contextSum"/>.</summary>
    public double DecodeStepSeconds(int batch, double contextSum) => StepSeconds(0, 0, batch, contextSum);

    /// <summary>Seconds to prefill one prompt of <paramref name="tokens"/> tokens alone (causal attention: n²/2 pairs).</summary>
    public double PrefillSeconds(int tokens) => StepSeconds(tokens, tokens * (double)tokens / 2.0, 0, 0);

    /// <summary>
    /// Fixed cost of one request before its first step: the profile's request overhead plus, under tensor parallelism,
    /// the per-call cost of each all-reduce site (two per layer).
    /// </summary>
    public double RequestOverheadSeconds =>
        (Hardware.RequestOverheadMs / 1000.0)
        + (TensorParallel > 1 && Hardware.Architecture != DeviceArchitecture.SramPipeline ? 2.0 * Model.Layers * Hardware.AllReduceCallOverheadUs / 1e6 : 0);

    /// <summary>
    /// Time to first token of a lone request as a client sees it: network round trip + request overhead + prefill.
    /// </summary>
    public double UnloadedTtftSeconds(int inputTokens) =>
        (Hardware.NetworkRttMs / 1000.0) + RequestOverheadSeconds + PrefillSeconds(inputTokens);

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Hardware.Name} × {Devices} / {Model.Name} {Precision.Name}");
}
