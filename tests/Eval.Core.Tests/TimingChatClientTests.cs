using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

public class TimingChatClientTests
{
    /// <summary>Yields scripted updates, advancing fake time before each: what a backend would do in real time.</summary>
    private sealed class ScriptedClient(FakeTimeProvider time, params (int DelayMs, ChatResponseUpdate Update)[] script) : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            AttemptRecorder.From(options)?.Mark(StreamEventKind.ResponseHeaders);
            foreach (var (delay, update) in script)
            {
                time.Advance(TimeSpan.FromMilliseconds(delay));
                await Task.Yield();
                yield return update;
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose() { }
    }

    [Fact]
    public async Task Streaming_StampsAndClassifiesEveryUpdate()
    {
        var time = new FakeTimeProvider();
        var inner = new ScriptedClient(time,
            (30, new ChatResponseUpdate(ChatRole.Assistant, [new TextReasoningContent("hmm")])),
            (20, new ChatResponseUpdate(ChatRole.Assistant, "")),
            (50, new ChatResponseUpdate(ChatRole.Assistant, "Hel")),
            (7, new ChatResponseUpdate(ChatRole.Assistant, "lo")),
            (0, new ChatResponseUpdate(ChatRole.Assistant, [new FunctionCallContent("c1", "f")])),
            (1, new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { OutputTokenCount = 4, InputTokenCount = 9 })])));
        var client = new ChatClientBuilder(inner).UseTiming().Build();
        var recorder = new AttemptRecorder(time);
        var options = new ChatOptions { AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = recorder } };

        var seen = 0;
        await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hi")], options, TestContext.Current.CancellationToken))
        {
            seen++;
        }

        Assert.Equal(6, seen);
        Assert.Equal("Hello", recorder.Answer);
        Assert.Equal("hmm", recorder.Reasoning);
        Assert.Equal(4, recorder.Usage!.OutputTokenCount);
        var events = recorder.Events();
        Assert.Equal(
            new[]
            {
                new StreamEvent(0, StreamEventKind.RequestStart), new StreamEvent(0, StreamEventKind.ResponseHeaders),
                new StreamEvent(30_000, StreamEventKind.Reasoning, 3), new StreamEvent(50_000, StreamEventKind.Empty),
                new StreamEvent(100_000, StreamEventKind.Content, 3), new StreamEvent(107_000, StreamEventKind.Content, 2),
                new StreamEvent(107_000, StreamEventKind.ToolCall), new StreamEvent(108_000, StreamEventKind.Usage),
                new StreamEvent(108_000, StreamEventKind.End),
            },
            events);
    }

    [Fact]
    public async Task Streaming_WithoutRecorder_PassesThrough()
    {
        var time = new FakeTimeProvider();
        var client = new TimingChatClient(new ScriptedClient(time, (1, new ChatResponseUpdate(ChatRole.Assistant, "x"))));
        var texts = new List<string>();
        await foreach (var update in client.GetStreamingResponseAsync([], null, TestContext.Current.CancellationToken))
        {
            texts.Add(update.Text);
        }

        Assert.Equal(["x"], texts);
    }

    [Fact]
    public void Events_KernelStampPrecedesEarlierUserSpaceStamp_EarlierLoweredSoRecordIsInTimeOrder()
    {
        var time = new FakeTimeProvider();
        var recorder = new AttemptRecorder(time);
        recorder.Start();
        var start = recorder.StartTimestamp;
        var ms = time.TimestampFrequency / 1000;
        // request_sent stamped in user space at 5 ms (the sending thread ran late); the reply's kernel stamp is 3 ms.
        time.Advance(TimeSpan.FromMilliseconds(5));
        recorder.Mark(StreamEventKind.RequestSent);
        recorder.MarkAt(start + (3 * ms), StreamEventKind.ResponseHeaders);
        recorder.MarkAt(start + (4 * ms), StreamEventKind.FirstByte);
        time.Advance(TimeSpan.FromMilliseconds(5));
        recorder.Mark(StreamEventKind.Content, 2);

        var events = recorder.Events();

        Assert.Equal([StreamEventKind.RequestStart, StreamEventKind.RequestSent, StreamEventKind.ResponseHeaders, StreamEventKind.FirstByte, StreamEventKind.Content],
            events.Select(e => e.Kind));
        Assert.Equal([0L, 3_000, 3_000, 4_000, 10_000], events.Select(e => e.OffsetMicroseconds));
    }

    /// <summary>A thread an inner client asks attempts to begin on (<see cref="IAttemptStartThread"/>): one dedicated thread running what is posted.</summary>
    private sealed class OneThread : IAttemptStartThread, IDisposable
    {
        private readonly System.Collections.Concurrent.BlockingCollection<Action> _work = [];
        private readonly Thread _thread;

        public OneThread()
        {
            _thread = new Thread(() =>
            {
                foreach (var action in _work.GetConsumingEnumerable())
                {
                    action();
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public int Posted { get; private set; }

        /// <summary>How long the thread is busy before it takes what was posted (another attempt's send ahead of it).</summary>
        public TimeSpan BusyFirst { get; init; }

        public bool IsCurrent => Thread.CurrentThread == _thread;

        public void Post(Action continuation)
        {
            Posted++;
            var busy = BusyFirst;
            _work.Add(busy > TimeSpan.Zero ? () => { Thread.Sleep(busy); continuation(); } : continuation);
        }

        public void Dispose() => _work.CompleteAdding();
    }

    /// <summary>An inner client that offers a start thread and says where and when it was called.</summary>
    private sealed class StartThreadClient(IAttemptStartThread? thread) : IChatClient
    {
        public bool CalledOnThread { get; private set; }

        public bool StartedBeforeCall { get; private set; }

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            CalledOnThread = thread?.IsCurrent == true;
            StartedBeforeCall = AttemptRecorder.From(options)!.Started;
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            CalledOnThread = thread?.IsCurrent == true;
            StartedBeforeCall = AttemptRecorder.From(options)!.Started;
            await Task.Yield();
            yield return new ChatResponseUpdate(ChatRole.Assistant, "ok");
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => serviceType == typeof(IAttemptStartThread) ? thread : null;

        public void Dispose() { }
    }

    [Fact]
    public async Task StartThread_OfferedByTheBackend_StartStampAndCallRunOnIt()
    {
        using var thread = new OneThread { BusyFirst = TimeSpan.FromMilliseconds(20) };
        var inner = new StartThreadClient(thread);
        var client = new ChatClientBuilder(inner).UseTiming().Build();
        var recorder = new AttemptRecorder(TimeProvider.System);
        var options = new ChatOptions { AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = recorder } };
        await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hi")], options, TestContext.Current.CancellationToken))
        {
        }

        Assert.Equal(1, thread.Posted);
        Assert.True(inner.CalledOnThread, "the backend was not called on its start thread");
        Assert.True(inner.StartedBeforeCall, "the start stamp was not taken before the backend was called");
        Assert.Equal(StreamEventKind.RequestStart, recorder.Events()[0].Kind);
        // The wait for the thread (busy 20 ms) is recorded apart, before the attempt's 0, never inside it.
        Assert.True(recorder.StartWaitMicroseconds >= 19_000, $"start wait {recorder.StartWaitMicroseconds} µs for a thread busy 20 ms");

        // The stream may have ended on the start thread itself, where a new attempt rightly starts inline without posting: off it first.
        await Task.Yield();
        var whole = new AttemptRecorder(TimeProvider.System);
        await client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = whole } }, TestContext.Current.CancellationToken);
        Assert.Equal(2, thread.Posted);
        Assert.True(inner.CalledOnThread);
        Assert.True(inner.StartedBeforeCall);
    }

    [Fact]
    public async Task StartThread_ScheduledAttempt_BeginsWhereItsDispatcherCalledIt()
    {
        using var thread = new OneThread();
        var inner = new StartThreadClient(thread);
        var client = new ChatClientBuilder(inner).UseTiming().Build();
        var recorder = new AttemptRecorder(TimeProvider.System);
        var options = new ChatOptions { AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = recorder, [Spark.Eval.Core.Backends.AttemptContext.ScheduledKey] = true } };
        await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hi")], options, TestContext.Current.CancellationToken))
        {
        }

        Assert.Equal(0, thread.Posted);
        Assert.False(inner.CalledOnThread);
        Assert.True(inner.StartedBeforeCall);
        Assert.Null(recorder.StartWaitMicroseconds);
    }

    [Fact]
    public async Task StartThread_NoneOffered_AttemptStaysOnTheCallersFlow()
    {
        var inner = new StartThreadClient(null);
        var client = new ChatClientBuilder(inner).UseTiming().Build();
        var recorder = new AttemptRecorder(TimeProvider.System);
        var options = new ChatOptions { AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = recorder } };
        await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hi")], options, TestContext.Current.CancellationToken))
        {
        }

        Assert.False(inner.CalledOnThread);
        Assert.True(inner.StartedBeforeCall);
    }
}
