using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Running;

/// <summary>A backend as the runner uses it: its description and its full pipeline (timing layer included).</summary>
public sealed record RunBackend(BackendInfo Info, IChatClient Client);

/// <summary>One planned slot with its task and, in open loop, its scheduled send time (µs from the run's start); a trace replay also caps its answer length.</summary>
public sealed record PlannedSlot(SlotKey Key, BenchTask Task, int BackendIndex, long? ScheduledUs, int? MaxTokens = null);

/// <summary>How a call to the runner ended.</summary>
public sealed record RunResult(int Attempts, string Status);

/// <summary>
/// Replays planned slots against backends in closed loop (N workers) or open loop (a seeded arrival schedule),
/// appending every attempt, failed or not, to the attempt log as soon as it ends.
/// </summary>
public sealed class BenchmarkRunner(TimeProvider time, TokenCounter tokens)
{
    private readonly ConcurrentDictionary<string, (IReadOnlyList<ChatMessage> Messages, int Tokens)> _prompts = new(StringComparer.Ordinal);

    /// <summary>Every slot the plan defines, backend by backend, warm-ups first, in a deterministic order (materialised; see <see cref="EnumerateSlots"/>).</summary>
    public static IReadOnlyList<PlannedSlot> PlanSlots(RunPlanSpec plan, IReadOnlyList<BenchTask> tasks, IReadOnlyList<string> backends, Traces.RequestTrace? trace = null) =>
        [.. EnumerateSlots(plan, tasks, backends, trace)];

    /// <summary>
    /// Every slot the plan defines, generated as it is read (a large plan is never held in memory as slots): per backend, its
    /// warm-ups, then tasks × repeats (or, replaying a trace, the trace's requests); in open loop each backend's measured slots carry its own seeded schedule at the plan's rate.
    /// </summary>
    public static IEnumerable<PlannedSlot> EnumerateSlots(RunPlanSpec plan, IReadOnlyList<BenchTask> tasks, IReadOnlyList<string> backends, Traces.RequestTrace? trace = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(backends);
        for (var b = 0; b < backends.Count; b++)
        {
            foreach (var slot in BackendSlots(plan, tasks, backends[b], b, trace))
            {
                yield return slot;
            }
        }
    }

    private static IEnumerable<PlannedSlot> BackendSlots(RunPlanSpec plan, IReadOnlyList<BenchTask> tasks, string backend, int index, Traces.RequestTrace? trace)
    {
        for (var w = 0; w < plan.Warmup && tasks.Count > 0; w++)
        {
            var task = tasks[w % tasks.Count];
            yield return new PlannedSlot(new SlotKey(task.Id, backend, w, Warmup: true), task, index, null);
        }

        if (plan.Trace is not null)
        {
            var replay = trace ?? throw new ArgumentException("the plan replays a trace: pass it (TraceReplay.Load)", nameof(trace));
            foreach (var slot in Traces.TraceSchedule.Slots(replay, tasks, [backend]))
            {
                yield return slot with { BackendIndex = index };
            }

            yield break;
        }

        var offsets = plan.Rate is { } rate ? ArrivalSchedule.Compute(tasks.Count * plan.Repeats, rate, plan.Arrival, plan.Burstiness, plan.Seed) : null;
        var i = 0;
        for (var r = 0; r < plan.Repeats; r++)
        {
            foreach (var task in tasks)
            {
                yield return new PlannedSlot(new SlotKey(task.Id, backend, r), task, index, offsets?[i]);
                i++;
            }
        }
    }

    /// <summary>
    /// Runs every planned slot not in <paramref name="completed"/>. Each backend has its own load: its warm-ups, then its
    /// closed loop of <see cref="RunPlanSpec.Concurrency"/> workers or its open-loop schedule; backends run one after another
    /// (<see cref="BackendLoad.Sequential"/>) or side by side. Times are stamped relative to this call's start plus
    /// <paramref name="baseOffsetUs"/> (a resume continues after the previous session's last event).
    /// </summary>
    public async Task<RunResult> RunAsync(
        RunPlanSpec plan,
        IEnumerable<PlannedSlot> slots,
        IReadOnlyList<RunBackend> backends,
        AttemptLog log,
        IReadOnlySet<SlotKey> completed,
        long firstSequence,
        long baseOffsetUs,
        Action<AttemptRecord>? onAttempt,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(slots);
        ArgumentNullException.ThrowIfNull(backends);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(completed);
        using var duration = plan.DurationSeconds is { } d
            ? new CancellationTokenSource(TimeSpan.FromSeconds(d), time)
            : new CancellationTokenSource();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, duration.Token);
        var sequence = firstSequence;
        var count = 0;
        IEnumerable<PlannedSlot> Pending(int backend) => slots.Where(s => s.BackendIndex == backend && !completed.Contains(s.Key));

