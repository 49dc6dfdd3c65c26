using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Benchmarks;

/// <summary>Cost the timing middleware adds per streamed chunk: 64 pre-built updates through the pipeline, with and without it.</summary>
[MemoryDiagnoser]
public class TimingMiddlewareBenchmarks
{
    public const int Chunks = 64;
    private IChatClient _bare = null!;
    private IChatClient _timed = null!;
    private readonly ChatMessage[] _messages = [new(ChatRole.User, "hi")];

    /// <summary>Yields pre-built updates synchronously, so the benchmark measures the pipeline, not a backend.</summary>
    private sealed class PrebuiltClient : IChatClient
    {
        private readonly ChatResponseUpdate[] _updates = Enumerable.Range(0, Chunks).Select(i => new ChatResponseUpdate(ChatRole.Assistant, "tok" + i)).ToArray();

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

#pragma warning disable CS1998 // synchronous on purpose
        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
#pragma warning restore CS1998
        {
            foreach (var update in _updates)
            {
                yield return update;
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose() { }
    }

    [GlobalSetup]
    public void Setup()
    {
        var inner = new PrebuiltClient();
        _bare = inner;
        _timed = new ChatClientBuilder(inner).UseTiming().Build();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Chunks)]
    public async Task<int> WithoutTiming()
    {
        var options = new ChatOptions { AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = new AttemptRecorder(TimeProvider.System) } };
        var n = 0;
        await foreach (var update in _bare.GetStreamingResponseAsync(_messages, options))
        {
            n += update.Contents.Count;
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Chunks)]
    public async Task<int> WithTiming()
    {
        var options = new ChatOptions { AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = new AttemptRecorder(TimeProvider.System) } };
        var n = 0;
        await foreach (var update in _timed.GetStreamingResponseAsync(_messages, options))
        {
            n += update.Contents.Count;
        }

        return n;
    }
}
