using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

/// <summary>
/// What every backend promises through the timing layer (<c>new ChatClientBuilder(client).UseTiming().Build()</c>), as the
/// runner uses it: streaming order, usage, cancellation, classified failures, transport marks. Subclassed once per backend
/// with one factory override (the pattern of MEAI's ChatClientIntegrationTests). This file lives with the Core tests (the
/// contract is Core's) and is linked into the Simulator, Local and Remote test projects, whose subclasses sit next to their
/// own fixtures.
/// </summary>
public abstract class BackendContractTests
{
    protected static readonly ChatMessage[] Prompt =
    [
        new(ChatRole.System, "You are a coding assistant."),
        new(ChatRole.User, "Write a Python function that adds two numbers."),
    ];

    /// <summary>A fresh client for one test; the test disposes it.</summary>
    protected abstract IChatClient CreateClient();

    /// <summary>The transport moments the backend stamps on the recorder before its first content (none for in-process backends).</summary>
    protected virtual IReadOnlyList<StreamEventKind> TransportMarks => [];

    /// <summary>Clients and prompts that fail (unreachable server, timeout, prompt too long), each with the error class expected; none where the backend cannot fail that way.</summary>
    protected virtual IEnumerable<BackendFailure> CreateFailures() => [];

    /// <summary>An answer length that takes well over a second to stream, so a cancellation can be seen to cut it short.</summary>
    protected virtual int LongAnswerTokens => 2000;

