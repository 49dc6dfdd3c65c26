using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Simulator.Server;
using Spark.Eval.TestSupport;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>Each serve-sim fault, over real loopback HTTP, ends as the expected classified failure, and the next request succeeds.</summary>
public sealed class FaultMatrixTests(SimServerFixture fixture) : IClassFixture<SimServerFixture>
{
    public static TheoryData<string, string, bool?> Faults => new()
    {
        // fault header, expected error class, whether some answer text arrived before the failure (null: either;
        // an abort resets the connection and the kernel may drop bytes the client had not read yet)
        { "429;retry_after=0", "http_429", false },
        { "503;retry_after=0", "http_503", false },
        { "500", "http_500", false },
        { "wrong_content_type", "wrong_content_type", false },
        { "disconnect;after=2", "connection_reset", null },
        { "stall;after=2;ms=8000", "stream_stalled", true },
        { "malformed;after=2", "malformed_chunk", true },
        { "early_end;after=2", "early_end", true },
        { "slow_headers;ms=6000", "ttft_timeout", false },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Stream_InjectedFault_EndsAsClassifiedFailureAndNextRequestSucceeds(string fault, string expectedClass, bool? partialText)
    {
        var options = fixture.Options(fault) with { TimeToFirstTokenTimeout = TimeSpan.FromMilliseconds(2000) };
        using var faulty = new OpenAICompatibleChatClient(options, TimeProvider.System, null);
        var (recorder, error, _) = await SimServerFixture.AttemptAsync(faulty);

        var backendError = Assert.IsType<Spark.Eval.Core.Backends.BackendException>(error);
        Assert.Equal(expectedClass, backendError.ErrorClass);
        if (partialText is { } expectText)
        {
            Assert.Equal(expectText, recorder.Answer.Length > 0);
        }

        Assert.Contains(recorder.Events(), e => e.Kind == StreamEventKind.End);

        using var healthy = new OpenAICompatibleChatClient(fixture.Options(), TimeProvider.System, null);
        var (okRecorder, okError, _) = await SimServerFixture.AttemptAsync(healthy);
        Assert.Null(okError);
        Assert.StartsWith("Simulated answer", okRecorder.Answer, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("malformed", "malformed_response")]
    [InlineData("early_end", "malformed_response")]
    [InlineData("wrong_content_type", "wrong_content_type")]
    [InlineData("500", "http_500")]
    [InlineData("disconnect", "connection_reset")]
    public async Task NonStreaming_InjectedFault_EndsAsClassifiedFailure(string fault, string expectedClass)
    {
        using var client = new OpenAICompatibleChatClient(fixture.Options(fault), TimeProvider.System, null);

        var error = await Assert.ThrowsAsync<Spark.Eval.Core.Backends.BackendException>(() => client.GetResponseAsync(
            [new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.User, "hi")], new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = 8 },
            TestContext.Current.CancellationToken));

        Assert.Equal(expectedClass, error.ErrorClass);
    }

