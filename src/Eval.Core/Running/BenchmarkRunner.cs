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

    /// <summary>Every slot the plan defines, warm-ups first, in a deterministic order; a trace replay takes its measured slots from <paramref name="trace"/>.</summary>
    public static IReadOnlyList<PlannedSlot> PlanSlots(RunPlanSpec plan, IReadOnlyList<BenchTask> tasks, IReadOnlyList<string> backends, Traces.RequestTrace? trace = null)
    {
        var slots = new List<PlannedSlot>();
        for (var b = 0; b < backends.Count; b++)
        {
            for (var w = 0; w < plan.Warmup; w++)
            {
                var task = tasks[w % tasks.Count];
                slots.Add(new PlannedSlot(new SlotKey(task.Id, backends[b], w, Warmup: true), task, b, null));
            }
        }

        if (plan.Trace is not null)
        {
            slots.AddRange(Traces.TraceSchedule.Slots(trace ?? throw new ArgumentException("the plan replays a trace: pass it (TraceReplay.Load)", nameof(trace)), tasks, backends));
            return slots;
        }

        var measured = new List<PlannedSlot>();
        for (var r = 0; r < plan.Repeats; r++)
        {
            foreach (var task in tasks)
            {
                for (var b = 0; b < backends.Count; b++)
                {
                    measured.Add(new PlannedSlot(new SlotKey(task.Id, backends[b], r), task, b, null));
                }
            }
        }

        if (plan.Rate is { } rate)
        {
            var offsets = ArrivalSchedule.Compute(measured.Count, rate, plan.Arrival, plan.Burstiness, plan.Seed);
            measured = measured.Select((s, i) => s with { ScheduledUs = offsets[i] }).ToList();
        }

        slots.AddRange(measured);
        return slots;
    }

    /// <summary>
    /// Runs every planned slot not in <paramref name="completed"/>. Times are stamped relative to this call's start plus
    /// <paramref name="baseOffsetUs"/> (a resume continues after the previous session's last event).
    /// </summary>
    public async Task<RunResult> RunAsync(
        RunPlanSpec plan,
        IReadOnlyList<PlannedSlot> slots,
        IReadOnlyList<RunBackend> backends,
        AttemptLog log,
        IReadOnlySet<SlotKey> completed,
        long firstSequence,
        long baseOffsetUs,
        Action<AttemptRecord>? onAttempt,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(log);
        using var duration = plan.DurationSeconds is { } d
            ? new CancellationTokenSource(TimeSpan.FromSeconds(d), time)
            : new CancellationTokenSource();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, duration.Token);
        var sequence = firstSequence;
        var count = 0;
        var pending = slots.Where(s => !completed.Contains(s.Key)).ToList();

        // Build every prompt and count its tokens before the clock starts: none of that belongs on the send path.
        foreach (var slot in pending)
        {
            Prompt(slot.Task);
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
            var queue = new ConcurrentQueue<PlannedSlot>(work);
            var workers = Enumerable.Range(0, Math.Max(1, concurrency)).Select(async _ =>
            {
                while (!stop.IsCancellationRequested && queue.TryDequeue(out var slot))
                {
                    await Execute(slot, null);
                }
            });
            await Task.WhenAll(workers);
        }

        await ClosedLoop(pending.Where(s => s.Key.Warmup), plan.Concurrency);
        var measured = pending.Where(s => !s.Key.Warmup).ToList();
        if (plan.Rate is null && plan.Trace is null)
        {
            await ClosedLoop(measured, plan.Concurrency);
        }
        else
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

    private (IReadOnlyList<ChatMessage> Messages, int Tokens) Prompt(BenchTask task) =>
        _prompts.GetOrAdd(task.Id, _ =>
        {
            var messages = PromptBuilder.Build(task);
            return (messages, messages.Sum(m => tokens.Count(m.Text)));
        });

#pragma warning disable CA1031 // Errors are data: every failure becomes a classified attempt, never an exception that ends the run.
    private async Task<AttemptRecord> ExecuteAsync(
        RunPlanSpec plan, PlannedSlot slot, RunBackend backend, long runStart, long baseOffsetUs, long? scheduledUs,
        long sequence, CancellationToken stop, CancellationToken interrupt)
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
            },
        };
        var (messages, promptTokens) = Prompt(task);
        var fallbackStart = time.GetTimestamp();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(plan.TimeoutSeconds), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        AttemptOutcome outcome;
        try
        {
            await foreach (var _ in backend.Client.GetStreamingResponseAsync(messages, options, linked.Token).WithCancellation(linked.Token))
            {
            }

            outcome = AttemptOutcome.Ok;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            outcome = new AttemptOutcome(AttemptStatus.Cancelled, interrupt.IsCancellationRequested ? "interrupted" : "duration_limit",
                "stopped before the stream ended; --resume plans this slot again");
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
        var startTimestamp = recorder.Started ? recorder.StartTimestamp : fallbackStart;
        return new AttemptRecord
        {
            Sequence = sequence,
            Slot = slot.Key,
            TaskKind = task.Kind.ToString(),
            Language = task.Language,
            ScheduledUs = scheduledUs,
            StartUs = baseOffsetUs + (long)((startTimestamp - runStart) * 1_000_000.0 / time.TimestampFrequency),
            Events = recorder.Started ? recorder.Events() : [],
            Outcome = outcome,
            Answer = answer,
            Reasoning = recorder.Reasoning is { Length: > 0 } r ? r : null,
            Tokens = new TokenCounts
            {
                OutputUsage = usage?.OutputTokenCount,
                InputUsage = usage?.InputTokenCount,
                ReasoningUsage = usage?.ReasoningTokenCount,
                OutputTokenizer = counter.Count(answer),
                InputTokenizer = ReferenceEquals(counter, tokens) ? promptTokens : messages.Sum(m => counter.Count(m.Text)),
                Tokenizer = counter.Name,
            },
            ModelReported = recorder.ModelId,
            Retries = recorder.Retries,
            StaleConnectionRetries = recorder.StaleConnectionRetries > 0 ? recorder.StaleConnectionRetries : null,
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
