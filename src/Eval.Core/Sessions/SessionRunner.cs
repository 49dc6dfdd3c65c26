using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Sessions;

/// <summary>
/// What a session run needs beside the plan: think times, the routing policy (run beside each backend alone) and, for simulated
/// backends, the virtual clock. In real time, <paramref name="WakeClock"/> (when given) is the clock the sessions wake up on after
/// their think time: a dedicated timer thread that sleeps, then spins to the due time and resumes the session inline, so that
/// the request starts within microseconds of its schedule rather than when a thread-pool worker is free (docs/benchmarks.md,
/// "Developer sessions in real time"); null: the run's own clock.
/// </summary>
public sealed record SessionSetup(ThinkTimeModel ThinkTimes, IRoutingPolicy? Policy, VirtualTimeProvider? VirtualClock, TimeProvider? WakeClock = null);

/// <summary>
/// Plays developer sessions (issue #18; docs/formats.md, "Sessions"): for each group (every backend alone, and the routing
/// policy when one is given) N sessions run at once, each a closed loop: think → ask → answer → grade in the loop → on a failed
/// grade, the failure goes back in the same conversation (up to R repair turns) → think → next task, until the session length
/// has passed. Every interaction is an attempt with its <see cref="SessionTurn"/>, appended once graded, under a slot key unique
/// to (group, session, task in session, turn): a resume rebuilds each session from its attempts and finishes it exactly once.
/// </summary>
public sealed class SessionRunner(TimeProvider time, TokenCounter tokens)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<(AttemptGrade Grade, bool First)>>> _grades = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (IReadOnlyList<ChatMessage> Messages, int Tokens)> _prompts = new(StringComparer.Ordinal);

    /// <summary>The group key of a session attempt: its backend alone, or "policy:&lt;name&gt;".</summary>
    public static string GroupOf(AttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return attempt.Session?.Policy is { } policy ? "policy:" + policy : attempt.Slot.Backend;
    }

    /// <summary>
    /// Runs every session of the plan (what is left of them after <paramref name="previous"/>, on resume). <paramref name="backends"/>
    /// carry the timing layer; <paramref name="grader"/> grades in the loop (null: one turn per task, nothing to repair).
    /// </summary>
    public async Task<RunResult> RunAsync(RunPlanSpec plan, SessionSetup setup, IReadOnlyList<BenchTask> tasks, IReadOnlyList<RunBackend> backends,
        IAttemptGrader? grader, AttemptLog log, IReadOnlyList<AttemptRecord> previous, long firstSequence, long baseOffsetUs,
        Action<AttemptRecord>? onAttempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(backends);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(previous);
        var spec = plan.Sessions ?? throw new ArgumentException("the plan has no sessions", nameof(plan));
        if (tasks.Count == 0)
        {
            return new RunResult(0, "completed");
        }

        var index = backends.Select((b, i) => (b.Info.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        var groups = backends.Select(b => new Group(b.Info.Name, new SingleBackendPolicy(b.Info.Name), null)).ToList();
        if (setup.Policy is { } policy)
        {
            var unknown = policy.Backends.FirstOrDefault(b => !index.ContainsKey(b));
            if (unknown is not null)
            {
                throw new InputException($"{spec.Policy}: the policy routes to backend '{unknown}', which the run does not have. Fix: add --backend …name={unknown}, or change the policy");
            }

            groups.Add(new Group("policy:" + policy.Name, policy, policy.Name));
        }

        // Prompts are built and counted before the clock starts: none of that belongs on the send path.
        foreach (var task in tasks)
        {
            var messages = PromptBuilder.Build(task);
            _prompts[task.Id] = (messages, messages.Sum(m => tokens.CountCancellable(m.Text, cancellationToken)));
        }

        var prior = previous.Where(r => r.Session is not null && !r.Slot.Warmup)
            .GroupBy(r => (GroupOf(r), r.Session!.Session))
            .ToDictionary(g => g.Key, g => (IReadOnlyList<AttemptRecord>)[.. g.OrderBy(r => r.Session!.TaskInSession).ThenBy(r => r.Session!.Turn)]);
        var context = new RunContext(plan, spec, setup, tasks, backends, index, grader, log, onAttempt, new BenchmarkRunner(time, tokens),
            time.GetTimestamp(), baseOffsetUs, firstSequence, cancellationToken);
        IEnumerable<Task> Sessions(Group group) => Enumerable.Range(0, spec.Count)
            .Select(s => RunSessionAsync(context, group, s, prior.GetValueOrDefault((group.Key, s)) ?? []));
        if (plan.Load == BackendLoad.Sequential)
        {
            foreach (var group in groups)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                await Task.WhenAll(Sessions(group));
            }
        }
        else
        {
            await Task.WhenAll(groups.SelectMany(Sessions));
        }

        return new RunResult(context.Count, cancellationToken.IsCancellationRequested ? "interrupted" : "completed");
    }

    private sealed record Group(string Key, IRoutingPolicy Policy, string? PolicyName);

    private sealed class RunContext(RunPlanSpec plan, SessionPlanSpec spec, SessionSetup setup, IReadOnlyList<BenchTask> tasks, IReadOnlyList<RunBackend> backends,
        Dictionary<string, int> index, IAttemptGrader? grader, AttemptLog log, Action<AttemptRecord>? onAttempt, BenchmarkRunner runner,
        long runStart, long baseOffsetUs, long firstSequence, CancellationToken stop)
    {
        private long _sequence = firstSequence;
        private int _count;

        public RunPlanSpec Plan => plan;
        public SessionPlanSpec Spec => spec;
        public SessionSetup Setup => setup;
        public IReadOnlyList<BenchTask> Tasks => tasks;
        public IReadOnlyList<RunBackend> Backends => backends;
        public Dictionary<string, int> Index => index;
        public IAttemptGrader? Grader => grader;
        public BenchmarkRunner Runner => runner;
        public long RunStart => runStart;
        public long BaseOffsetUs => baseOffsetUs;
        public CancellationToken Stop => stop;
        public int Count => Volatile.Read(ref _count);

        public long NextSequence() => Interlocked.Increment(ref _sequence) - 1;

        public void Append(AttemptRecord record)
        {
            log.Append(record);
            Interlocked.Increment(ref _count);
            onAttempt?.Invoke(record);
        }
    }

    /// <summary>The task order of one developer: a seeded permutation of the suite (the same in every group), cycled.</summary>
    public static IReadOnlyList<int> TaskOrder(int seed, int session, int taskCount)
    {
        var order = Enumerable.Range(0, taskCount).ToArray();
        var random = new Random(unchecked((seed * 7919) + session));
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        return order;
    }

    private async Task RunSessionAsync(RunContext run, Group group, int session, IReadOnlyList<AttemptRecord> done)
    {
        var order = TaskOrder(run.Plan.Seed, session, run.Tasks.Count);
        var lengthUs = (long)(run.Spec.LengthSeconds * 1_000_000);
        // The session's clock: what its recorded interactions used (think + model + grading), then what this process adds.
        var consumedUs = done.Sum(r => r.Session!.ThinkBeforeUs + DurationUs(r) + (r.Session.GradingUs ?? 0));
        var liveStart = time.GetTimestamp();
        long UsedUs() => consumedUs + Us(time.GetTimestamp() - liveStart);
        var lastTask = done.Count == 0 ? -1 : done[^1].Session!.TaskInSession;
        for (var t = 0; !run.Stop.IsCancellationRequested; t++)
        {
            var replay = t <= lastTask ? done.Where(r => r.Session!.TaskInSession == t).ToList() : [];
            if (replay.Count == 0 && UsedUs() >= lengthUs)
            {
                return;
            }

            var task = run.Tasks[order[t % order.Count]];
            if (!await RunTaskAsync(run, group, session, t, task, replay, () => UsedUs() < lengthUs))
            {
                return;
            }
        }
    }

    /// <summary>One task of a session: its first turn, then repair and escalation turns. False when the session ends here (its time is up, or the run was stopped).</summary>
    private async Task<bool> RunTaskAsync(RunContext run, Group group, int session, int taskInSession, BenchTask task, List<AttemptRecord> replay, Func<bool> sessionOpen)
    {
        var (baseMessages, baseTokens) = _prompts[task.Id];
        var conversation = new List<ChatMessage>(baseMessages);
        var conversationTokens = baseTokens;
        var request = new RouteRequest(task, baseTokens);
        var (backend, reason) = group.Policy.Choose(request);
        var repairs = 0;
        var maxTurns = 1 + run.Spec.RepairTurns + (2 * group.Policy.Backends.Count);
        for (var turn = 0; turn < maxTurns; turn++)
        {
            AttemptRecord record;
            if (turn < replay.Count)
            {
                record = replay[turn];
                backend = record.Slot.Backend;
            }
            else
            {
                var next = await AskAsync(run, group, session, taskInSession, turn, task, backend, reason, conversation, conversationTokens, sessionOpen);
                if (next is null)
                {
                    return false;
                }

                record = next;
            }

            if (record.Outcome.Status == AttemptStatus.Cancelled)
            {
                return false;
            }

            if (record.Grade is { } grade && grade.IsPassed)
            {
                return true;
            }

            if (record.Outcome is { Status: AttemptStatus.Timeout, ErrorClass: "ttft_timeout" }
                && group.Policy.Escalate(request, backend, EscalationCause.FirstTokenTimeout) is { } faster && faster != backend)
            {
                // The same question again on the backend the policy escalates to: not a repair turn.
                (backend, reason) = (faster, RouteReasons.FirstTokenTimeout);
                continue;
            }

            if ((record.Outcome.Status == AttemptStatus.Ok && record.Grade is null) || repairs >= run.Spec.RepairTurns)
            {
                return true; // nothing to repair on (not graded), or no repair turn left
            }

            repairs++;
            if (record.Grade is not null && group.Policy.Escalate(request, backend, EscalationCause.FailedGrade) is { } deeper && deeper != backend)
            {
                (backend, reason) = (deeper, RouteReasons.FailedGrade);
            }

            if (record.Answer.Length > 0)
            {
                conversation.Add(new ChatMessage(ChatRole.Assistant, record.Answer));
                conversationTokens += tokens.Count(record.Answer);
            }

            var repair = RepairPrompt.Message(record);
            conversation.Add(repair);
            conversationTokens += tokens.Count(repair.Text);
        }

        return true;
    }

    /// <summary>Think, ask, grade, append. Null when the session ends before asking (its time ran out while thinking, or the run was stopped).</summary>
    private async Task<AttemptRecord?> AskAsync(RunContext run, Group group, int session, int taskInSession, int turn, BenchTask task, string backend, string reason,
        List<ChatMessage> conversation, int conversationTokens, Func<bool> sessionOpen)
    {
        var think = run.Setup.ThinkTimes.Sample(run.Plan.Seed, session, taskInSession, turn, KindName(task.Kind));
        think = TimeSpan.FromTicks((long)(think.Ticks * run.Spec.ThinkScale));
        var thinkStart = time.GetTimestamp();
        try
        {
            await PreciseDelay.DelayAsync(time, think, run.Stop);
        }
        catch (OperationCanceledException) when (run.Stop.IsCancellationRequested)
        {
            return null;
        }

        if (turn == 0 && !sessionOpen())
        {
            return null; // the developer's session ended while thinking about the next task
        }

        var key = new SlotKey(task.Id, backend, session, Warmup: false, Session: $"{group.Key}/s{session}/t{taskInSession}/r{turn}");
        var backendIndex = run.Index[backend];
        // When the think time ends: the request's due time (its start minus this is the harness's schedule lag).
        var scheduledUs = run.BaseOffsetUs + Us(thinkStart - run.RunStart + (long)(think.Ticks * (time.TimestampFrequency / (double)TimeSpan.TicksPerSecond)));
        var timeout = group.Policy.FirstTokenTimeout(backend);
        var record = await run.Runner.ExecuteAsync(run.Plan, new PlannedSlot(key, task, backendIndex, null), run.Backends[backendIndex], run.RunStart, run.BaseOffsetUs,
            scheduledUs, run.NextSequence(), run.Stop, run.Stop, ([.. conversation], conversationTokens), timeout);
        AttemptGrade? grade = null;
        long? gradingUs = null;
        if (run.Grader is { } grader && record.Outcome.Status == AttemptStatus.Ok && grader.CanGrade(record))
        {
            try
            {
                (grade, gradingUs) = await GradeAsync(run, grader, record, task);
            }
            catch (OperationCanceledException) when (run.Stop.IsCancellationRequested)
            {
                record = record with { Outcome = new AttemptOutcome(AttemptStatus.Cancelled, "interrupted", "interrupted while grading in the loop; --resume asks this turn again") };
            }
        }

        record = record with
        {
            Grade = grade,
            Session = new SessionTurn
            {
                Session = session,
                TaskInSession = taskInSession,
                Turn = turn,
                ThinkBeforeUs = think.Ticks / 10,
                GradingUs = gradingUs,
                Policy = group.PolicyName,
                RouteReason = group.PolicyName is null ? null : reason,
            },
        };
        run.Append(record);
        return record;
    }

    /// <summary>
    /// Grades one answer in the loop through the sandbox (identical answers to a task are graded once per run). In real time the
    /// grading time is measured; in virtual time the sandbox runs while the clock stands still and the clock then advances by the
    /// modelled grading time of <see cref="VirtualGradingTime"/>, so that a seed replays identically.
    /// </summary>
    private async Task<(AttemptGrade Grade, long GradingUs)> GradeAsync(RunContext run, IAttemptGrader grader, AttemptRecord record, BenchTask task)
    {
        var key = record.Slot.TaskId + "\n" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(record.Answer.Replace("\r\n", "\n", StringComparison.Ordinal).Trim())));
        if (run.Setup.VirtualClock is not null)
        {
            var (grade, _) = VirtualTimeLoop.RunOutside(() => CachedAsync(grader, record, key, run.Stop));
            var modelled = VirtualGradingTime(task);
            await PreciseDelay.DelayAsync(time, modelled, run.Stop);
            return (grade with { Grading = new GradeTiming { Mode = "in_loop" } }, modelled.Ticks / 10);
        }

        var start = time.GetTimestamp();
        var (real, first) = await CachedAsync(grader, record, key, run.Stop);
        var elapsedUs = Us(time.GetTimestamp() - start);
        var startUs = run.BaseOffsetUs + Us(start - run.RunStart);
        return (real with { Grading = new GradeTiming { Mode = "in_loop", Reused = !first, StartUs = startUs, EndUs = startUs + elapsedUs } }, elapsedUs);
    }

    private async Task<(AttemptGrade Grade, bool First)> CachedAsync(IAttemptGrader grader, AttemptRecord record, string key, CancellationToken cancellationToken)
    {
        var first = false;
        var lazy = _grades.GetOrAdd(key, _ => new Lazy<Task<(AttemptGrade, bool)>>(async () =>
        {
            first = true;
            return (await grader.GradeAsync(record, cancellationToken), true);
        }));
        try
        {
            var (grade, _) = await lazy.Value;
            return (grade, first);
        }
        catch (OperationCanceledException)
        {
            _grades.TryRemove(key, out _);
            throw;
        }
    }

    /// <summary>
    /// Grading time on the virtual clock (docs/formats.md, "Sessions"): modelled, not measured, so that a seed replays
    /// identically — 0.5 s for Python, 1.5 s for TypeScript, 3 s for C# (build and test), 0.1 s for an explain answer's rubric.
    /// </summary>
    public static TimeSpan VirtualGradingTime(BenchTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return task.Kind == TaskKind.Explain ? TimeSpan.FromMilliseconds(100)
            : task.Language.ToLowerInvariant() switch
            {
                "python" => TimeSpan.FromMilliseconds(500),
                "typescript" or "javascript" => TimeSpan.FromMilliseconds(1500),
                "csharp" or "c#" => TimeSpan.FromSeconds(3),
                _ => TimeSpan.FromSeconds(1),
            };
    }

    /// <summary>The task kind as written in suites and think-time files (stub, refactor, unit-tests, explain, fix).</summary>
    public static string KindName(TaskKind kind) => kind switch
    {
        TaskKind.UnitTests => "unit-tests",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>Model time of an attempt: from its start to its last event, µs.</summary>
    public static long DurationUs(AttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return attempt.Events.Count > 0 ? attempt.Events[^1].OffsetMicroseconds : 0;
    }

    private long Us(long ticks) => (long)(ticks * 1_000_000.0 / time.TimestampFrequency);
}
