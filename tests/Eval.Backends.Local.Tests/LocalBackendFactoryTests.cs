using Microsoft.Extensions.AI;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Local.Tests;

public sealed class LocalBackendFactoryTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spark-eval-local-tests", Guid.NewGuid().ToString("N"));
    private readonly List<string> _log = [];

    public LocalBackendFactoryTests() => Directory.CreateDirectory(_dir);

    private BackendContext Context => new(TimeProvider.System, _dir, _log.Add);

    private static Task<BackendHandle> CreateAsync(string spec, BackendContext context) =>
        new BackendRegistry([new LocalBackendFactory()]).CreateAsync(spec, context, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Create_TinyModelMissing_GeneratesItWithProgressLineAndDescribesRandomWeights()
    {
        await using var handle = await CreateAsync("local?name=t&model=models/tiny.gguf&threads=1&ctx=512", Context);

        Assert.True(File.Exists(Path.Combine(_dir, "models", "tiny.gguf")));
        Assert.Contains(_log, l => l.StartsWith("generating models/tiny.gguf", StringComparison.Ordinal));
        Assert.Contains(_log, l => l.Contains("loaded models/tiny.gguf in", StringComparison.Ordinal));
        Assert.False(handle.Info.Simulated);
        Assert.Equal("local", handle.Info.Kind);
        Assert.Contains("RANDOM weights", handle.Info.Description, StringComparison.Ordinal);
        Assert.Contains("meaningless text", handle.Info.Description, StringComparison.Ordinal);
        Assert.Contains("model load", handle.Info.Description, StringComparison.Ordinal);

        var response = await handle.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { MaxOutputTokens = 5 }, TestContext.Current.CancellationToken);
        Assert.Equal(5, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Create_OtherMissingFile_InputExceptionWithFix()
    {
        var ex = await Assert.ThrowsAsync<InputException>(() => CreateAsync("local?model=models/nope.gguf", Context));

        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "models", "nope.gguf")));
    }

    [Fact]
    public async Task Create_NotAGgufFile_InputExceptionQuotingLlamaCpp()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "junk.gguf"), "this is not a model", TestContext.Current.CancellationToken);

        var ex = await Assert.ThrowsAsync<InputException>(() => CreateAsync("local?model=junk.gguf&threads=1", Context));

        Assert.Contains("llama.cpp said:", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_UnknownSetting_InputException()
    {
        var ex = await Assert.ThrowsAsync<InputException>(() => CreateAsync("local?model=models/tiny.gguf&thread=2", Context));

        Assert.Contains("unknown setting 'thread'", ex.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