    [Fact]
    public async Task Retry_429ThenSuccess_RetriedOnceAndRecordedBeforeTheServingTry()
    {
        var fault = "429;retry_after=0;count=1;id=" + Guid.NewGuid().ToString("N");
        using var client = new OpenAICompatibleChatClient(fixture.Options(fault) with { MaxRetries = 2 }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        Assert.Null(error);
        Assert.Equal(1, recorder.Retries);
        var kinds = recorder.Events().Select(e => e.Kind).ToList();
        var retry = kinds.IndexOf(StreamEventKind.Retry);
        Assert.True(retry > kinds.IndexOf(StreamEventKind.RequestSent), "the failed try's request precedes the retry");
        Assert.True(kinds.LastIndexOf(StreamEventKind.RequestSent) > retry, "the serving try is sent after the retry");
        Assert.True(kinds.IndexOf(StreamEventKind.FirstByte) > retry, "first byte belongs to the serving try");
    }

    [Fact]
    public async Task Retry_503WithRetryAfterOneSecond_WaitsAtLeastRetryAfter()
    {
        var fault = "503;retry_after=1;count=1;id=" + Guid.NewGuid().ToString("N");
        using var client = new OpenAICompatibleChatClient(fixture.Options(fault) with { MaxRetries = 1 }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        Assert.Null(error);
        Assert.Equal(1, recorder.Retries);
        var tries = fixture.Server.Log.Find(null).Where(e => e.Fault == "503").ToList();
        Assert.NotEmpty(tries);
        var events = recorder.Events();
        var firstSent = events.First(e => e.Kind == StreamEventKind.RequestSent).OffsetMicroseconds;
        var secondSent = events.Last(e => e.Kind == StreamEventKind.RequestSent).OffsetMicroseconds;
        Assert.True(secondSent - firstSent >= 990_000, $"retry sent {secondSent - firstSent} µs after the first try; Retry-After asked for 1 s");
        // The serving try starts after the wait, so its TTFT does not include the back-off.
        Assert.True(events.Last(e => e.Kind == StreamEventKind.Retry).OffsetMicroseconds >= 990_000);
    }

    [Fact]
    public async Task Retry_DisconnectAfterFirstByte_IsNotRetried()
    {
        var fault = "disconnect;after=1;id=" + Guid.NewGuid().ToString("N");
        using var client = new OpenAICompatibleChatClient(fixture.Options(fault) with { MaxRetries = 3 }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        Assert.Equal("connection_reset", Assert.IsType<Spark.Eval.Core.Backends.BackendException>(error).ErrorClass);
        Assert.Equal(0, recorder.Retries);
        Assert.Single(recorder.Events(), e => e.Kind == StreamEventKind.RequestSent);
    }

    [Fact]
    public async Task Retry_RetriesExhausted_EndsAsLastStatusWithEveryRetryRecorded()
    {
        using var client = new OpenAICompatibleChatClient(fixture.Options("429;retry_after=0") with { MaxRetries = 2 }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        Assert.Equal("http_429", Assert.IsType<Spark.Eval.Core.Backends.BackendException>(error).ErrorClass);
        Assert.Equal(2, recorder.Retries);
    }

    [Fact]
    public async Task ConcurrencyCap_MoreRequestsThanSlots_NeverExceedsCapOnServer()
    {
        using var client = new ChatClientBuilder(new OpenAICompatibleChatClient(fixture.Options(), TimeProvider.System, null)).UseConcurrencyLimit(2).Build();
        var marker = "cap-" + Guid.NewGuid().ToString("N");

        var sentNs = Spark.Eval.Simulator.Server.ServerLogStore.ToNanoseconds(TimeProvider.System.GetTimestamp(), TimeProvider.System.TimestampFrequency);
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => SimServerFixture.AttemptAsync(client, marker, 40)));

        // Server-side intervals of these requests: at no moment more than 2 overlap.
        // serve-sim logs a request when its handler returns, which can be after the client read its end: wait for it (bounded).
        var spans = await ServerLogWait.AtLeastAsync(fixture.Server.Log, null, 6, TestContext.Current.CancellationToken, e => e.Events.Count > 0 && e.Status == 200 && e.ReceivedNs >= sentNs);
        Assert.True(spans.Count >= 6);
        var mine = spans.OrderBy(e => e.ReceivedNs).TakeLast(6).ToList();
        var maxOverlap = mine.Max(a => mine.Count(b => b.ReceivedNs <= a.ReceivedNs && b.EndNs >= a.ReceivedNs));
        Assert.InRange(maxOverlap, 1, 2);
    }
}

/// <summary>The circuit breaker opens after repeated failures and then fails fast without calling the server.</summary>
public sealed class CircuitBreakerTests(SimServerFixture fixture) : IClassFixture<SimServerFixture>
{
    [Fact]
    public async Task Breaker_RepeatedServerErrors_OpensAndFailsFastWithoutNewRequests()
    {
        var options = fixture.Options("500") with { BreakerMinimumThroughput = 3, BreakerFailureRatio = 0.5, BreakerBreakDuration = TimeSpan.FromSeconds(30) };
        using var client = new OpenAICompatibleChatClient(options, TimeProvider.System, null);
        var classes = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var (_, error, _) = await SimServerFixture.AttemptAsync(client);
            classes.Add(Assert.IsType<Spark.Eval.Core.Backends.BackendException>(error).ErrorClass);
        }

        Assert.Equal("http_500", classes[0]);
        Assert.Equal("circuit_open", classes[^1]);
        Assert.True(fixture.Server.Log.Find(null).Count(e => e.Fault == "500") < 6, "an open circuit sends nothing");
    }
}
