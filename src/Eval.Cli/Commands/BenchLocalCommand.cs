using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Spark.Eval.Backends.Local;
using Spark.Eval.Backends.Local.Bench;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval bench-local</c>: sweeps prompt lengths and thread counts on the local llama.cpp runtime.</summary>
public static class BenchLocalCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model (models/tiny.gguf and models/small.gguf are generated when missing).", DefaultValueFactory = _ => "models/small.gguf" };
        var prompts = new Option<string>("--prompt-tokens") { Description = "Comma-separated prompt lengths in tokens.", DefaultValueFactory = _ => "16,64,256,1024" };
        var threads = new Option<string>("--threads") { Description = "Comma-separated thread counts.", DefaultValueFactory = _ => LocalBackendFactory.DefaultThreads.ToString(CultureInfo.InvariantCulture) };
        var decode = new Option<int>("--decode-tokens") { Description = "Tokens generated per measurement.", DefaultValueFactory = _ => 64 };
        var warmup = new Option<int>("--warmup") { Description = "Unmeasured runs of each path before measuring, per point.", DefaultValueFactory = _ => 1 };
        var repeats = new Option<int>("--repeats") { Description = "Measured runs of each path per point (medians are reported).", DefaultValueFactory = _ => 5 };
        var output = new Option<string?>("--out", "-o") { Description = "Run directory to create (default results/bench-local-<utc time>): bench-local.json plus the run format (manifest, attempts.jsonl of the harness generations, summaries)." };
        var command = new Command("bench-local",
            "Sweep prompt lengths and thread counts on the local llama.cpp runtime: TTFT, prefill and decode tokens/s (medians), and decode tokens/s through the harness (IChatClient + timing middleware) relative to a bare LLamaSharp decode loop.")
        {
            model, prompts, threads, decode, warmup, repeats, output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var time = TimeProvider.System;
            var modelText = parse.GetValue(model)!;
            var settings = new LocalBenchSettings
            {
                PromptTokens = ParseList(parse.GetValue(prompts)!, "--prompt-tokens", 1, 1 << 16, "16,64,256"),
                Threads = ParseList(parse.GetValue(threads)!, "--threads", 1, 512, "1,2,4"),
                DecodeTokens = Check(parse.GetValue(decode), "--decode-tokens", 2, 1 << 16),
                Warmup = Check(parse.GetValue(warmup), "--warmup", 0, 1000),
                Repeats = Check(parse.GetValue(repeats), "--repeats", 1, 1000),
            };
            var path = Path.GetFullPath(modelText);
            var outDir = parse.GetValue(output)
                ?? Path.Combine("results", "bench-local-" + time.GetUtcNow().ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            {
                throw new InputException($"--out {outDir}: the directory exists and is not empty. Fix: choose a new directory");
            }

            LocalBackendFactory.EnsureModel(path, modelText, new Core.Backends.BackendContext(time, Directory.GetCurrentDirectory(), stderr.WriteLine), $"--model {modelText}");
            var bench = new LocalBench(time, line => stderr.WriteLine(line));
            var report = await bench.RunAsync(path, settings, EnvironmentProbe.CpuModel(), ct);
            WriteRunDirectory(outDir, report, time);
            await stdout.WriteAsync(LocalBench.FormatTable(report));
            await stdout.WriteLineAsync($"run directory: {outDir} (bench-local.json, manifest.json, attempts.jsonl, summary.json)");
            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    /// <summary>Writes bench-local.json and, for the harness generations, the run format that 'spark-eval summarize' reads.</summary>
    private static void WriteRunDirectory(string outDir, LocalBenchReport report, TimeProvider time)
    {
        Directory.CreateDirectory(outDir);
        var directory = new RunDirectory(outDir);
        RunDirectory.WriteAtomic(Path.Combine(outDir, "bench-local.json"), JsonSerializer.SerializeToUtf8Bytes(report, LocalBenchJsonContext.Default.LocalBenchReport));
        var lengths = string.Join(",", report.Settings.PromptTokens.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        var manifest = new RunManifest
        {
            RunId = "bench-local-" + report.StartedUtc.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture),
            HarnessVersion = EnvironmentProbe.HarnessVersion,
            Plan = new RunPlanSpec
            {
                SuitePath = "bench-local:synthetic-prompts",
                BackendSpecs = report.Backends.Select(b => b.Spec).ToList(),
                Repeats = report.Settings.Repeats,
                Warmup = report.Settings.Warmup,
                Concurrency = 1,
                MaxTokens = report.Settings.DecodeTokens,
            },
            Suite = new SuiteInfo("bench-local-prompts", "synthetic code-like prompts of " + lengths + " tokens",
                Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(lengths))), report.Settings.PromptTokens.Count),
            Backends = report.Backends,
            Environment = EnvironmentProbe.Describe(),
            StartedUtc = report.StartedUtc,
            EndedUtc = time.GetUtcNow(),
            Status = "completed",
        };
        directory.WriteManifest(manifest);
        using (var log = new AttemptLog(directory.AttemptsPath))
        {
            foreach (var attempt in report.HarnessAttempts)
            {
                log.Append(attempt);
            }
        }

        directory.WriteSummaries(manifest);
    }

    private static int Check(int value, string flag, int min, int max) =>
        value >= min && value <= max ? value
            : throw new InputException(string.Create(CultureInfo.InvariantCulture, $"{flag} {value}: out of range [{min}, {max}]. Fix: give {flag} a value in range"));

    private static List<int> ParseList(string text, string flag, int min, int max, string example)
    {
        var values = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                throw new InputException($"{flag} '{text}': '{part}' is not an integer. Fix: write a comma-separated list such as {example}");
            }

            values.Add(Check(value, flag, min, max));
        }

        return values.Count > 0 ? values : throw new InputException($"{flag} is empty. Fix: write a comma-separated list such as {example}");
    }
}
