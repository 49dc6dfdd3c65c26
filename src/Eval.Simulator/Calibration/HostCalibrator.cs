using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Calibration;

/// <summary>What <c>spark-eval calibrate</c> measured on this machine.</summary>
public sealed record HostMeasurement(double ReadBandwidthGBps, double MatmulGflops, double MemoryGB, int Cores, string Description);

/// <summary>
/// Measures this machine's sustained memory read bandwidth (a parallel sum over a buffer far larger than the caches)
/// and fp32 matrix-multiply throughput (a SIMD i-k-j kernel on all cores), and turns them into the cpu-local profile.
/// </summary>
public static class HostCalibrator
{
    public static HostMeasurement Measure(TimeProvider time, double budgetSeconds = 3)
    {
        ArgumentNullException.ThrowIfNull(time);
        var cores = Environment.ProcessorCount;
        var bandwidth = MeasureBandwidth(time, budgetSeconds / 2);
        var gflops = MeasureMatmul(time, budgetSeconds / 2);
        var memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1e9;
        var description = string.Create(CultureInfo.InvariantCulture, $"{RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.ProcessArchitecture}, {cores} logical cores, {memory:F1} GB");
        return new HostMeasurement(bandwidth, gflops, memory, cores, description);
    }

    private static double MeasureBandwidth(TimeProvider time, double seconds)
    {
        // 256 MB of doubles: well past any last-level cache, small enough for a shared CI machine.
        var data = new double[32 * 1024 * 1024];
        for (var i = 0; i < data.Length; i += 512)
        {
            data[i] = i;
        }

        var best = 0.0;
        var start = time.GetTimestamp();
        var sink = 0.0;
        do
        {
            var t0 = time.GetTimestamp();
            var parts = Math.Max(1, Environment.ProcessorCount);
            var sums = new double[parts];
            Parallel.For(0, parts, p =>
            {
                var span = data.AsSpan();
                var lo = span.Length / parts * p;
                var hi = p == parts - 1 ? span.Length : span.Length / parts * (p + 1);
                var vectors = MemoryMarshal.Cast<double, Vector<double>>(span[lo..hi]);
                var acc = Vector<double>.Zero;
                foreach (var v in vectors)
                {
                    acc += v;
                }

                sums[p] = Vector.Sum(acc);
            });
            var elapsed = time.GetElapsedTime(t0).TotalSeconds;
            sink += sums.Sum();
            best = Math.Max(best, data.Length * 8.0 / elapsed / 1e9);
        }
        while (time.GetElapsedTime(start).TotalSeconds < seconds);

        GC.KeepAlive(sink);
        return best;
    }

    private static double MeasureMatmul(TimeProvider time, double seconds)
    {
        const int n = 384;
        var a = new float[n * n];
        var b = new float[n * n];
        var random = new Random(1);
        for (var i = 0; i < a.Length; i++)
        {
            a[i] = (float)random.NextDouble();
            b[i] = (float)random.NextDouble();
        }

        var best = 0.0;
        var start = time.GetTimestamp();
        do
        {
            var c = new float[n * n];
            var t0 = time.GetTimestamp();
            Parallel.For(0, n, i =>
            {
                var row = c.AsSpan(i * n, n);
                var rowVectors = MemoryMarshal.Cast<float, Vector<float>>(row);
                for (var k = 0; k < n; k++)
                {
                    var aik = new Vector<float>(a[(i * n) + k]);
                    var bVectors = MemoryMarshal.Cast<float, Vector<float>>(b.AsSpan(k * n, n));
                    for (var j = 0; j < rowVectors.Length; j++)
                    {
                        rowVectors[j] += aik * bVectors[j];
                    }
                }
            });
            var elapsed = time.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, 2.0 * n * n * n / elapsed / 1e9);
        }
        while (time.GetElapsedTime(start).TotalSeconds < seconds);

