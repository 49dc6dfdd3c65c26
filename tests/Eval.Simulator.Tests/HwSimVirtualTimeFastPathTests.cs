using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Backend;
using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Tests;

/// <summary>
/// The fast paths of sessions in virtual time (docs/benchmarks.md, "Developer sessions in virtual time") record what the plain
/// path records, byte for byte: hwsim handing its texts straight to the timing layer (<see cref="ITextStreamSource"/>), one reused
/// update for a caller that keeps none, and the updates taken where they are yielded instead of posted through the loop's queue.
/// </summary>
public class HwSimVirtualTimeFastPathTests
{
    private static readonly BenchTask[] Tasks = [.. Enumerable.Range(0, 4).Select(i => new BenchTask
    {
        Id = $"py-{i}",
        Kind = i % 2 == 0 ? TaskKind.Stub : TaskKind.Fix,
        Language = "python",
        // Prompts of different lengths: different times to the first token, on either side of the policy's timeout.
        Prompt = $"Write add{i}(a, b) and explain it." + string.Concat(Enumerable.Repeat(" Keep the style of the module around it.", 40 * i)),
        HiddenChecks = "assert True",
        ReferenceSolution = $"def add{i}(a, b):\n    return a + b\n",
        Mutants = [$"def add{i}(a, b):\n    return a - b\n"],
        Difficulty = 3,
    })];

    private static HwSimChatClient Fast(TimeProvider time) =>
        new(time, TokenCounter.Default, new LatencyModel(TestProfiles.Gpu(requestMs: 4), TestProfiles.Dense(0.5), TestProfiles.Bf16, 1));

    private static HwSimChatClient Deep(TimeProvider time) =>
        new(time, TokenCounter.Default, new LatencyModel(TestProfiles.Gpu(tflops: 40, gbps: 400, requestMs: 8), TestProfiles.Dense(0.9), TestProfiles.Bf16, 1));

