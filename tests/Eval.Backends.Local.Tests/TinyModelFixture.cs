using Spark.Eval.Backends.Local.Gguf;

namespace Spark.Eval.Backends.Local.Tests;

/// <summary>Generates one tiny model per test run and loads it once; tests share it (one context, serialised by its gate).</summary>
public sealed class TinyModelFixture : IDisposable
{
    public TinyModelFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "spark-eval-local-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        ModelPath = Path.Combine(Directory, "tiny.gguf");
        TestModelGenerator.WriteFile(ModelPath, TestModelShape.Tiny, GgmlType.F16, seed: 7);
        Model = LocalModel.Load(ModelPath, threads: 2, contextSize: 1024, TimeProvider.System);
    }

    public string Directory { get; }

    public string ModelPath { get; }

    public LocalModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