        // Build every prompt and count its tokens before the clock starts: none of that belongs on the send path.
        // Ctrl+C while counting a huge prompt ends the run at once as interrupted (nothing sent; resume plans every slot).
        try
        {
            foreach (var slot in slots)
            {
                Prompt(slot.Task, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new RunResult(0, "interrupted");
        }

        var runStart = time.GetTimestamp();

        async Task Execute(PlannedSlot slot, long? scheduledUs)
        {
            var record = await ExecuteAsync(plan, slot, backends[slot.BackendIndex], runStart, baseOffsetUs, scheduledUs,
                Interlocked.Increment(ref sequence) - 1, stop.Token, cancellationToken);
            log.Append(record);
            Interlocked.Increment(ref count);
            onAttempt?.Invoke(record);
        }

        async Task ClosedLoop(IEnumerable<PlannedSlot> work, int concurrency)
        {
            // Workers pull from one shared enumerator: no queue of every slot, and never more workers than the plan's bound.
            using var next = work.GetEnumerator();
            var gate = new Lock();
            PlannedSlot? Take()
            {
                lock (gate)
                {
                    return next.MoveNext() ? next.Current : null;
                }
            }

            var workers = Enumerable.Range(0, Math.Clamp(concurrency, 1, RunPlanLimits.MaxConcurrency)).Select(async _ =>
            {
                while (!stop.IsCancellationRequested && Take() is { } slot)
                {
                    await Execute(slot, null);
                }
            });
            await Task.WhenAll(workers);
        }

        async Task OpenLoop(List<PlannedSlot> measured)
        {
            // Open loop: send on schedule whatever is in flight. On resume the remaining schedule is shifted to start now.
            var measuredStart = time.GetTimestamp();
            var shift = measured.Count > 0 ? measured.Min(s => s.ScheduledUs ?? 0) : 0;
            var inFlight = new List<Task>(measured.Count);
            if (time == TimeProvider.System)
            {
                // A dedicated thread sends on schedule: it never waits for a busy thread-pool worker to resume it.
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var dispatcher = new Thread(() =>
                {
                    try
                    {
                        // The schedule starts when this thread does: its start-up (ms on a busy machine) is not charged as lag.
                        measuredStart = time.GetTimestamp();
                        foreach (var slot in measured)
                        {
                            var dueUs = (slot.ScheduledUs ?? 0) - shift;
                            SleepUntil(measuredStart, dueUs, stop.Token);
                            if (stop.IsCancellationRequested)
                            {
                                break;
                            }

                            // Start inline: the synchronous part (prompt prebuilt, up to the backend's first await) takes microseconds.
                            inFlight.Add(Execute(slot, ToUs(measuredStart - runStart) + dueUs + baseOffsetUs));
                        }

                        done.SetResult();
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        done.SetException(ex);
                    }
                })
                { IsBackground = true, Name = "spark-eval open-loop dispatcher" };
                dispatcher.Start();
                await done.Task;
            }
            else
            {
                foreach (var slot in measured)
                {
                    var dueUs = (slot.ScheduledUs ?? 0) - shift;
                    await WaitUntilAsync(measuredStart, dueUs, stop.Token);
                    if (stop.IsCancellationRequested)
                    {
                        break;
                    }

                    inFlight.Add(Execute(slot, ToUs(measuredStart - runStart) + dueUs + baseOffsetUs));
                }
            }

            await Task.WhenAll(inFlight);
        }

        async Task RunBackend(int backend)
        {
            await ClosedLoop(Pending(backend).Where(s => s.Key.Warmup), plan.Concurrency);
            var measured = Pending(backend).Where(s => !s.Key.Warmup);
            if (plan.Rate is null && plan.Trace is null)
            {
                await ClosedLoop(measured, plan.Concurrency);
            }
            else
            {
                await OpenLoop([.. measured]);
            }
        }

        if (plan.Load == BackendLoad.Sequential)
        {
            for (var b = 0; b < backends.Count && !stop.IsCancellationRequested; b++)
            {
                await RunBackend(b);
            }
        }
        else
        {
            await Task.WhenAll(Enumerable.Range(0, backends.Count).Select(RunBackend));
        }

        var status = cancellationToken.IsCancellationRequested ? "interrupted"
            : duration.IsCancellationRequested ? "duration_reached"
            : "completed";
        return new RunResult(count, status);

        long ToUs(long ticks) => (long)(ticks * 1_000_000.0 / time.TimestampFrequency);
    }

    /// <summary>Blocks the calling thread until the due time: sleeps while far away, spins the last 1.5 ms (sleepers wake up to ~1 ms late).</summary>
    private void SleepUntil(long startTimestamp, long dueUs, CancellationToken cancellationToken)
    {
        var due = TimeSpan.FromTicks(dueUs * 10);
        while (!cancellationToken.IsCancellationRequested)
        {
            var remaining = due - time.GetElapsedTime(startTimestamp);
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }

            if (remaining > TimeSpan.FromMilliseconds(2))
            {
                cancellationToken.WaitHandle.WaitOne(remaining - TimeSpan.FromMilliseconds(1.5));
            }
            else
            {
                Thread.SpinWait(32);
            }
        }
    }

