using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>
/// The send thread (<see cref="SendThread"/>, <c>tx_thread=on</c>, the default): the timing layer begins each attempt on it, so
/// the attempt's start stamp and the backend's send up to the socket write run back to back on one (real-time where permitted)
/// thread, and the rest of the attempt runs elsewhere. No timing is asserted.
/// </summary>
public sealed class SendThreadTests
{
    [Fact]
    public async Task Stream_TxThreadOn_StartStampAndSendRunOnTheSendThread_TheRestElsewhere()
    {
        var ct = TestContext.Current.CancellationToken;
        var (probe, recorder, description, updates) = await StreamAsync(null, ct);

        Assert.Contains("attempts begun (start stamp to request write) on one send thread, ", description, StringComparison.Ordinal);
        // The layer right below the timing layer was called on the send thread: after the start stamp, before the send.
        Assert.True(probe.CalledOnSendThread, "the attempt did not begin on the send thread");
        Assert.True(probe.StartedBeforeCall, "the start stamp was not taken before the backend was called");
        // The attempt's updates reach the caller off the send thread (it only begins attempts).
        Assert.True(probe.UpdatesOffSendThread, "an update was handed on on the send thread");
        Assert.True(updates > 0);
        var events = recorder.Events();
        Assert.Equal(StreamEventKind.RequestStart, events[0].Kind);
        Assert.Contains(events, e => e.Kind == StreamEventKind.RequestSent);
        Assert.Contains(events, e => e.Kind == StreamEventKind.Content);
        Assert.True(SendThread.Instance.Taken > 0);
    }

    [Fact]
    public async Task Stream_TxThreadOff_AttemptBeginsOnItsOwnFlowAsBefore()
    {
        var ct = TestContext.Current.CancellationToken;
        var (probe, recorder, description, updates) = await StreamAsync("off", ct);

        Assert.Contains("attempts begun (start stamp to request write) on the attempt's own thread (tx_thread=off)", description, StringComparison.Ordinal);
        Assert.False(probe.CalledOnSendThread, "tx_thread=off: the attempt began on the send thread");
        Assert.True(probe.StartedBeforeCall);
        Assert.True(updates > 0);
        Assert.Contains(recorder.Events(), e => e.Kind == StreamEventKind.RequestSent);
    }

    [Fact]
    public void FreshAllocationContext_TheSendsNextFourKilobytesNeedNoNewAllocationSpace()
    {
        // Seven 512-byte arrays (3.5 KB, the order of a send's allocation between its start stamp and its write) land side by side
        // after the call: no new allocation context began among them, so the send took no allocation lock. Without the call a run
        // of seven crosses a context's end in about 3 of 8 trials (contexts are 8 KB): ~15 of 40. With it, only a context cut
        // short (the end of a heap region, a free-list gap after a collection) may still be crossed: at most 3 of 40 are allowed
        // (chance ~1e-5 without the call). A trial with a collection inside it (which moves and restarts everything) is done again.
        var kept = new byte[7][];
        var trials = 0;
        var crossed = new List<string>();
        for (var attempt = 0; trials < 40 && attempt < 400; attempt++)
        {
            var gcs = GC.CollectionCount(0);
            SendThread.FreshAllocationContext();
            for (var i = 0; i < kept.Length; i++)
            {
                kept[i] = new byte[488];
            }

            var addresses = kept.Select(Address).ToArray();
            if (GC.CollectionCount(0) != gcs)
            {
                continue;
            }

            trials++;
            for (var i = 1; i < addresses.Length; i++)
            {
                if (addresses[i] != addresses[i - 1] + 512)
                {
                    crossed.Add($"trial {trials}: array {i} not adjacent to array {i - 1}");
                    break;
                }
            }
        }

        Assert.Equal(40, trials);
        Assert.True(crossed.Count <= 3, $"{crossed.Count} of 40 trials began a new allocation context within the send's 3.5 KB: {string.Join("; ", crossed)}");
    }

    private static nint Address(byte[] array) => Unsafe.As<byte[], nint>(ref array);

    [Fact]
    public void IsCurrent_OnAnotherRealTimeThread_False_TheAttemptIsHandedOver()
    {
        // The receive thread is real-time too; a closed loop's next attempt begun there must go to the send thread.
        bool? current = null;
        string? how = null;
        var thread = new Thread(() =>
        {
            how = Spark.Eval.Core.Native.LinuxThreadClock.RaiseToFifo(SendThread.RealTimePriority);
            if (how.StartsWith("SCHED_FIFO", StringComparison.Ordinal))
            {
                current = SendThread.Instance.IsCurrent;
            }
        });
        thread.Start();
        thread.Join();
        Assert.SkipWhen(current is null, $"this process may not raise a thread to real-time priority ({how})");
        Assert.False(current, "an attempt begun on another real-time thread would send there, inline");
    }

