using Spark.Eval.Core;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Cli;

/// <summary>What <c>spark-eval run</c> uses with no flags: the embedded spark-mini suite and three simulated profiles.</summary>
public static class EmbeddedDefaults
{
    public const string EmbeddedPrefix = "embedded:";
    public const string SuiteName = "spark-mini";

    /// <summary>Constant-rate simulated profiles (labelled SIMULATED everywhere); the hardware simulator replaces their figures.</summary>
    public static readonly IReadOnlyList<string> Backends =
    [
        "sim?name=sim-wafer-scale&ttft_ms=90&tokens_per_s=1000",
        "sim?name=sim-gpu&ttft_ms=250&tokens_per_s=160",
        "sim?name=sim-cpu&ttft_ms=700&tokens_per_s=40",
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