    /// <summary>
    /// The plain path: an update per token, fresh each time (the transient-updates promise is not passed on), each one handed
    /// on through the loop's queue (the continuation captures the context, as the timing layer and the runner did before).
    /// </summary>
    private sealed class PostingHop(IChatClient inner) : DelegatingChatClient(inner)
    {
        public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var plain = options?.Clone();
            plain?.AdditionalProperties?.Remove(AttemptContext.TransientUpdatesKey);
            await foreach (var update in base.GetStreamingResponseAsync(messages, plain, cancellationToken))
            {
                yield return update;
            }
        }
    }

    /// <summary>Starts on fast with a first-token timeout that some of its answers miss, escalating to deep (the path with a first-token timer).</summary>
    private sealed class FastWithTimeout(TimeSpan timeout) : IRoutingPolicy
    {
        public string Name => "fast-timeout";
        public IReadOnlyList<string> Backends => ["fast", "deep"];
        public (string Backend, string Reason) Choose(RouteRequest request) => ("fast", "start");
        public string? Escalate(RouteRequest request, string current, EscalationCause cause) => current == "fast" ? "deep" : null;
        public TimeSpan? FirstTokenTimeout(string backend) => backend == "fast" ? timeout : null;
    }

    private static List<AttemptRecord> RunSessions(bool plainPath, TimeSpan firstTokenTimeout)
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        IChatClient Pipeline(IChatClient backend) => plainPath
            ? new PostingHop(new ChatClientBuilder(new PostingHop(backend)).UseTiming().Build())
            : new ChatClientBuilder(backend).UseTiming().Build();
        RunBackend Backend(string name, IChatClient client) => new(new BackendInfo(name, $"hwsim?name={name}", "hwsim", "test", Simulated: true), Pipeline(client));
        var plan = new RunPlanSpec
        {
            SuitePath = "test",
            BackendSpecs = ["hwsim?name=fast", "hwsim?name=deep"],
            Seed = 11,
            Load = BackendLoad.Interleaved,
            Sessions = new SessionPlanSpec { Count = 6, LengthSeconds = 1800 },
        };
        var records = new List<AttemptRecord>();
        var path = Path.Combine(Directory.CreateTempSubdirectory("spark-fastpath").FullName, AttemptLog.FileName);
        using (var log = new AttemptLog(path, collectInto: records, writeBehind: !plainPath))
        {
            var runner = new SessionRunner(clock, TokenCounter.Default);
            var result = VirtualTimeLoop.Run(clock, () => runner.RunAsync(plan, new SessionSetup(ThinkTimeModel.Defaults, new FastWithTimeout(firstTokenTimeout), clock), Tasks,
                [Backend("fast", Fast(clock)), Backend("deep", Deep(clock))], null, log, [], 0, 0, null, CancellationToken.None));
            Assert.Equal("completed", result.Status);
        }

        // What the log wrote is what it collected, line for line (the write-behind thread keeps the order).
        Assert.Equal(records.Select(r => Convert.ToBase64String(AttemptLog.Line(r))), File.ReadAllLines(path).Select(l => Convert.ToBase64String([.. System.Text.Encoding.UTF8.GetBytes(l), (byte)'\n'])));
        return records;
    }

    [Fact]
    public void Sessions_FastPathsAgainstThePlainPath_ByteIdenticalAttemptsInTheSameOrder()
    {
        // A first-token timeout between the shortest and the longest prompt's: fast misses it on some tasks (cancelled mid-wait, asked
        // again on deep), makes it on others.
        var fastAlone = Fast(new VirtualTimeProvider(DateTimeOffset.UnixEpoch));
        var ttfts = Tasks.Select(t => fastAlone.TimeToFirstTokenSeconds(fastAlone.CountInputTokens(PromptBuilder.Build(t)))).ToList();
        var timeout = TimeSpan.FromSeconds((ttfts.Min() + ttfts.Max()) / 2);

        var plain = RunSessions(plainPath: true, timeout);
        var fast = RunSessions(plainPath: false, timeout);

        Assert.True(plain.Count > 100, $"{plain.Count} interactions");
        Assert.Contains(plain, r => r.Outcome.ErrorClass == "ttft_timeout");
        Assert.Contains(plain, r => r.Outcome.Status == AttemptStatus.Ok && r.Session!.Policy is not null && r.Slot.Backend == "fast");
        Assert.Equal(plain.Count, fast.Count);
        for (var i = 0; i < plain.Count; i++)
        {
            Assert.Equal(System.Text.Encoding.UTF8.GetString(AttemptLog.Line(plain[i])), System.Text.Encoding.UTF8.GetString(AttemptLog.Line(fast[i])));
        }
    }

    private static ChatOptions Options(AttemptRecorder recorder, int seed, bool unread, bool transient)
    {
        var options = new ChatOptions
        {
            AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = recorder, [AttemptContext.TaskKey] = Tasks[seed % Tasks.Length], [AttemptContext.SeedKey] = seed },
        };
        options.AdditionalProperties[AttemptContext.UnreadUpdatesKey] = unread;
        options.AdditionalProperties[AttemptContext.TransientUpdatesKey] = transient;
        return options;
    }

    /// <summary>Eight streams at once through the timing layer, started 3 ms apart (so that the batch changes under each), on the virtual clock.</summary>
    private static List<(AttemptRecorder Recorder, List<ChatResponseUpdate> Seen, List<string> Texts)> Stream(bool unread, bool transient)
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var client = new ChatClientBuilder(Fast(clock)).UseTiming().Build();
        var streams = Enumerable.Range(0, 8).Select(_ => (Recorder: new AttemptRecorder(clock), Seen: new List<ChatResponseUpdate>(), Texts: new List<string>())).ToList();
        VirtualTimeLoop.Run(clock, async () =>
        {
            await Task.WhenAll(streams.Select(async (s, i) =>
            {
                await Task.Delay(TimeSpan.FromMilliseconds(3 * i), clock);
                await foreach (var update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, Tasks[i % Tasks.Length].Prompt)], Options(s.Recorder, i, unread, transient)))
                {
                    s.Seen.Add(update);
                    s.Texts.Add(update.Text);
                }
            }));
            return 0;
        });
        return streams;
    }

    [Fact]
    public void TimingOverHwSim_TextsHandedStraightToTheRecorder_SameEventsAnswerAndModelAsAnUpdatePerToken()
    {
        var plain = Stream(unread: false, transient: false);
        var direct = Stream(unread: true, transient: false);

        for (var i = 0; i < plain.Count; i++)
        {
            Assert.True(plain[i].Recorder.Events().Count > 10, $"stream {i}: {plain[i].Recorder.Events().Count} events");
            Assert.Equal(plain[i].Recorder.Events(), direct[i].Recorder.Events());
            Assert.Equal(plain[i].Recorder.Answer, direct[i].Recorder.Answer);
            Assert.Equal(plain[i].Recorder.ModelId, direct[i].Recorder.ModelId);
            Assert.Equal(plain[i].Recorder.Usage!.OutputTokenCount, direct[i].Recorder.Usage!.OutputTokenCount);
            // The fast path was taken: the caller saw the usage update alone, no text.
            var seen = Assert.Single(direct[i].Seen);
            Assert.IsType<UsageContent>(Assert.Single(seen.Contents));
        }
    }

    [Fact]
    public void HwSim_CallerKeepsNoUpdate_OneUpdateReusedWithTheSameTextsAtTheSameMoments()
    {
        var plain = Stream(unread: false, transient: false);
        var reused = Stream(unread: false, transient: true);

        for (var i = 0; i < plain.Count; i++)
        {
            Assert.Equal(plain[i].Texts, reused[i].Texts);
            Assert.Equal(plain[i].Recorder.Events(), reused[i].Recorder.Events());
            // Every text update is the one instance (the last update is the usage); without the promise every update is new.
            var texts = reused[i].Seen.Take(reused[i].Seen.Count - 1).ToList();
            Assert.True(texts.Count > 10);
            Assert.All(texts, u => Assert.Same(texts[0], u));
            Assert.Equal(plain[i].Seen.Count, plain[i].Seen.Distinct().Count());
        }
    }

    [Fact]
    public void HwSim_GetResponseWithTheTransientPromise_KeepsEveryToken()
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var hwsim = Fast(clock);
        var recorder = new AttemptRecorder(clock);
        var expected = VirtualTimeLoop.Run(clock, () => hwsim.GetResponseAsync([new ChatMessage(ChatRole.User, Tasks[0].Prompt)], Options(recorder, 0, unread: false, transient: false)));
        var collected = VirtualTimeLoop.Run(clock, () => hwsim.GetResponseAsync([new ChatMessage(ChatRole.User, Tasks[0].Prompt)], Options(recorder, 0, unread: true, transient: true)));

        Assert.True(expected.Text.Length > 200, expected.Text);
        Assert.Equal(expected.Text, collected.Text);
    }
}
