using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>
/// The compatibility matrix (docs/remote.md): each real server's streamed bytes (Fixtures/servers, sources in its README),
/// replayed by a loopback Kestrel server, read by the client as that server's users would: text, usage, finish reason,
/// error class with the server's message, and the attempt's events in time order.
/// </summary>
public sealed class CompatibilityMatrixTests
{
    private const string Answer = "Binary search halves the range.";

    public static TheoryData<string, OpenAIApi, string?, long?, long?, string?> Streams => new()
    {
        // fixture, api, expected text, output tokens (usage), input tokens (usage), finish reason
        { "llama-server-chat.sse", OpenAIApi.ChatCompletions, Answer, 6, 31, "stop" },
        { "vllm-chat.sse", OpenAIApi.ChatCompletions, Answer, 5, 31, "stop" },
        { "sglang-chat.sse", OpenAIApi.ChatCompletions, Answer, 5, 31, "stop" },
        { "tgi-chat.sse", OpenAIApi.ChatCompletions, Answer, 6, 31, "stop" },
        { "ollama-chat.sse", OpenAIApi.ChatCompletions, Answer, 5, 31, "stop" },
        { "openai-chat.sse", OpenAIApi.ChatCompletions, Answer, 5, 31, "stop" },
        { "openai-responses.sse", OpenAIApi.Responses, Answer, 5, 31, "stop" },
    };

    public static TheoryData<string, OpenAIApi, string, string> Errors => new()
    {
        // fixture, api, expected error class, a part of the server's message the error must keep
        { "llama-server-context-overflow.sse", OpenAIApi.ChatCompletions, "server_error_event", "exceeds the available context size" },
        { "vllm-error.sse", OpenAIApi.ChatCompletions, "server_error_event", "maximum context length is 2048 tokens" },
        { "object-error.sse", OpenAIApi.ChatCompletions, "server_error_event", "inputs tokens + max_new_tokens must be <= 2048" },
        { "sglang-error.sse", OpenAIApi.ChatCompletions, "server_error_event", "longer than the model's context length" },
        { "tgi-error.sse", OpenAIApi.ChatCompletions, "server_error_event", "CUDA out of memory" },
        { "tgi-generate-error.sse", OpenAIApi.ChatCompletions, "server_error_event", "Out of available cache blocks" },
        { "openai-chat-error.sse", OpenAIApi.ChatCompletions, "server_error_event", "The server had an error while processing your request" },
        { "event-error.sse", OpenAIApi.ChatCompletions, "server_error_event", "upstream connection lost" },
        { "openai-responses-error.sse", OpenAIApi.Responses, "server_error_event", "The server had an error processing your request" },
        { "openai-responses-failed.sse", OpenAIApi.Responses, "server_error_event", "The model failed to generate a response" },
    };

    [Theory]
    [MemberData(nameof(Streams))]
    public async Task Replay_ServerStream_TextUsageFinishAndOrderedEvents(string fixture, OpenAIApi api, string? text, long? output, long? input, string? finish)
    {
        var transcript = Transcript.Load(fixture);
        await using var server = await ReplayServer.StartAsync(_ => transcript);
        using var client = new OpenAICompatibleChatClient(Options(server, api), TimeProvider.System, null);

        var (recorder, error, updates) = await SimServerFixture.AttemptAsync(client);

        Assert.Null(error);
        Assert.Equal(text, recorder.Answer);
        Assert.Equal(output, recorder.Usage?.OutputTokenCount);
        Assert.Equal(input, recorder.Usage?.InputTokenCount);
        Assert.Equal(finish, updates.LastOrDefault(u => u.FinishReason is not null)?.FinishReason?.Value);
        AssertOrdered(recorder);
    }

    [Theory]
    [MemberData(nameof(Errors))]
    public async Task Replay_ServerErrorInStream_ClassifiedErrorKeepsServerMessage(string fixture, OpenAIApi api, string errorClass, string message)
    {
        var transcript = Transcript.Load(fixture);
        await using var server = await ReplayServer.StartAsync(_ => transcript);
        using var client = new OpenAICompatibleChatClient(Options(server, api), TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        var failure = Assert.IsType<BackendException>(error);
        Assert.Equal(errorClass, failure.ErrorClass);
        Assert.Contains(message, failure.Message, StringComparison.Ordinal);
        Assert.Contains(recorder.Events(), e => e.Kind == StreamEventKind.End);
        AssertOrdered(recorder);
    }

    [Fact]
    public async Task Replay_OllamaErrorBodyWith200_NonStreamingIsAClassifiedErrorNotMalformed()
    {
        var transcript = Transcript.Load("ollama-error.json", 200, "application/json");
        await using var server = await ReplayServer.StartAsync(_ => transcript);
        using var client = new OpenAICompatibleChatClient(Options(server, OpenAIApi.ChatCompletions), TimeProvider.System, null);

        var error = await Assert.ThrowsAsync<BackendException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], null, TestContext.Current.CancellationToken));

        Assert.Equal("server_error_event", error.ErrorClass);
        Assert.Contains("more system memory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_OllamaErrorBodyAsHttp500_IsHttp500WithMessage()
    {
        var transcript = Transcript.Load("ollama-error.json", 500, "application/json");
        await using var server = await ReplayServer.StartAsync(_ => transcript);
        using var client = new OpenAICompatibleChatClient(Options(server, OpenAIApi.ChatCompletions), TimeProvider.System, null);

        var (_, error, _) = await SimServerFixture.AttemptAsync(client);

        var failure = Assert.IsType<BackendException>(error);
        Assert.Equal("http_500", failure.ErrorClass);
        Assert.Contains("more system memory", failure.Message, StringComparison.Ordinal);
    }

    /// <summary>Every record's events are in time order, and the transport moments come in protocol order.</summary>
    internal static void AssertOrdered(AttemptRecorder recorder)
    {
        var events = recorder.Events();
        for (var i = 1; i < events.Count; i++)
        {
            Assert.True(events[i].OffsetMicroseconds >= events[i - 1].OffsetMicroseconds,
                $"event {i} ({events[i].Kind}, {events[i].OffsetMicroseconds} µs) precedes event {i - 1} ({events[i - 1].Kind}, {events[i - 1].OffsetMicroseconds} µs)");
        }

        var kinds = events.Select(e => e.Kind).ToList();
        Assert.Equal(StreamEventKind.RequestStart, kinds[0]);
        Assert.Equal(StreamEventKind.End, kinds[^1]);
        var sent = kinds.IndexOf(StreamEventKind.RequestSent);
        var headers = kinds.IndexOf(StreamEventKind.ResponseHeaders);
        Assert.True(sent > 0 && headers > sent, "request_sent, then response_headers");
        var content = kinds.IndexOf(StreamEventKind.Content);
        if (content >= 0)
        {
            Assert.True(kinds.IndexOf(StreamEventKind.FirstByte) is var first && first > headers && first < content, "first_byte between headers and the first content");
        }
    }

    private static OpenAIBackendOptions Options(ReplayServer server, OpenAIApi api) => new()
    {
        BaseUrl = server.BaseAddress,
        Model = "m",
        Api = api,
        MaxRetries = 0,
        BreakerMinimumThroughput = 0,
        TimeToFirstTokenTimeout = TimeSpan.FromSeconds(10),
        IdleTimeout = TimeSpan.FromSeconds(10),
        TotalTimeout = TimeSpan.FromSeconds(20),
    };
}
