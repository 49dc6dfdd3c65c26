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

    /// <summary>The cpu-local hardware file for a measurement; every figure's source is the measurement itself.</summary>
    public static HardwareFile ToProfile(HostMeasurement m, DateTimeOffset when)
    {
        ArgumentNullException.ThrowIfNull(m);
        var stamp = when.ToString("yyyy-MM-dd'T'HH:mm'Z'", CultureInfo.InvariantCulture);
        const string url = "spark-eval calibrate (docs/simulator.md#calibrate)";
        string Q(string what) => $"measured {stamp} on {m.Description}: {what}";
        var profile = new HardwareProfile
        {
            Id = "cpu-local",
            Name = "This machine's CPU (measured by spark-eval calibrate)",
            Family = "cpu",
            Architecture = DeviceArchitecture.Roofline,
            MemoryGB = Math.Round(m.MemoryGB, 1),
            MemoryBandwidthGBps = Math.Round(m.ReadBandwidthGBps, 2),
            PeakTflops = new Dictionary<string, double> { ["bf16"] = Math.Round(m.MatmulGflops / 1000, 4) },
            ComputeEfficiency = 0.6,
            BandwidthEfficiency = 0.85,
            StepOverheadMs = 1.0,
            RequestOverheadMs = 2.0,
            MemoryUtilization = 0.7,
            MaxBatch = 4,
            MaxStepTokens = 512,
            Sources =
            [
                new("memoryGB", url, Q(string.Create(CultureInfo.InvariantCulture, $"{m.MemoryGB:F1} GB available to the process"))),
                new("memoryBandwidthGBps", url, Q(string.Create(CultureInfo.InvariantCulture, $"{m.ReadBandwidthGBps:F2} GB/s best parallel read of a 256 MB buffer"))),
                new("peakTflops", url, Q(string.Create(CultureInfo.InvariantCulture, $"{m.MatmulGflops:F1} GFLOPS best fp32 384×384 SIMD matmul on {m.Cores} threads (used for every precision)"))),
                new("computeEfficiency", url, "assumption until checked against measured llama.cpp runs: llama.cpp reaches 60 % of the measured matmul rate"),
                new("bandwidthEfficiency", url, "assumption until checked against measured llama.cpp runs: llama.cpp reaches 85 % of the measured read bandwidth"),
                new("stepOverheadMs", url, "assumption: llama.cpp per-token sampling and graph overhead of about 1 ms"),
                new("requestOverheadMs", url, "assumption: local request set-up of about 2 ms"),
            ],
        };
        return new HardwareFile { FormatVersion = ProfileCatalog.FormatVersion, Hardware = [profile] };
    }
}
