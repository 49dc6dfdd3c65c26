using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Backend;

/// <summary>
/// A simulated backend driven by the hardware latency model: answers a bench task with its reference or a mutant
/// (<see cref="SimulatedQuality"/>), a judge prompt with a verdict (<see cref="SimulatedJudge"/>) and any other prompt
/// (a request over HTTP, e.g. through serve-sim) with a simulated text of <c>max_tokens</c> tokens, and streams it token by
/// token on the injected clock. Every request this client streams shares one simulated engine (<see cref="HwSimEngine"/>):
/// continuous batching with the load simulator's steps, so a prompt that arrives while others decode queues behind the step
/// in progress and its prefill slows theirs. A lone request's first token comes after RTT + request overhead +
/// prefill(prompt tokens), each later one after a decode step at the batch the engine runs. Every
/// timing it produces is simulated.
/// </summary>
public sealed class HwSimChatClient : IChatClient, ITextStreamSource
{
    /// <summary>Answer length, in tokens, for a prompt without a task when the request sets no token limit (as the <c>sim</c> backend).</summary>
    public const int DefaultPromptAnswerTokens = ConstantRateSimChatClient.DefaultPromptAnswerTokens;

    private readonly TimeProvider _time;
    private readonly TokenCounter _tokens;
    private readonly ConcurrentDictionary<string, IReadOnlyList<string>> _pieces = new(StringComparer.Ordinal);

    private readonly IReadOnlyList<string> _filler;

    // The replicas' engines, made when the balancer first needs one: an idle replica and a new one serve alike, so memory
    // follows the requests ever in flight at once, not replicas=N (up to 100,000, each engine a few tens of KB of slots).
    private readonly List<HwSimEngine> _engines = [];
    private readonly Lock _route = new();

    // Captured when the client is made, outside any request: an engine made later, inside a request's flow, must not run its
    // loop on that request's context (serve-sim keeps each request's timer slot in an AsyncLocal that ends with it).
    private readonly ExecutionContext? _root = ExecutionContext.Capture();

    /// <summary>
    /// A client for <paramref name="replicas"/> identical servers of <paramref name="latency"/>'s hardware and model behind one
    /// load balancer: each request goes to the replica with the fewest requests in flight (the first of those tied), and
    /// shares that replica's engine with the others there. One replica per developer is each developer's own device.
    /// </summary>
    public HwSimChatClient(TimeProvider time, TokenCounter tokens, LatencyModel latency, double extraRttMs = 0, int replicas = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        ArgumentNullException.ThrowIfNull(latency);
        _time = time;
        _tokens = tokens;
        Latency = latency;
        ExtraRttMs = extraRttMs;
        ModelId = $"{latency.Model.Id}@{latency.Hardware.Id} (simulated)";
        _filler = tokens.Split(SimulatedAnswerLength.Filler);
        Replicas = replicas;
    }

    /// <summary>Identical servers behind this client's load balancer, each with its own engine.</summary>
    public int Replicas { get; }

    // Join the shortest queue: the replica with the fewest requests in flight, the first of those tied (an idle one made
    // when every replica made so far is busy and fewer than Replicas exist).
    private HwSimEngine Route()
    {
        lock (_route)
        {
            HwSimEngine? best = null;
            foreach (var engine in _engines)
            {
                if (best is null || engine.InFlight < best.InFlight)
                {
                    best = engine;
                }

                if (best.InFlight == 0)
                {
                    return best;
                }
            }

            if (best is null || _engines.Count < Replicas)
            {
                best = new HwSimEngine(_time, Latency, _root);
                _engines.Add(best);
            }

            return best;
        }
    }

    public LatencyModel Latency { get; }

    /// <summary>Network round trip added on top of the hardware profile's, ms.</summary>
    public double ExtraRttMs { get; }

    public string ModelId { get; }

    /// <summary>Half the round trip, profile's and extra: from the client to the engine, and from a step's end to the client.</summary>
    private double HalfRoundTripSeconds => (Latency.Hardware.NetworkRttMs + ExtraRttMs) / 2000.0;

    /// <summary>Seconds to the first token for a lone prompt of <paramref name="inputTokens"/> tokens: RTT + request overhead + prefill.</summary>
    public double TimeToFirstTokenSeconds(int inputTokens) => Latency.UnloadedTtftSeconds(inputTokens) + (ExtraRttMs / 1000.0);

    // Collecting keeps every update: never the reused one.
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await StreamAsync(messages, options, reuse: false, onText: null, cancellationToken).ToChatResponseAsync(cancellationToken);

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        StreamAsync(messages, options, AttemptContext.TransientUpdates(options), onText: null, cancellationToken);

