using System.Globalization;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Calibration;

/// <summary>One measured llama.cpp run of a calibration model: its shape, precision, threads, prompt and the measured medians.</summary>
public sealed record RuntimeSample(ModelProfile Shape, string Precision, int Threads, int PromptTokens, int OutputTokens, double TtftMs, double DecodeTokensPerSecond);

/// <summary>
/// Facts of the runtime build that shape decode attention, read from its code rather than fitted: the F16 SIMD block
/// (head dimension mod this many elements runs scalar), the KV-cache padding and the split-KV threshold.
/// </summary>
public sealed record RuntimeKernels(int F16VectorElements, int KvPadTokens, int DecodeSplitKvTokens)
{
    /// <summary>
    /// llama.cpp's CPU backend as LLamaSharp 0.30 ships it, for the SIMD build it loaded: GGML_F16_STEP is 64 on
    /// AVX-512 and 32 on AVX/AVX2 (unknown otherwise: 0); the KV cache is attended padded to 256 cells; a lone
    /// decoding sequence takes the split-KV path from 512 padded cells (ggml-cpu ops.cpp, use_split_kv_path).
    /// </summary>
    public static RuntimeKernels LlamaCpp(string simdBuild) =>
        new(simdBuild switch { "avx512" => 64, "avx2" or "avx" => 32, _ => 0 }, 256, 512);
}

/// <summary>
/// The runtime's per-operator profile for one thread count, fitted from <see cref="RuntimeSample"/>s: fixed per-step and
/// per-layer costs, per-request cost, and per-precision decode weight-read rate and prefill FLOP rate.
/// </summary>
public sealed record RuntimeFit(
    int Threads,
    double StepOverheadMs,
    double LayerOverheadUs,
    double DecodeContextNs,
    double DecodeScalarElementNs,
    double PrefillPairNs,
    double PrefillElementNs,
    double RequestOverheadMs,
    IReadOnlyDictionary<string, double> WeightReadGBps,
    IReadOnlyDictionary<string, double> PrefillGflops,
    int Samples,
    double DecodeFitMedianError,
    double PrefillFitMedianError,
    string Models,
    RuntimeKernels Kernels);

/// <summary>
/// Fits a CPU runtime profile (Vidur-like: per-operator costs measured once per device, never per validation row) from
/// runs of dedicated calibration models that differ in layer count, width and head dimension, at three prompt lengths. Decode:
/// 1/rate − KV bytes/bandwidth = step + layers · layer + layers · attended token·heads · (c + scalar elements · s) + Σ_p weight bytes_p / R_p.
/// Prefill: TTFT − step − layers · layer = request + layers · heads · pairs · a + tokens · hidden · layers · e + Σ_p FLOPs_p / F_p.
/// Both are non-negative least squares in relative error, so that small and large calibration models weigh alike.
/// </summary>
public static class RuntimeCalibration
{
    // Decode features: step, per layer, per attended token·head, per scalar element; then one weight-read rate per precision.
    private const int DecodeFixedFeatures = 4;