        return best;
    }

    /// <summary>
    /// The cpu-local hardware file for a measurement; every figure's source is the measurement itself. Without runtime
    /// fits, one assumption-based <c>cpu-local</c> profile; with them, one <c>cpu-local-tN</c> profile per thread count
    /// and <c>cpu-local</c> = the one with the most threads.
    /// </summary>
    public static HardwareFile ToProfile(HostMeasurement m, DateTimeOffset when, IReadOnlyList<RuntimeFit>? fits = null)
    {
        ArgumentNullException.ThrowIfNull(m);
        var stamp = when.ToString("yyyy-MM-dd'T'HH:mm'Z'", CultureInfo.InvariantCulture);
        const string url = "spark-eval calibrate (docs/simulator.md#calibrate)";
        string Q(string what) => $"measured {stamp} on {m.Description}: {what}";
        var c = CultureInfo.InvariantCulture;
        List<FigureSource> Common() =>
        [
            new("memoryGB", url, Q(string.Create(c, $"{m.MemoryGB:F1} GB available to the process"))),
            new("memoryBandwidthGBps", url, Q(string.Create(c, $"{m.ReadBandwidthGBps:F2} GB/s best parallel read of a 256 MB buffer (prices KV-cache reads)"))),
            new("bandwidthEfficiency", url, "assumption: KV-cache reads reach 85 % of the measured read bandwidth"),
        ];

        if (fits is null || fits.Count == 0)
        {
            var sources = Common();
            sources.AddRange(
            [
                new("peakTflops", url, Q(string.Create(c, $"{m.MatmulGflops:F1} GFLOPS best fp32 384×384 SIMD matmul on {m.Cores} threads (used for every precision)"))),
                new("computeEfficiency", url, "assumption (no runtime profile measured: calibrate --skip-runtime): llama.cpp reaches 60 % of the measured matmul rate"),
                new("stepOverheadMs", url, "assumption (no runtime profile measured): llama.cpp per-token overhead of about 1 ms"),
                new("requestOverheadMs", url, "assumption (no runtime profile measured): local request set-up of about 2 ms"),
            ]);
            var profile = Base(m, "cpu-local", $"CPU of the machine where spark-eval calibrate ran ({m.Cores} logical cores, {stamp}), not necessarily this one; no runtime profile") with
            {
                PeakTflops = new Dictionary<string, double> { ["bf16"] = Math.Round(m.MatmulGflops / 1000, 4) },
                StepOverheadMs = 1.0,
                RequestOverheadMs = 2.0,
                Sources = sources,
            };
            profile.ComputeEfficiency = 0.6;
            return new HardwareFile { FormatVersion = ProfileCatalog.FormatVersion, Hardware = [profile] };
        }

        var list = new List<HardwareProfile>();
        foreach (var fit in fits.OrderByDescending(f => f.Threads).Take(1).Concat(fits.OrderBy(f => f.Threads)))
        {
            var id = list.Count == 0 ? "cpu-local" : string.Create(c, $"cpu-local-t{fit.Threads}");
            var how = string.Create(c,
                $"llama.cpp runtime profile, {fit.Threads} thread(s): non-negative least squares (relative error) over {fit.Samples} harness runs of the calibration models {fit.Models} (none is a validation model); fit residual median decode {fit.DecodeFitMedianError * 100:F1} %, prefill {fit.PrefillFitMedianError * 100:F1} %");
            var sources = Common();
            sources.AddRange(
            [
                new("peakTflops", url, Q(string.Create(c, $"{how}: prefill FLOP rate {string.Join(", ", fit.PrefillGflops.Select(kv => $"{kv.Key} {kv.Value:F2} GFLOPS"))} (bf16 = llama.cpp F16 kernels, same 2 bytes); fp32 matmul {m.MatmulGflops:F1} GFLOPS for reference"))),
                new("weightReadGBps", url, Q(string.Create(c, $"{how}: decode weight-read rate {string.Join(", ", fit.WeightReadGBps.Select(kv => $"{kv.Key} {kv.Value:F2} GB/s"))}"))),
                new("computeEfficiency", url, "1: peakTflops are the runtime's measured prefill rates, efficiency included"),
                new("stepOverheadMs", url, Q(string.Create(c, $"{how}: fixed cost per step {fit.StepOverheadMs:F3} ms"))),
                new("layerOverheadUs", url, Q(string.Create(c, $"{how}: fixed cost per layer per step {fit.LayerOverheadUs:F1} µs"))),
                new("decodeContextNs", url, Q(string.Create(c, $"{how}: decode cost per attended cached token·head per layer (on the busiest thread) {fit.DecodeContextNs:F2} ns"))),
                new("decodeScalarElementNs", url, Q(string.Create(c, $"{how}: decode cost per head-dimension element left to scalar code (K dot and V multiply-add) per attended token·head·layer {fit.DecodeScalarElementNs:F3} ns"))),
                new("f16VectorElements", url, string.Create(c, $"llama.cpp ggml-cpu, {fit.Kernels.F16VectorElements} elements per F16 SIMD block (GGML_F16_STEP of the loaded build: 64 on AVX-512, 32 on AVX/AVX2; 0 = unknown); head dimension mod this runs scalar in ggml_vec_dot_f16 / ggml_vec_mad_f16")),
                new("kvPadTokens", url, string.Create(c, $"llama.cpp (LLamaSharp 0.30): the KV cache is attended padded to {fit.Kernels.KvPadTokens} cells (its log shows n_ctx 352 → 512)")),
                new("decodeSplitKvTokens", url, string.Create(c, $"llama.cpp ggml-cpu ops.cpp, ggml_compute_forward_flash_attn_ext_f16: one query with F16 K/V and nek1 >= {fit.Kernels.DecodeSplitKvTokens} takes use_split_kv_path, chunk_size = ceil(nek1 / nth) per thread")),
                new("prefillElementNs", url, Q(string.Create(c, $"{how}: prefill cost per token·hidden element per layer {fit.PrefillElementNs:F4} ns"))),
                new("prefillPairNs", url, Q(string.Create(c, $"{how}: prefill attention cost per query·key pair per head per layer {fit.PrefillPairNs:F3} ns"))),
                new("requestOverheadMs", url, Q(string.Create(c, $"{how}: fixed cost per request {fit.RequestOverheadMs:F3} ms (template, tokenising, first sample, harness)"))),
            ]);
            var profile = Base(m, id, string.Create(c, $"CPU of the machine where spark-eval calibrate ran ({m.Cores} logical cores, {stamp}), not necessarily this one; llama.cpp with {fit.Threads} thread(s)")) with
            {
                PeakTflops = fit.PrefillGflops.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value / 1000, 6), StringComparer.Ordinal),
                WeightReadGBps = fit.WeightReadGBps.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 3), StringComparer.Ordinal),
                StepOverheadMs = Math.Round(fit.StepOverheadMs, 4),
                LayerOverheadUs = Math.Round(fit.LayerOverheadUs, 2),
                DecodeContextNs = Math.Round(fit.DecodeContextNs, 3),
                DecodeScalarElementNs = Math.Round(fit.DecodeScalarElementNs, 4),
                F16VectorElements = fit.Kernels.F16VectorElements,
                KvPadTokens = fit.Kernels.KvPadTokens,
                DecodeSplitKvTokens = fit.Kernels.DecodeSplitKvTokens,
                PrefillElementNs = Math.Round(fit.PrefillElementNs, 5),
                PrefillPairNs = Math.Round(fit.PrefillPairNs, 4),
                RequestOverheadMs = Math.Round(fit.RequestOverheadMs, 4),
                Threads = fit.Threads,
                Sources = sources,
            };
            profile.ComputeEfficiency = 1.0;
            list.Add(profile);
        }

        return new HardwareFile { FormatVersion = ProfileCatalog.FormatVersion, Hardware = list };
    }

    private static HardwareProfile Base(HostMeasurement m, string id, string name)
    {
        var profile = new HardwareProfile
        {
            Id = id,
            Name = name,
            Family = "cpu",
            Architecture = DeviceArchitecture.Roofline,
            MemoryGB = Math.Round(m.MemoryGB, 1),
            MemoryBandwidthGBps = Math.Round(m.ReadBandwidthGBps, 2),
        };
        profile.BandwidthEfficiency = 0.85;
        profile.MemoryUtilization = 0.7;
        profile.MaxBatch = 4;
        profile.MaxStepTokens = 512;
        return profile;
    }
}