    /// <summary>Waits on an injected clock (tests' fake time); the system clock uses <see cref="SleepUntil"/> on the dispatcher thread.</summary>
    private async Task WaitUntilAsync(long startTimestamp, long dueUs, CancellationToken cancellationToken)
    {
        var remaining = TimeSpan.FromTicks(dueUs * 10) - time.GetElapsedTime(startTimestamp);
        if (remaining <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            await Task.Delay(remaining, time, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    // Counting honours Ctrl+C: a huge prompt must not hold the run past the signal (issue #15 item 3).
    private (IReadOnlyList<ChatMessage> Messages, int Tokens) Prompt(BenchTask task, CancellationToken cancellationToken) =>
        _prompts.GetOrAdd(task.Id, _ =>
        {
            var messages = PromptBuilder.Build(task);
            return (messages, messages.Sum(m => tokens.CountCancellable(m.Text, cancellationToken)));
        });

#pragma warning disable CA1031 // Errors are data: every failure becomes a classified attempt, never an exception that ends the run.
    /// <summary>
    /// One attempt: <paramref name="conversation"/> replaces the task's prompt (a session's repair turn), and a first-token
    /// timeout ends it as a timeout of class ttft_timeout when no update arrives in time (a routing policy's escalation).
    /// </summary>
    internal async Task<AttemptRecord> ExecuteAsync(
        RunPlanSpec plan, PlannedSlot slot, RunBackend backend, long runStart, long baseOffsetUs, long? scheduledUs,
        long sequence, CancellationToken stop, CancellationToken interrupt,
        (IReadOnlyList<ChatMessage> Messages, int Tokens)? conversation = null, TimeSpan? firstTokenTimeout = null)
    {
        var task = slot.Task;
        var recorder = new AttemptRecorder(time);
        var options = new ChatOptions
        {
            MaxOutputTokens = slot.MaxTokens is { } traced ? Math.Min(traced, plan.MaxTokens ?? int.MaxValue) : plan.MaxTokens ?? task.TokenBudget,
            Temperature = (float)plan.Temperature,
            AdditionalProperties = new AdditionalPropertiesDictionary
            {
                [AttemptRecorder.OptionsKey] = recorder,
                [AttemptContext.TaskKey] = task,
                [AttemptContext.SeedKey] = SlotSeed(plan.Seed, slot.Key),
                [AttemptContext.AnswerSeedKey] = AttemptContext.AnswerSeedFor(plan.Seed, slot.Key.TaskId, slot.Key.Repeat),
                // The loop below looks at each update once and keeps none (the timing layer keeps their text and stamps); without a
                // first-token timer it reads none at all.
                [AttemptContext.TransientUpdatesKey] = true,
                [AttemptContext.UnreadUpdatesKey] = firstTokenTimeout is null,
                // Started by its dispatcher at its due time: the timing layer begins it right here (no start-thread hand-over).
                [AttemptContext.ScheduledKey] = scheduledUs is not null,
            },
        };
        var (messages, promptTokens) = conversation ?? Prompt(task, interrupt);
        var fallbackStart = time.GetTimestamp();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(plan.TimeoutSeconds), time);
        using var firstToken = firstTokenTimeout is null ? null : new CancellationTokenSource();
        // A timer of its own (not CancelAfter): stopped by the first update, whatever the clock.
        using var firstTokenTimer = firstTokenTimeout is { } ft ? time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), firstToken, ft, Timeout.InfiniteTimeSpan) : null;
        using var linked = firstToken is null ? CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token)
            : CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token, firstToken.Token);
        AttemptOutcome outcome;
        try
        {
            // ConfigureAwait(false): each update is taken where the pipeline yields it (no hop through a captured context per token).
            await foreach (var update in backend.Client.GetStreamingResponseAsync(messages, options, linked.Token).WithCancellation(linked.Token).ConfigureAwait(false))
            {
                if (firstTokenTimer is not null && update.Contents.Count > 0)
                {
                    firstTokenTimer.Dispose();
                }
            }

            outcome = AttemptOutcome.Ok;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            outcome = new AttemptOutcome(AttemptStatus.Cancelled, interrupt.IsCancellationRequested ? "interrupted" : "duration_limit",
                "stopped before the stream ended; --resume plans this slot again");
        }
        catch (OperationCanceledException) when (firstToken?.IsCancellationRequested == true && !timeout.IsCancellationRequested)
        {
            outcome = new AttemptOutcome(AttemptStatus.Timeout, "ttft_timeout", $"no first token within {firstTokenTimeout!.Value.TotalSeconds} s (the routing policy's first-token timeout)");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            outcome = new AttemptOutcome(AttemptStatus.Timeout, "timeout", $"no end of stream within {plan.TimeoutSeconds} s");
        }
        catch (Exception ex)
        {
            outcome = new AttemptOutcome(AttemptStatus.Error, ErrorClassifier.Classify(ex), ex.Message);
        }

        var answer = recorder.Answer;
        var usage = recorder.Usage;
        // A backend may carry the tokenizer of its model (the openai backend chooses one by model id); counted after the stream.
        var counter = backend.Client.GetService(typeof(TokenCounter)) as TokenCounter ?? tokens;
        long outputTokens = 0;
        long inputTokens = promptTokens;
        try
        {
            outputTokens = counter.CountCancellable(answer, interrupt);
            inputTokens = ReferenceEquals(counter, tokens) ? promptTokens : messages.Sum(m => counter.CountCancellable(m.Text, interrupt));
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            // Ctrl+C while counting a huge answer: recorded as interrupted (resume plans the slot again), never counted as a success.
            outcome = new AttemptOutcome(AttemptStatus.Cancelled, "interrupted", "interrupted while counting the answer's tokens; --resume plans this slot again");
        }

        var startTimestamp = recorder.Started ? recorder.StartTimestamp : fallbackStart;
        var events = recorder.Started ? recorder.Events() : [];
        recorder.Release();
        return new AttemptRecord
        {
            Sequence = sequence,
            Slot = slot.Key,
            TaskKind = task.Kind.ToString(),
            Language = task.Language,
            ScheduledUs = scheduledUs,
            StartUs = baseOffsetUs + (long)((startTimestamp - runStart) * 1_000_000.0 / time.TimestampFrequency),
            Events = events,
            Outcome = outcome,
            Answer = answer,
            Reasoning = recorder.Reasoning is { Length: > 0 } r ? r : null,
            Tokens = new TokenCounts
            {
                OutputUsage = usage?.OutputTokenCount,
                InputUsage = usage?.InputTokenCount,
                ReasoningUsage = usage?.ReasoningTokenCount,
                OutputTokenizer = outputTokens,
                InputTokenizer = inputTokens,
                Tokenizer = counter.Name,
            },
            ModelReported = recorder.ModelId,
            Retries = recorder.Retries,
            StaleConnectionRetries = recorder.StaleConnectionRetries > 0 ? recorder.StaleConnectionRetries : null,
            StartWaitMs = recorder.StartWaitMicroseconds / 1000.0,
            Simulated = backend.Info.Simulated || recorder.ServerSimulated,
        };
    }
#pragma warning restore CA1031

    /// <summary>A per-slot seed that does not depend on process hash randomisation (FNV-1a over the slot).</summary>
    public static int SlotSeed(int runSeed, SlotKey slot)
    {
        ArgumentNullException.ThrowIfNull(slot);
        var hash = 2166136261u ^ (uint)runSeed;
        foreach (var ch in slot.ToString())
        {
            hash = (hash ^ ch) * 16777619u;
        }

        return (int)(hash & 0x7FFFFFFF);
    }
}