    private static ChatOptions Options(AttemptRecorder recorder, int maxTokens) => new()
    {
        MaxOutputTokens = maxTokens,
        Temperature = 0,
        AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder },
    };

    private async Task<(AttemptRecorder Recorder, List<ChatResponseUpdate> Updates, TimeSpan Wall)> StreamAsync(int maxTokens = 16)
    {
        using var pipeline = new ChatClientBuilder(CreateClient()).UseTiming().Build();
        var recorder = new AttemptRecorder(TimeProvider.System);
        var updates = new List<ChatResponseUpdate>();
        var started = TimeProvider.System.GetTimestamp();
        await foreach (var update in pipeline.GetStreamingResponseAsync(Prompt, Options(recorder, maxTokens), TestContext.Current.CancellationToken))
        {
            updates.Add(update);
        }

        return (recorder, updates, TimeProvider.System.GetElapsedTime(started));
    }

    [Fact]
    public async Task Stream_ThroughTiming_EventsMonotonicFromRequestStartToEnd()
    {
        var (recorder, updates, wall) = await StreamAsync();

        var events = recorder.Events();
        Assert.Equal(StreamEventKind.RequestStart, events[0].Kind);
        Assert.Equal(0, events[0].OffsetMicroseconds);
        Assert.Equal(StreamEventKind.End, events[^1].Kind);
        Assert.Single(events, e => e.Kind == StreamEventKind.End);
        for (var i = 1; i < events.Count; i++)
        {
            Assert.True(events[i].OffsetMicroseconds >= events[i - 1].OffsetMicroseconds, $"event {i} ({events[i].Kind}) is earlier than event {i - 1}");
        }

        var firstContent = events.First(e => e.Kind == StreamEventKind.Content);
        Assert.True(firstContent.OffsetMicroseconds > 0, "the first content cannot arrive at the very moment of the request");
        Assert.True(events[^1].OffsetMicroseconds <= (long)(wall.TotalMilliseconds * 1000) + 1000, "the recorded stream outlasts the wall clock");

        var text = string.Concat(updates.Select(u => u.Text));
        Assert.NotEmpty(text);
        Assert.Equal(text, recorder.Answer);
        Assert.Equal(text.Length, events.Where(e => e.Kind == StreamEventKind.Content).Sum(e => e.Characters));
    }

    [Fact]
    public async Task Stream_ThroughTiming_ReportsUsageWithTokenCounts()
    {
        var (recorder, _, _) = await StreamAsync(maxTokens: 16);

        var usage = Assert.IsType<UsageDetails>(recorder.Usage);
        Assert.True(usage.InputTokenCount > 0, "input tokens missing");
        Assert.InRange(usage.OutputTokenCount ?? 0, 1, 16);
        Assert.Contains(recorder.Events(), e => e.Kind == StreamEventKind.Usage);
    }

    [Fact]
    public async Task Stream_TransportMarks_StampedBeforeFirstContent()
    {
        var (recorder, _, _) = await StreamAsync();

        var events = recorder.Events().ToList();
        var firstContent = events.FindIndex(e => e.Kind == StreamEventKind.Content);
        foreach (var mark in TransportMarks)
        {
            var at = events.FindIndex(e => e.Kind == mark);
            Assert.True(at > 0 && at < firstContent, $"{mark} missing or not before the first content: {string.Join(", ", events.Select(e => e.Kind))}");
        }

        // Nothing but transport marks between the request start and the first content.
        Assert.All(events.Take(firstContent).Skip(1), e => Assert.True(TransportMarks.Contains(e.Kind) || e.Kind is StreamEventKind.Empty, $"unexpected {e.Kind} before the first content"));
    }

    [Fact]
    public async Task Cancel_AfterFirstContent_EndsPromptlyAsCancelled()
    {
        using var pipeline = new ChatClientBuilder(CreateClient()).UseTiming().Build();
        var recorder = new AttemptRecorder(TimeProvider.System);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var contents = 0;
        long cancelledAt = 0;

        var error = await Record.ExceptionAsync(async () =>
        {
            await foreach (var update in pipeline.GetStreamingResponseAsync(Prompt, Options(recorder, LongAnswerTokens), cts.Token))
            {
                if (update.Text.Length > 0 && contents++ == 0)
                {
                    cancelledAt = TimeProvider.System.GetTimestamp();
                    await cts.CancelAsync();
                }
            }
        });

        Assert.IsAssignableFrom<OperationCanceledException>(error);
        var ended = TimeProvider.System.GetElapsedTime(cancelledAt);
        Assert.True(cancelledAt != 0 && ended < TimeSpan.FromSeconds(2), $"cancellation took {ended.TotalMilliseconds:0} ms");
        Assert.InRange(contents, 1, LongAnswerTokens / 4);
        Assert.Equal(StreamEventKind.End, recorder.Events()[^1].Kind);
    }

    [Fact]
    public async Task Failure_EndsAsClassifiedBackendExceptionInTime()
    {
        var failures = CreateFailures().ToList();
        if (failures.Count == 0)
        {
            Assert.Skip("this backend has no failure mode to provoke (in-process and deterministic)");
        }

        foreach (var failing in failures)
        {
            using var pipeline = new ChatClientBuilder(failing.Client).UseTiming().Build();
            var recorder = new AttemptRecorder(TimeProvider.System);
            var started = TimeProvider.System.GetTimestamp();

            var error = await Record.ExceptionAsync(async () =>
            {
                await foreach (var _ in pipeline.GetStreamingResponseAsync(failing.Prompt, Options(recorder, 16), TestContext.Current.CancellationToken))
                {
                }
            });

            var backend = Assert.IsType<BackendException>(error);
            Assert.Equal(failing.ErrorClass, backend.ErrorClass);
            Assert.Equal(failing.ErrorClass, ErrorClassifier.Classify(backend));
            var took = TimeProvider.System.GetElapsedTime(started);
            Assert.True(took < TimeSpan.FromSeconds(10), $"{failing.ErrorClass} took {took.TotalSeconds:0.0} s");
            Assert.Equal(StreamEventKind.End, recorder.Events()[^1].Kind);
        }
    }
}

/// <summary>A provoked backend failure: the client to call, the prompt to send, the error class it must end with.</summary>
public sealed record BackendFailure(IChatClient Client, ChatMessage[] Prompt, string ErrorClass);
