using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Backends;

/// <summary>
/// The minimal built-in simulator: streams a task's reference answer one token per update, the first after a
/// constant TTFT and the rest at a constant rate, on the injected clock. Its timings are simulated by construction.
/// </summary>
public sealed class ConstantRateSimChatClient : IChatClient
{
    private readonly TimeProvider _time;
    private readonly TokenCounter _tokens;
    private readonly ConcurrentDictionary<string, IReadOnlyList<string>> _pieces = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _inputTokens = new(StringComparer.Ordinal);
    // Prompts from outside the harness (serve-sim's clients): the echoed answer and the prompt's count, for the last few
    // hundred distinct prompts. Tokenizing them took ~1 ms of CPU per request, run inline where serve-sim reads the
    // requests, so a burst of 64 queued each request's arrival behind the others' (docs/benchmarks.md, "Plain serve-sim and run").
    // Made once per prompt: requests for a prompt being made wait for it instead of making it again (a burst of 132 requests
    // of 6 prompts all missed the cache together and made 132 answers, ~50 ms of serve-sim's CPU before the first tokens were
    // due; docs/benchmarks.md, "Round 7").
    private readonly ConcurrentDictionary<string, Task<(IReadOnlyList<string> Pieces, int Input)>> _echoes = new(StringComparer.Ordinal);

    private long _answersMade;

    /// <summary>Answers to task-less prompts made so far for the cache (requests that found theirs made, or being made, add none).</summary>
    public long AnswersMade => Interlocked.Read(ref _answersMade);

    /// <summary>Distinct task-less prompts whose answers are kept; the cache starts over when it is full (no client can grow it).</summary>
    public const int EchoCacheEntries = 256;

    /// <summary>Longest prompt (characters, all messages) whose answer is cached: 256 entries then hold at most ~32 MB.</summary>
    public const int EchoCacheMaxPromptChars = 64 * 1024;

    public ConstantRateSimChatClient(TimeProvider time, TokenCounter tokens, double ttftMs, double tokensPerSecond, string modelId)
    {
        _time = time;
        _tokens = tokens;
        TtftMs = ttftMs;
        TokensPerSecond = tokensPerSecond;
        ModelId = modelId;
    }

    public double TtftMs { get; }

    public double TokensPerSecond { get; }

    public string ModelId { get; }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Without a task (a request served over HTTP by serve-sim), answer a deterministic text derived from the prompt.
        var task = AttemptContext.Task(options);
        // Counted before the clock starts, so that no tokenizer work sits between the last token and the next stream's.
        // Cached per task's prompt (an open-loop burst runs this inline on the dispatcher, before the next send), and for
        // prompts from outside the harness in a bounded cache.
        var (pieces, input) = task is not null
            ? (_pieces.GetOrAdd(task.Id, _ => _tokens.Split(task.ReferenceSolution)),
               _inputTokens.GetOrAdd(task.Id + "\u0000" + string.Join("\u0000", messages.Select(m => m.Text)), _ => CountInput(messages)))
            : await Echo(messages, options?.MaxOutputTokens ?? DefaultPromptAnswerTokens).ConfigureAwait(false);
        var limit = Math.Min(pieces.Count, options?.MaxOutputTokens ?? int.MaxValue);
        // A caller that keeps no update (the runner, serve-sim) gets one update per stream whose text changes per token: under
        // serve-sim a token's release runs on the emission clock's timer thread, where every allocation may wait for the
        // runtime's allocation lock (docs/benchmarks.md, "Round 6").
        var reuse = AttemptContext.TransientUpdates(options);
        // Made before the first wait, not when the first token is due (a burst's first tokens come due together).
        var reusedText = reuse ? new TextContent(string.Empty) : null;
        var reused = reuse ? new ChatResponseUpdate(ChatRole.Assistant, [reusedText!]) { ModelId = ModelId } : null;
        var usage = new ChatResponseUpdate
        {
            Role = ChatRole.Assistant,
            ModelId = ModelId,
            Contents = [new UsageContent(new UsageDetails { InputTokenCount = input, OutputTokenCount = limit, TotalTokenCount = input + limit })],
        };