    /// <summary>
    /// Fits one profile per thread count found in <paramref name="samples"/>; <paramref name="readBandwidthGBps"/> ×
    /// <paramref name="bandwidthEfficiency"/> prices KV-cache reads; <paramref name="kernels"/> shapes decode attention.
    /// </summary>
    public static IReadOnlyList<RuntimeFit> Fit(IReadOnlyList<RuntimeSample> samples, double readBandwidthGBps, double bandwidthEfficiency, RuntimeKernels kernels)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(kernels);
        return samples.GroupBy(s => s.Threads).OrderBy(g => g.Key).Select(g => FitOne(g.ToList(), readBandwidthGBps * bandwidthEfficiency * 1e9, kernels)).ToList();
    }

    private static RuntimeFit FitOne(List<RuntimeSample> samples, double kvBytesPerSecond, RuntimeKernels kernels)
    {
        var precisions = samples.Select(s => s.Precision).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var neutral = new HardwareProfile
        {
            Id = "calibration",
            Name = "calibration",
            Family = "cpu",
            MemoryGB = 1e6,
            MemoryBandwidthGBps = 1,
            PeakTflops = new Dictionary<string, double> { ["bf16"] = 1 },
            Threads = samples[0].Threads,
            F16VectorElements = kernels.F16VectorElements,
            KvPadTokens = kernels.KvPadTokens,
            DecodeSplitKvTokens = kernels.DecodeSplitKvTokens,
        };

        // Decode: one row per sample at context = prompt + output/2 (as validate-local predicts).
        var decodeRows = new List<(double[] X, double Y)>();
        var prefillGeometry = new List<(RuntimeSample S, double Flops)>();
        foreach (var s in samples)
        {
            var precision = Precision.Find(s.Precision) ?? throw new ArgumentException($"unknown precision {s.Precision}", nameof(samples));
            var model = new LatencyModel(neutral, s.Shape, precision, 1);
            var context = s.PromptTokens + (s.OutputTokens / 2.0);
            var stepSeconds = 1.0 / s.DecodeTokensPerSecond;
            var kvSeconds = model.KvBytesRead(1, context) / kvBytesPerSecond;
            var attended = s.Shape.Layers * model.AttendedTokenHeads(1, context);
            var x = new double[DecodeFixedFeatures + precisions.Count];
            x[0] = 1;
            x[1] = s.Shape.Layers;
            x[2] = attended;
            x[3] = attended * model.ScalarElementsPerTokenHead;
            x[DecodeFixedFeatures + precisions.IndexOf(s.Precision)] = model.WeightBytesRead(1);
            decodeRows.Add((Scale(x, stepSeconds), (stepSeconds - kvSeconds) / stepSeconds));
            prefillGeometry.Add((s, model.StepFlops(s.PromptTokens, s.PromptTokens * (double)s.PromptTokens / 2.0, 0, 0)));
        }

        var decode = NonNegativeLeastSquares(decodeRows, DecodeFixedFeatures);
        var step = decode[0];
        var layer = decode[1];

        var prefillRows = new List<(double[] X, double Y)>();
        foreach (var (s, flops) in prefillGeometry)
        {
            var ttft = s.TtftMs / 1000.0;
            var x = new double[3 + precisions.Count];
            x[0] = 1;
            x[1] = s.Shape.Layers * (double)s.Shape.AttentionHeads * s.PromptTokens * (double)s.PromptTokens / 2.0;
            x[2] = s.PromptTokens * (double)s.Shape.HiddenSize * s.Shape.Layers;
            x[3 + precisions.IndexOf(s.Precision)] = flops;
            prefillRows.Add((Scale(x, ttft), (ttft - step - (layer * s.Shape.Layers)) / ttft));
        }

        var prefill = NonNegativeLeastSquares(prefillRows, fixedFeatures: 3);
        var weightRates = new Dictionary<string, double>(StringComparer.Ordinal);
        var flopRates = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < precisions.Count; i++)
        {
            weightRates[precisions[i]] = 1.0 / decode[DecodeFixedFeatures + i] / 1e9;
            flopRates[precisions[i]] = 1.0 / prefill[3 + i] / 1e9;
        }

        var decodeResidual = Median(decodeRows.Select(r => Math.Abs(Dot(r.X, decode) - r.Y)));
        var prefillResidual = Median(prefillRows.Select(r => Math.Abs(Dot(r.X, prefill) - r.Y)));
        var models = string.Join(", ", samples.Select(s => s.Shape.Id + " " + s.Precision).Distinct(StringComparer.Ordinal));
        return new RuntimeFit(samples[0].Threads, step * 1000, layer * 1e6, decode[2] * 1e9, decode[3] * 1e9, prefill[1] * 1e9, prefill[2] * 1e9, prefill[0] * 1000, weightRates, flopRates, samples.Count, decodeResidual, prefillResidual, models, kernels);
    }

    private static double[] Scale(double[] x, double by) => x.Select(v => v / by).ToArray();

    private static double Dot(double[] a, double[] b) => a.Select((v, i) => v * b[i]).Sum();

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToList();
        return v.Count == 0 ? double.NaN : v.Count % 2 == 1 ? v[v.Count / 2] : (v[(v.Count / 2) - 1] + v[v.Count / 2]) / 2;
    }

    /// <summary>
    /// Least squares with every coefficient ≥ 0: tries every subset of the first <paramref name="fixedFeatures"/>
    /// (overhead) features, always keeping the rest (rates), and returns the best feasible solution.
    /// </summary>
    public static double[] NonNegativeLeastSquares(IReadOnlyList<(double[] X, double Y)> rows, int fixedFeatures)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var n = rows[0].X.Length;
        double[]? best = null;
        var bestCost = double.PositiveInfinity;
        for (var mask = 0; mask < 1 << fixedFeatures; mask++)
        {
            var active = Enumerable.Range(0, n).Where(j => j >= fixedFeatures || (mask & (1 << j)) != 0).ToList();
            var solution = Solve(rows, active, n);
            if (solution is null || solution.Any(v => v < 0 || !double.IsFinite(v)) || active.Where(j => j >= fixedFeatures).Any(j => solution[j] <= 0))
            {
                continue;
            }

            var cost = rows.Sum(r => Math.Pow(Dot(r.X, solution) - r.Y, 2));
            if (cost < bestCost)
            {
                bestCost = cost;
                best = solution;
            }
        }

        return best ?? throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"calibration fit found no non-negative solution over {rows.Count} samples: the measurements are inconsistent (a loaded machine?). Re-run calibrate on a quieter machine"));
    }

    private static double[]? Solve(IReadOnlyList<(double[] X, double Y)> rows, List<int> active, int n)
    {
        var k = active.Count;

        // Column scaling keeps the normal equations well conditioned (features span bytes, FLOPs and counts).
        var scale = active.Select(j => Math.Max(1e-300, rows.Max(r => Math.Abs(r.X[j])))).ToArray();
        var a = new double[k, k + 1];
        foreach (var (x, y) in rows)
        {
            for (var p = 0; p < k; p++)
            {
                var xp = x[active[p]] / scale[p];
                for (var q = 0; q < k; q++)
                {
                    a[p, q] += xp * x[active[q]] / scale[q];
                }

                a[p, k] += xp * y;
            }
        }

        for (var col = 0; col < k; col++)
        {
            var pivot = Enumerable.Range(col, k - col).MaxBy(r => Math.Abs(a[r, col]));
            if (Math.Abs(a[pivot, col]) < 1e-12)
            {
                return null;
            }

            for (var c = 0; c <= k; c++)
            {
                (a[col, c], a[pivot, c]) = (a[pivot, c], a[col, c]);
            }

            for (var r = 0; r < k; r++)
            {
                if (r == col)
                {
                    continue;
                }

                var f = a[r, col] / a[col, col];
                for (var c = col; c <= k; c++)
                {
                    a[r, c] -= f * a[col, c];
                }
            }
        }

        var solution = new double[n];
        for (var p = 0; p < k; p++)
        {
            solution[active[p]] = a[p, k] / a[p, p] / scale[p];
        }

        return solution;
    }
}
