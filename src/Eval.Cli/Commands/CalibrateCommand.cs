using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spark.Eval.Backends.Local;
using Spark.Eval.Backends.Local.Bench;
using Spark.Eval.Backends.Local.Gguf;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval calibrate</c>: measures this machine and writes the cpu-local hardware profiles.</summary>
public static class CalibrateCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var outPath = new Option<string?>("--out") { Description = "Where to write the profile (default: hw-profiles/cpu-local.json above the working directory, else ./hw-profiles/cpu-local.json)." };
        var seconds = new Option<double>("--seconds") { Description = "Budget for the memory-bandwidth and fp32 matmul kernels, seconds.", DefaultValueFactory = _ => 3.0 };
        var threads = new Option<string>("--threads") { Description = "Comma list of llama.cpp thread counts to profile (one cpu-local-tN profile each).", DefaultValueFactory = _ => SimulateCommand.DefaultThreadList() };
        var repeats = new Option<int>("--repeats") { Description = "Measured llama.cpp runs per calibration model and prompt length (medians are fitted).", DefaultValueFactory = _ => 3 };
        var skipRuntime = new Option<bool>("--skip-runtime") { Description = "Measure only bandwidth and fp32 matmul; write an assumption-based cpu-local (no llama.cpp runtime profile)." };
        var modelsDir = new Option<string>("--calibration-models") { Description = "Folder for the generated calibration GGUF files.", DefaultValueFactory = _ => "models/calibration" };
        var command = new Command("calibrate",
            "Measure this machine: memory bandwidth, fp32 matmul, and a llama.cpp runtime profile (per-step, per-layer and per-request costs, q8_0/f16 decode and prefill rates) from dedicated calibration models; write the cpu-local hardware profiles.")
        {
            outPath, seconds, threads, repeats, skipRuntime, modelsDir,
        };
        command.SetAction(async (parse, ct) =>
        {
            var budget = parse.GetValue(seconds);
            if (budget is <= 0 or > 120)
            {
                throw new InputException("--seconds: must be in (0, 120]. Fix: give a short budget such as 3");
            }

            var reps = parse.GetValue(repeats) is var r and >= 1 and <= 50 ? r : throw new InputException("--repeats: must be 1..50. Fix: give a count such as 3");
            var threadCounts = SimulateCommand.ParseThreads(parse.GetValue(threads)!);
            var time = TimeProvider.System;
            await stderr.WriteLineAsync($"measuring memory bandwidth and matmul throughput (load average {await SimulateCommand.LoadAverageAsync(ct)})…".AsMemory(), ct);
            var m = HostCalibrator.Measure(time, budget);
            IReadOnlyList<RuntimeFit>? fits = null;
            if (!parse.GetValue(skipRuntime))
            {
                var samples = new List<RuntimeSample>();
                var dir = Path.GetFullPath(parse.GetValue(modelsDir)!);
                Directory.CreateDirectory(dir);
                var bench = new LocalBench(time, line => stderr.WriteLine(line));
                foreach (var (name, shape) in CalibrationModels.CalibrationShapes)
                {
                    foreach (var (type, precision) in new[] { (GgmlType.F16, "bf16"), (GgmlType.Q8_0, "q8_0") })
                    {
                        var file = Path.Combine(dir, $"{name}-{(precision == "bf16" ? "f16" : precision)}.gguf");
                        if (!File.Exists(file))
                        {
                            TestModelGenerator.WriteFile(file, shape, type, LocalBackendFactory.DefaultSeed);
                        }

                        var profile = SimulateCommand.GeneratedProfile(name, shape, precision);
                        foreach (var (t, promptTokens, result) in await bench.RunHarnessAsync(file, threadCounts, CalibrationModels.CalibrationPromptTokens, CalibrationModels.CalibrationDecodeTokens, 1, reps, ct))
                        {
                            samples.Add(new RuntimeSample(profile, precision, t, promptTokens, CalibrationModels.CalibrationDecodeTokens, result.TtftMsMedian, result.DecodeTokensPerSecondMedian));
                        }
                    }
                }

                fits = RuntimeCalibration.Fit(samples, m.ReadBandwidthGBps, 0.85, RuntimeKernels.LlamaCpp(LlamaNative.SimdBuild));
            }

            var hwFile = HostCalibrator.ToProfile(m, time.GetUtcNow(), fits);
            var target = parse.GetValue(outPath)
                ?? Path.Combine(ProfileCatalog.FindDirectory(Directory.GetCurrentDirectory()) ?? Path.Combine(Directory.GetCurrentDirectory(), ProfileCatalog.DirectoryName), ProfileCatalog.LocalHardwareFile);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
            await File.WriteAllTextAsync(target, JsonSerializer.Serialize(hwFile, SimulatorJsonContext.Default.HardwareFile) + "\n", ct);
            var c = CultureInfo.InvariantCulture;
            await stdout.WriteLineAsync(string.Create(c,
                $"cpu-local: {m.ReadBandwidthGBps:F1} GB/s read bandwidth, {m.MatmulGflops:F1} GFLOPS fp32 matmul, {m.MemoryGB:F1} GB, {m.Cores} cores → {target}").AsMemory(), ct);
            foreach (var fit in fits ?? [])
            {
                await stdout.WriteLineAsync(string.Create(c,
                    $"cpu-local-t{fit.Threads}: step {fit.StepOverheadMs:F3} ms + {fit.LayerOverheadUs:F1} µs/layer, {fit.DecodeContextNs:F1} ns/attended token·head·layer + {fit.DecodeScalarElementNs:F2} ns/scalar element ({fit.Kernels.F16VectorElements}-element F16 blocks), prefill {fit.PrefillPairNs:F3} ns/pair·head·layer + {fit.PrefillElementNs:F4} ns/token·hidden·layer, request {fit.RequestOverheadMs:F2} ms, decode weight read {string.Join(", ", fit.WeightReadGBps.Select(kv => $"{kv.Key} {kv.Value:F2} GB/s"))}, prefill {string.Join(", ", fit.PrefillGflops.Select(kv => $"{kv.Key} {kv.Value:F1} GFLOPS"))} (fit residual median decode {fit.DecodeFitMedianError * 100:F1} %, prefill {fit.PrefillFitMedianError * 100:F1} %, {fit.Samples} runs)").AsMemory(), ct);
            }

            await stdout.WriteLineAsync($"load average after: {await SimulateCommand.LoadAverageAsync(ct)}".AsMemory(), ct);
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
