using System.CommandLine;
using System.Globalization;
using Spark.Eval.Backends.Local;
using Spark.Eval.Backends.Local.Gguf;
using Spark.Eval.Core;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval models generate</c>: random-weight GGUF test models for the local llama.cpp runtime.</summary>
public static class ModelsCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var size = new Option<string>("--size") { Description = "tiny (~0.6M params, ~1.2 MB at f16), small (~106M params) or a parameter count such as 30M or 1.5B.", DefaultValueFactory = _ => "tiny" };
        var type = new Option<string>("--type") { Description = "Matrix type: f16, q8_0 or f32 (norms are always f32).", DefaultValueFactory = _ => "f16" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights; the same seed gives the same bytes.", DefaultValueFactory = _ => LocalBackendFactory.DefaultSeed };
        var output = new Option<string>("--out", "-o") { Description = "GGUF file to write.", Required = true };
        var noTemplate = new Option<bool>("--no-chat-template") { Description = "Leave tokenizer.chat_template out (the backend then uses its plain template)." };
        var generate = new Command("generate", "Write a random-weight Llama-architecture GGUF that llama.cpp loads (real timings, meaningless text).")
        {
            size, type, seed, output, noTemplate,
        };
        generate.SetAction((parse, _) =>
        {
            var shape = TestModelShape.Parse(parse.GetValue(size)!);
            var ggml = ParseType(parse.GetValue(type)!);
            var path = parse.GetValue(output)!;
            var time = TimeProvider.System;
            var start = time.GetTimestamp();
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"generating {path}: vocab {shape.VocabSize}, width {shape.Embedding}, {shape.Layers} layers, {shape.Heads} heads, ffn {shape.FeedForward} = {shape.ParameterCount / 1e6:0.###}M params, {ggml}, seed {parse.GetValue(seed)}…"));
            TestModelGenerator.WriteFile(path, shape, ggml, parse.GetValue(seed), chatTemplate: parse.GetValue(noTemplate) ? null : TestModelGenerator.ChatMlTemplate);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {path}: {new FileInfo(path).Length} bytes, {shape.ParameterCount} params, random weights (real timings, meaningless text), in {time.GetElapsedTime(start).TotalSeconds:0.00} s"));
            return Task.FromResult(SparkEvalCli.ExitOk);
        });
        return new Command("models", "Make local test models (random-weight GGUF files).") { generate };
    }

    private static GgmlType ParseType(string text) => text.Trim().ToLowerInvariant() switch
    {
        "f16" => GgmlType.F16,
        "q8_0" or "q8" => GgmlType.Q8_0,
        "f32" => GgmlType.F32,
        _ => throw new InputException($"--type '{text}': unknown tensor type. Fix: use f16, q8_0 or f32"),
    };
}
