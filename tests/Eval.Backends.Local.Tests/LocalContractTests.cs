using Microsoft.Extensions.AI;
using Spark.Eval.Core.Tests;

namespace Spark.Eval.Backends.Local.Tests;

/// <summary>The backend contract for the local llama.cpp backend, on the generated tiny model (1024-token context).</summary>
public sealed class LocalContractTests(TinyModelFixture fixture) : BackendContractTests, IClassFixture<TinyModelFixture>
{
    protected override IChatClient CreateClient() => new LocalChatClient(fixture.Model, ownsModel: false);

    // A prompt longer than the context: refused before any decoding, as context_overflow.
    protected override IEnumerable<BackendFailure> CreateFailures() =>
        [new(CreateClient(), [new ChatMessage(ChatRole.User, string.Concat(Enumerable.Repeat("word ", 3000)))], "context_overflow")];
}