    [Fact]
    public void GetService_SendThreadOnlyWithTheSystemClockAndTxThreadOn()
    {
        var options = new OpenAIBackendOptions { BaseUrl = new Uri("http://127.0.0.1:1/v1"), Model = "m" };
        using (var system = new OpenAICompatibleChatClient(options, TimeProvider.System, null))
        {
            Assert.Same(SendThread.Instance, system.GetService(typeof(IAttemptStartThread)));
            Assert.True(system.SendsFromSendThread);
        }

        using (var off = new OpenAICompatibleChatClient(options with { SendThread = false }, TimeProvider.System, null))
        {
            Assert.Null(off.GetService(typeof(IAttemptStartThread)));
        }

        // A test's virtual clock: attempts stay on the caller's flow, which drives the clock.
        using var fake = new OpenAICompatibleChatClient(options, new FakeTimeProvider(), null);
        Assert.Null(fake.GetService(typeof(IAttemptStartThread)));
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("on", true)]
    [InlineData("off", false)]
    [InlineData("0", false)]
    public void ParseOptions_TxThread(string? value, bool expected)
    {
        var spec = "openai?url=http://127.0.0.1:1/v1&model=m" + (value is null ? "" : "&tx_thread=" + value);
        Assert.Equal(expected, OpenAIBackendFactory.ParseOptions(BackendSpec.Parse(spec)).SendThread);
    }

    [Fact]
    public void ParseOptions_TxThreadNotOnOrOff_SaysTheFix()
    {
        var ex = Assert.Throws<InputException>(() => OpenAIBackendFactory.ParseOptions(BackendSpec.Parse("openai?url=http://127.0.0.1:1/v1&model=m&tx_thread=fast")));
        Assert.Contains("tx_thread=fast is not on or off. Fix: write tx_thread=on", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_RunsInOrderOnTheThread()
    {
        var ct = TestContext.Current.CancellationToken;
        var seen = new List<(int Index, bool OnThread)>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (var i = 0; i < 5; i++)
        {
            var index = i;
            SendThread.Instance.Post(() =>
            {
                seen.Add((index, SendThread.Instance.IsOnSendThread));
                if (index == 4)
                {
                    done.SetResult();
                }
            });
        }

        await done.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        Assert.Equal([0, 1, 2, 3, 4], seen.Select(s => s.Index));
        Assert.All(seen, s => Assert.True(s.OnThread));
        Assert.False(SendThread.Instance.IsOnSendThread);
        // The test's thread is at normal priority: an attempt begun here is handed over.
        Assert.False(SendThread.Instance.IsCurrent);
    }

    private static async Task<(Probe Probe, AttemptRecorder Recorder, string Description, int Updates)> StreamAsync(string? txThread, CancellationToken ct)
    {
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 5, 1000, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var context = new BackendContext(TimeProvider.System, Environment.CurrentDirectory, _ => { });
        var spec = $"openai?url={server.BaseAddress}&model=m&retries=0" + (txThread is null ? "" : "&tx_thread=" + txThread);
        await using var backend = await new OpenAIBackendFactory().CreateAsync(BackendSpec.Parse(spec), context, ct);
        var recorder = new AttemptRecorder(TimeProvider.System);
        var probe = new Probe(backend.Client, recorder);
        var pipeline = new ChatClientBuilder(probe).UseTiming().Build();
        var options = new ChatOptions { MaxOutputTokens = 4, AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder } };
        var updates = 0;
        await foreach (var update in pipeline.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Write a function that adds two numbers.")], options, ct))
        {
            updates++;
        }

        return (probe, recorder, backend.Info.Description, updates);
    }

    /// <summary>A layer between the timing layer and the backend: where and when the backend was called, where its updates went on.</summary>
    private sealed class Probe(IChatClient inner, AttemptRecorder recorder) : DelegatingChatClient(inner)
    {
        public bool CalledOnSendThread { get; private set; }

        public bool StartedBeforeCall { get; private set; }

        public bool UpdatesOffSendThread { get; private set; } = true;

        public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            CalledOnSendThread = SendThread.Instance.IsOnSendThread;
            StartedBeforeCall = recorder.Started;
            await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken))
            {
                UpdatesOffSendThread &= !SendThread.Instance.IsOnSendThread;
                yield return update;
            }
        }
    }
}
