using Spark.Eval.Core.Timing;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>
/// After the stream's end marker the client reads the HTTP body to its own end (the last chunk), so the attempt ends with its
/// response and the pooled connection is free for the next attempt at once; a body that does not end is not waited for long.
/// </summary>
public sealed class BodyEndTests
{
    [Fact]
    public async Task LastChunkAfterTheEndMarker_NextAttemptsReuseTheOneConnection()
    {
        var transcript = Transcript.Load("llama-server-chat.sse");
        // The last chunk comes 30 ms after [DONE]: left to disposal, the connection came back to the pool only then, so each
        // next attempt, begun at once, opened a connection of its own.
        await using var server = await ReplayServer.StartAsync(_ => transcript, new ReplayOptions { EndAfterLastEvent = TimeSpan.FromMilliseconds(30) });
        using var client = new OpenAICompatibleChatClient(new OpenAIBackendOptions { BaseUrl = server.BaseAddress, Model = "m", BreakerMinimumThroughput = 0 }, TimeProvider.System, null);

        for (var i = 0; i < 4; i++)
        {
            var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);
            Assert.Null(error);
            Assert.Equal("Binary search halves the range.", recorder.Answer);
            var events = recorder.Events();
            var lastContent = events.Last(e => e.Kind == StreamEventKind.Content).OffsetMicroseconds;
            var end = events.Last(e => e.Kind == StreamEventKind.End).OffsetMicroseconds;
            // The attempt ends with its response (as vLLM's benchmark reads a body to its end): after the last chunk.
            Assert.True(end - lastContent >= 25_000, $"the attempt ended {end - lastContent} µs after its last content, before the body's end");
        }

        Assert.Single(client.Connections.ConnectMilliseconds);
        Assert.Equal(1, server.Connections);
    }

    [Fact]
    public async Task BodyNeverEndsAfterTheEndMarker_AnswerCompleteAndAttemptEndsWithoutWaitingForIt()
    {
        var transcript = Transcript.Load("llama-server-chat.sse");
        await using var server = await ReplayServer.StartAsync(_ => transcript, new ReplayOptions { EndAfterLastEvent = Timeout.InfiniteTimeSpan });
        using var client = new OpenAICompatibleChatClient(new OpenAIBackendOptions { BaseUrl = server.BaseAddress, Model = "m", BreakerMinimumThroughput = 0 }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        Assert.Null(error);
        Assert.Equal("Binary search halves the range.", recorder.Answer);
        var end = recorder.Events().Last(e => e.Kind == StreamEventKind.End).OffsetMicroseconds;
        // The wait for the body's end is bounded (50 ms), far below the server's 30 s hold; the bound here only catches a hang.
        Assert.True(end < 10_000_000, $"the attempt ended after {end} µs: the client waited for a body that never ends");
        Assert.True(OpenAICompatibleChatClient.BodyEndWait < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task BodyTricklesOnAfterTheEndMarker_TheWaitForItsEndIsBoundedInAll()
    {
        var transcript = Transcript.Load("llama-server-chat.sse");
        // Two bytes every 5 ms for 30 s after [DONE]: each read comes well within 50 ms, so only a budget for the whole tail
        // (not per read) ends the wait; per read, 16 KB at 400 B/s would hold the attempt for ~40 s.
        await using var server = await ReplayServer.StartAsync(_ => transcript, new ReplayOptions { EndAfterLastEvent = Timeout.InfiniteTimeSpan, TrickleEvery = TimeSpan.FromMilliseconds(5) });
        using var client = new OpenAICompatibleChatClient(new OpenAIBackendOptions { BaseUrl = server.BaseAddress, Model = "m", BreakerMinimumThroughput = 0 }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        Assert.Null(error);
        Assert.Equal("Binary search halves the range.", recorder.Answer);
        var events = recorder.Events();
        var afterLast = events.Last(e => e.Kind == StreamEventKind.End).OffsetMicroseconds - events.Last(e => e.Kind == StreamEventKind.Content).OffsetMicroseconds;
        Assert.True(afterLast < 5_000_000, $"the attempt ended {afterLast} µs after its last content: the tail's wait is not bounded in all");
    }
}