        // From the request's arrival when the server says when that was (serve-sim), else from now.
        var start = AttemptContext.ScheduleStart(options, _time.GetTimestamp());
        var next = 0;
        while (next < limit)
        {
            // Absolute schedule from the request start, so a late wake-up does not push every later token back; each wait is
            // to a moment, not a delay, so a thread held up before it sets its timer does not push the token back either.
            var due = Timing.PreciseDelay.TimestampAfter(_time, start, Due(next));
            if (_time.GetTimestamp() < due)
            {
                await Timing.PreciseDelay.DelayUntilValueAsync(_time, due, cancellationToken);
            }

            cancellationToken.ThrowIfCancellationRequested();

            // Tokens already due when we wake go out together, as a server flushes what it has.
            var elapsed = _time.GetElapsedTime(start);
            var end = next + 1;
            while (end < limit && Due(end) <= elapsed)
            {
                end++;
            }

            var text = end == next + 1 ? pieces[next] : string.Concat(pieces.Skip(next).Take(end - next));
            next = end;
            if (reused is null)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, text) { ModelId = ModelId };
            }
            else
            {
                reusedText!.Text = text;
                yield return reused;
            }
        }

        yield return usage;
    }

    /// <summary>Answer length, in tokens, for prompts without a task when the request sets no token limit.</summary>
    public const int DefaultPromptAnswerTokens = 64;

    /// <summary>
    /// The answer to a prompt without a task: "Simulated answer NNNNNNNN:" (an FNV-1a fingerprint of the prompt) followed by
    /// the prompt's words, repeated until the text holds at least <paramref name="minTokens"/> tokens.
    /// </summary>
    public static string PromptEcho(TokenCounter tokens, IEnumerable<ChatMessage> messages, int minTokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(messages);
        var prompt = string.Join("\n", messages.Select(m => m.Text));
        var hash = 2166136261u;
        foreach (var c in prompt)
        {
            hash = (hash ^ c) * 16777619u;
        }

        var words = prompt.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var text = new System.Text.StringBuilder(string.Create(CultureInfo.InvariantCulture, $"Simulated answer {hash:x8}:"));
        var budget = Math.Clamp(minTokens, 1, 100_000);
        var i = 0;
        while (tokens.CountOnce(text.ToString()) < budget)
        {
            // Add words in batches so the token count is taken rarely.
            for (var k = 0; k < 16; k++, i++)
            {
                text.Append(' ').Append(words.Length == 0 ? "token" : words[i % words.Length]);
            }
        }

        return text.ToString();
    }

    private int CountInput(IEnumerable<ChatMessage> messages) => messages.Sum(m => _tokens.Count(m.Text));

    /// <summary>A task-less prompt's answer pieces and input count, from the bounded cache when the same prompt came before.</summary>
    private ValueTask<(IReadOnlyList<string> Pieces, int Input)> Echo(IEnumerable<ChatMessage> messages, int minTokens)
    {
        var list = messages as IReadOnlyList<ChatMessage> ?? [.. messages];
        if (list.Sum(m => (long)(m.Text?.Length ?? 0)) > EchoCacheMaxPromptChars)
        {
            // A long prompt is answered uncached: the cache's memory stays bounded in bytes, not only in entries.
            return new((_tokens.Split(PromptEcho(_tokens, list, minTokens)), CountInput(list)));
        }

        var key = minTokens.ToString(CultureInfo.InvariantCulture) + "\u0000" + string.Join("\u0000", list.Select(m => m.Text));
        if (_echoes.TryGetValue(key, out var known))
        {
            return known.IsCompletedSuccessfully ? new(known.Result) : new(known);
        }

        if (_echoes.Count >= EchoCacheEntries)
        {
            _echoes.Clear(); // requests waiting for an answer being made keep their task
        }

        // Whoever adds the promise makes the answer; a request that finds it waits (asynchronously) for it.
        var promise = new TaskCompletionSource<(IReadOnlyList<string> Pieces, int Input)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var entry = _echoes.GetOrAdd(key, promise.Task);
        if (entry != promise.Task)
        {
            return entry.IsCompletedSuccessfully ? new(entry.Result) : new(entry);
        }

        try
        {
            Interlocked.Increment(ref _answersMade);
            var made = (_tokens.Split(PromptEcho(_tokens, list, minTokens)), CountInput(list));
            promise.SetResult(made);
            return new(made);
        }
        catch (Exception ex)
        {
            _ = _echoes.TryRemove(new KeyValuePair<string, Task<(IReadOnlyList<string> Pieces, int Input)>>(key, promise.Task));
            promise.SetException(ex);
            throw;
        }
    }

    private TimeSpan Due(int token) => TimeSpan.FromSeconds((TtftMs / 1000.0) + (token / TokensPerSecond));

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose() { }
}

/// <summary>Factory for <c>sim?ttft_ms=…&amp;tokens_per_s=…</c>.</summary>
public sealed class ConstantRateSimBackendFactory(TokenCounter tokens) : IBackendFactory
{
    private static readonly string[] Keys = ["name", "ttft_ms", "tokens_per_s"];

    public string Kind => "sim";

    public string Usage => "sim?name=N&ttft_ms=150&tokens_per_s=1000 — simulated: streams each task's reference answer at a constant TTFT and rate";

    public Task<BackendHandle> CreateAsync(BackendSpec spec, BackendContext context, CancellationToken cancellationToken)
    {
        var ttft = spec.GetDouble("ttft_ms", 150, 0, 600_000);
        var tps = spec.GetDouble("tokens_per_s", 1000, 0.001, 1e7);
        spec.EnsureAllRead(Keys);
        var model = "sim-constant";
        var client = new ConstantRateSimChatClient(context.Time, tokens, ttft, tps, model);
        var description = string.Create(CultureInfo.InvariantCulture, $"SIMULATED constant rate: TTFT {ttft} ms, {tps} tokens/s, answers = task reference");
        return Task.FromResult(new BackendHandle(new BackendInfo(spec.Name, spec.Text, Kind, description, Simulated: true, model), client));
    }
}
