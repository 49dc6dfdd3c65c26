using System.Globalization;
using Spark.Eval.Backends.Local.Gguf;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Backends.Local;

/// <summary>
/// Factory for <c>local?model=models/tiny.gguf&amp;threads=2&amp;ctx=2048</c>: a GGUF model run in process by llama.cpp.
/// <c>models/tiny.gguf</c> and <c>models/small.gguf</c> are generated on first use when missing.
/// </summary>
public sealed class LocalBackendFactory : IBackendFactory
{
    /// <summary>The seed of the models generated on first use; documented in docs/local-runtime.md.</summary>
    public const ulong DefaultSeed = 1;

    private static readonly string[] Keys = ["name", "model", "threads", "ctx", "gpu_layers"];
    private static readonly Lock GenerateGate = new();

    public string Kind => "local";

    public string Usage => "local?name=N&model=models/tiny.gguf&threads=4&ctx=4096[&gpu_layers=0] — real llama.cpp in process; models/tiny.gguf and models/small.gguf are generated (random weights) when missing";

    /// <summary>The default thread count: the machine's cores, at most 8 (llama.cpp decode stops scaling around memory bandwidth).</summary>
    public static int DefaultThreads => Math.Clamp(Environment.ProcessorCount, 1, 8);

    public Task<BackendHandle> CreateAsync(BackendSpec spec, BackendContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(context);
        var model = spec.GetString("model", "models/tiny.gguf");
        var threads = spec.GetInt("threads", DefaultThreads, 1, 512);
        var ctx = spec.GetInt("ctx", 4096, 64, 1 << 20);

        // Layers to offload; only a GPU backend package (LLamaSharp.Backend.Cuda12, untested here) uses it.
        var gpuLayers = spec.GetInt("gpu_layers", 0, 0, 100_000);
        spec.EnsureAllRead(Keys);

        var path = Path.GetFullPath(model, context.WorkingDirectory);
        EnsureModel(path, model, context, spec.Text);
        LocalModel loaded;
        try
        {
            loaded = LocalModel.Load(path, threads, ctx, context.Time, gpuLayers);
        }
        catch (BackendException ex)
        {
            throw new InputException($"--backend '{spec.Text}': {ex.Message}{Environment.NewLine}Fix: point model= at a GGUF file llama.cpp can read, or generate one with 'spark-eval models generate --size tiny --out {model}'", ex);
        }

        context.Log(string.Create(CultureInfo.InvariantCulture, $"local backend '{spec.Name}': loaded {model} in {loaded.LoadTime.TotalMilliseconds:0} ms ({LlamaNative.SimdBuild} build, {threads} threads, ctx {ctx})"));
        var info = new BackendInfo(spec.Name, spec.Text, Kind, loaded.Describe(), Simulated: false, loaded.Name);
        return Task.FromResult(new BackendHandle(info, new LocalChatClient(loaded)));
    }

    /// <summary>The well-known models this factory makes on first use, by file name.</summary>
    public static (TestModelShape Shape, GgmlType Type)? WellKnown(string fileName) => fileName switch
    {
        "tiny.gguf" => (TestModelShape.Tiny, GgmlType.F16),
        "small.gguf" => (TestModelShape.Small, GgmlType.Q8_0),
        _ => null,
    };

    /// <summary>Generates models/tiny.gguf or models/small.gguf if missing; any other missing file is an input error.</summary>
    public static void EnsureModel(string path, string asWritten, BackendContext context, string specText)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(context);
        if (File.Exists(path))
        {
            return;
        }

        var directory = Path.GetFileName(Path.GetDirectoryName(path));
        if (directory != "models" || WellKnown(Path.GetFileName(path)) is not { } known)
        {
            throw new InputException($"--backend '{specText}': model file '{asWritten}' does not exist ({path}). Fix: give model= an existing GGUF file, use models/tiny.gguf or models/small.gguf (generated on first use), or run 'spark-eval models generate --size tiny --out {asWritten}'");
        }

        lock (GenerateGate)
        {
            if (File.Exists(path))
            {
                return;
            }

            var start = context.Time.GetTimestamp();
            context.Log(string.Create(CultureInfo.InvariantCulture,
                $"generating {asWritten}: random-weight Llama test model, {known.Shape.ParameterCount / 1e6:0.##}M params, {known.Type}, seed {DefaultSeed} (first use only; git-ignored)…"));
            TestModelGenerator.WriteFile(path, known.Shape, known.Type, DefaultSeed);
            context.Log(string.Create(CultureInfo.InvariantCulture,
                $"generated {asWritten} ({new FileInfo(path).Length / 1e6:0.0} MB) in {context.Time.GetElapsedTime(start).TotalSeconds:0.0} s"));
        }
    }
}