    /// <summary>The stream with each token's text handed to <paramref name="onText"/> when it is due, only the usage update yielded (the timing layer's fast path).</summary>
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, Action<string, string?> onText,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onText);
        return StreamAsync(messages, options, reuse: false, onText, cancellationToken);
    }

    /// <summary>
    /// The stream; with <paramref name="reuse"/> (a caller that keeps no update, <see cref="AttemptContext.TransientUpdatesKey"/>) the
    /// tokens come in one update instance whose text changes per token, with <paramref name="onText"/> as texts handed over instead
    /// of updates: either way the same texts at the same moments as new updates.
    /// </summary>
    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options, bool reuse, Action<string, string?>? onText, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var answer = Choose(messages, options);
        // Prompt answers are not cached: arbitrary prompts over HTTP would grow the cache without bound.
        var pieces = answer.IsPromptAnswer ? _tokens.Split(answer.Text)
            : SimulatedAnswerLength.Pieces(_pieces.GetOrAdd(answer.Text, _tokens.Split), _filler, answer.TargetTokens, answer.MaxPaddingTokens);
        var limit = Math.Min(pieces.Count, options?.MaxOutputTokens ?? (answer.IsPromptAnswer ? DefaultPromptAnswerTokens : int.MaxValue));
        // Counted before the clock starts, so that no tokenizer work sits between the request start and the schedule.
        var input = CountInputTokens(messages);

        ChatResponseUpdate? reused = null;
        TextContent? reusedText = null;

        var start = AttemptContext.ScheduleStart(options, _time.GetTimestamp());
        if (limit > 0)
        {
            // The request reaches the engine after the request overhead and half the round trip; each token reaches the
            // client half a round trip after the step that produced it.
            var halfTrip = TimeSpan.FromSeconds(HalfRoundTripSeconds);
            var join = PreciseDelay.TimestampAfter(_time, start, TimeSpan.FromSeconds(Latency.RequestOverheadSeconds) + halfTrip);
            var engine = Route();
            var sequence = engine.Submit(input, limit, join);
            var watch = sequence.Watch(cancellationToken);
            try
            {
                var next = 0;
                while (next < limit)
                {
                    var (produced, at) = await sequence.NextAsync(next);
                    // Visible half a round trip after the step's end, on this stream's own timer (the engine hands the tokens
                    // out when it forms the step). Waited for even when already past: a clock that logs due times (serve-sim's
                    // emission clock) records the moment as the chunk's due time.
                    await PreciseDelay.DelayUntilValueAsync(_time, PreciseDelay.TimestampAfter(_time, at, halfTrip), cancellationToken);
                    cancellationToken.ThrowIfCancellationRequested();

                    // Tokens the engine produced since the last read go out together, as a server flushes what it has.
                    var end = Math.Min(produced, limit);
                    var text = end == next + 1 ? pieces[next] : string.Concat(pieces.Skip(next).Take(end - next));
                    next = end;
                    if (onText is not null)
                    {
                        onText(text, ModelId);
                    }
                    else if (!reuse)
                    {
                        yield return new ChatResponseUpdate(ChatRole.Assistant, text) { ModelId = ModelId };
                    }
                    else if (reused is null)
                    {
                        reusedText = new TextContent(text);
                        reused = new ChatResponseUpdate(ChatRole.Assistant, [reusedText]) { ModelId = ModelId };
                        yield return reused;
                    }
                    else
                    {
                        reusedText!.Text = text;
                        yield return reused;
                    }
                }
            }
            finally
            {
                watch.Dispose();
                engine.Leave(sequence);
            }
        }

        yield return new ChatResponseUpdate
        {
            Role = ChatRole.Assistant,
            ModelId = ModelId,
            Contents = [new UsageContent(new UsageDetails { InputTokenCount = input, OutputTokenCount = limit, TotalTokenCount = input + limit })],
            AdditionalProperties = new() { ["spark.simulated.answer"] = answer.Label },
        };
    }

    /// <summary>Prompt tokens of a request, counted with the client tokenizer over every message.</summary>
    public int CountInputTokens(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var input = 0;
        foreach (var message in messages)
        {
            input += _tokens.Count(message.Text);
        }

        return input;
    }

    /// <summary>
    /// The answer: a judge prompt gets a verdict, a bench task (from <see cref="AttemptContext"/>) its reference or a
    /// mutant, and any other prompt the <c>sim</c> backend's text ("Simulated answer NNNNNNNN: …", at least max_tokens tokens).
    /// </summary>
    internal SimulatedAnswer Choose(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        // A judge prompt (docs/grading.md) is answered by the simulated judge, also over HTTP where no task travels.
        if (SimulatedJudge.TryAnswer(messages, Latency.Model.Capability, AttemptContext.Seed(options), Latency.Model.Id, out var verdict))
        {
            return new SimulatedAnswer(verdict, true, null) { IsJudgeVerdict = true };
        }

        return AttemptContext.Task(options) is { } task
            ? SimulatedQuality.Choose(task, Latency.Model.Capability, AttemptContext.AnswerSeed(options) ?? AttemptContext.Seed(options), Latency.Model.Id, RepairTurn(messages))
            : new SimulatedAnswer(ConstantRateSimChatClient.PromptEcho(_tokens, messages, options?.MaxOutputTokens ?? DefaultPromptAnswerTokens), false, null) { IsPromptAnswer = true };
    }

    /// <summary>The turn of a task's conversation: 0 for the first ask, one more for each later user message (a repair turn).</summary>
    internal static int RepairTurn(IEnumerable<ChatMessage> messages) => Math.Max(0, messages.Count(m => m.Role == ChatRole.User) - 1);

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose() { }
}
