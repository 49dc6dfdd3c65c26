using Spark.Eval.Core;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Cli;

/// <summary>What <c>spark-eval run</c> uses with no flags: the embedded spark-mini suite, three simulated profiles and the random-weight local model.</summary>
public static class EmbeddedDefaults
{
    public const string EmbeddedPrefix = "embedded:";
    public const string SuiteName = "spark-mini";

    /// <summary>Hardware-simulated profiles (labelled SIMULATED everywhere): wafer-scale, GPU and Apple unified-memory, see docs/simulator.md.</summary>
    public static readonly IReadOnlyList<string> Backends =
    [
        "hwsim?name=sim-wse3-llama70b&hw=wse-3&model=llama-3.1-70b&precision=bf16",
        "hwsim?name=sim-h100-qwen32b&hw=h100-sxm&model=qwen2.5-coder-32b&precision=fp8",
        "hwsim?name=sim-m2ultra-qwen7b&hw=apple-m2-ultra&model=qwen2.5-coder-7b&precision=q4",
        "local?name=local-tiny-random&model=models/tiny.gguf&threads=1&ctx=2048",
    ];

    public static TaskSuite LoadSuite(string path)
    {
        if (!path.StartsWith(EmbeddedPrefix, StringComparison.Ordinal))
        {
            return TaskSuiteLoader.Load(path);
        }

        var name = path[EmbeddedPrefix.Length..];
        using var stream = typeof(EmbeddedDefaults).Assembly.GetManifestResourceStream($"{name}.tasks.jsonl")
            ?? throw new InputException($"--suite '{path}': no embedded suite named '{name}'. Fix: use {EmbeddedPrefix}{SuiteName} or a suite directory");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return TaskSuiteLoader.Parse(name, path, buffer.ToArray());
    }
}
