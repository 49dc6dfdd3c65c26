using System.Globalization;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Running;

/// <summary>How a run (or a re-grade, or a re-summary) ended.</summary>
public enum RunStatus
{
    Completed,
    Interrupted,
    DurationReached,
}

/// <summary>What an evaluation produced: how it ended, the manifest as written, the summary, and (after grading) the grade report.</summary>
public sealed record EvaluationResult(RunStatus Status, RunManifest Manifest, RunSummary Summary, int Attempts, GradeReport? Grades);

/// <summary>
/// One evaluation, in the libraries: plan → generation → grading → summaries → reports → history, over a locked run
/// directory (<see cref="RunStore"/>). The CLI's <c>run</c>, <c>run --resume</c>, <c>grade</c> and <c>summarize</c> call it;
/// observers see each attempt as it ends. A cancelled token (Ctrl+C, SIGTERM) stops whichever phase is running: finished
/// attempts are kept, grades are not written, and the status says interrupted.
/// </summary>
public sealed class EvaluationRun(TimeProvider time, TokenCounter tokens, IRunReportWriter reports, IRunHistory? history, Action<string> log)
{
    /// <summary>The manifest status of each <see cref="RunStatus"/>.</summary>
    public static string StatusName(RunStatus status) => status switch
    {
        RunStatus.Interrupted => "interrupted",
        RunStatus.DurationReached => "duration_reached",
        _ => "completed",
    };

    /// <summary>Runs the plan in <paramref name="store"/>'s manifest (what is left of it, on resume) against <paramref name="backends"/>, then grades, summarises, reports and records it.</summary>
    public Task<EvaluationResult> RunAsync(RunStore store, IReadOnlyList<BenchTask> tasks, IReadOnlyList<RunBackend> backends, GradingPlan? grading,
        IReadOnlyList<IAttemptObserver> observers, CancellationToken cancellationToken) =>
        RunAsync(store, tasks, backends, grading, observers, sessions: null, cancellationToken);

    /// <summary>As above; a plan with sessions (<see cref="RunPlanSpec.Sessions"/>) plays them with <paramref name="sessions"/> and grades in the loop.</summary>
    public async Task<EvaluationResult> RunAsync(RunStore store, IReadOnlyList<BenchTask> tasks, IReadOnlyList<RunBackend> backends, GradingPlan? grading,
        IReadOnlyList<IAttemptObserver> observers, SessionSetup? sessions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(backends);
        ArgumentNullException.ThrowIfNull(observers);
        var manifest = store.Manifest;
        var plan = manifest.Plan;

        // Plan: every slot, generated lazily; what a resume has left.
        var trace = plan.Trace is { } traceSpec ? Traces.TraceReplay.Load(traceSpec) : null;
        var slots = BenchmarkRunner.EnumerateSlots(plan, tasks, [.. backends.Select(b => b.Info.Name)], trace);
        if (manifest.Shard is { } shard)
        {
            // run --shard i/N: this run holds every N-th measured slot (keys, seeds and schedule unchanged) and the warm-ups.
            slots = Sharding.Filter(slots, shard);
        }

        var done = store.State.Completed;
        if (plan.Sessions is not null && sessions is null)
        {
            throw new ArgumentException("the plan has sessions: pass their setup", nameof(sessions));
        }

        var remaining = plan.Sessions is null ? slots.Count(s => !done.Contains(s.Key)) : 0;
        log(plan.Sessions is not null
            ? $"spark-eval run {manifest.RunId}: {tasks.Count} tasks, {backends.Count} backends{(sessions?.Policy is { } p ? $" and policy {p.Name}" : "")}: {manifest.Plan.DescribeLoad()} → {store.Directory.Path}" + (store.State.Records.Count > 0 ? $" (resuming: {store.State.Records.Count} interactions done)" : "")
            : $"spark-eval run {manifest.RunId}: {tasks.Count} tasks × {backends.Count} backends × {plan.Repeats} repeats"
            + (plan.Warmup > 0 ? $" (+{plan.Warmup} warm-up per backend)" : "")
            + (manifest.Shard is { } part ? $", shard {part} (one measured slot in {part.Count}, warm-ups all)" : "")
            + $", {(plan.Trace is { } t ? string.Create(CultureInfo.InvariantCulture, $"trace replay {t.Path} ({trace!.Requests.Count} requests per backend, time × {t.TimeScale})") : plan.DescribeLoad())} → {store.Directory.Path}" + (done.Count > 0 ? $" (resuming: {done.Count} done, {remaining} to go)" : ""));
        if (backends.Any(b => b.Info.Simulated))
        {
            log("note: SIMULATED backends report modelled timings, not measurements.");
        }

        foreach (var observer in observers)
        {
            observer.OnGenerationStarting(remaining);
        }

        // Generation, with grading beside it when the plan grades concurrently (never on the measured path).
        var timed = backends.Select(b => b with { Client = new ChatClientBuilder(b.Client).UseTiming().Build() }).ToList();
        // Sessions grade each answer in the loop (a repair turn needs its grade); plain runs grade after or beside generation.
        await using var pipeline = grading is null || sessions is not null ? null : new GradingPipeline(grading.Grader, grading.Mode, time, clockOrigin: time.GetTimestamp());
        var records = new List<AttemptRecord>(store.State.Records);
        RunResult generated;
        // In virtual time the loop is one thread: the log's own thread serialises and writes the records meanwhile (same bytes, same order).
        using (var attempts = new AttemptLog(store.Directory.AttemptsPath, collectInto: records, writeBehind: sessions?.VirtualClock is not null))
        {
            void OnAttempt(AttemptRecord record)
            {
                foreach (var observer in observers)
                {
                    observer.OnAttempt(record);
                }

                pipeline?.Offer(record);
            }

            if (sessions is not null)
            {
                var runner = new SessionRunner(sessions.VirtualClock ?? sessions.WakeClock ?? time, tokens);
                Task<RunResult> Play() => runner.RunAsync(plan, sessions, tasks, timed, grading?.Grader, attempts, store.State.Records,
                    store.State.NextSequence, store.State.BaseOffsetUs, OnAttempt, cancellationToken);
                if (sessions.VirtualClock is { } clock)
                {
                    generated = VirtualTimeLoop.Run(clock, Play);
                }
                else
                {
                    generated = await Play();
                    // The last session may end on the wake clock's timer thread, which runs this continuation inline: the summaries,
                    // reports and the clock's own disposal must not run there.
                    await Task.Yield();
                }
            }
            else
            {
                generated = await new BenchmarkRunner(time, tokens).RunAsync(plan, slots, timed, attempts, done,
                    store.State.NextSequence, store.State.BaseOffsetUs, OnAttempt, cancellationToken);
            }
        }

        pipeline?.MarkGenerationFinished();
        var status = generated.Status switch { "interrupted" => RunStatus.Interrupted, "duration_reached" => RunStatus.DurationReached, _ => RunStatus.Completed };
        var reported = records.Where(x => x.ModelReported is not null).GroupBy(x => x.Slot.Backend)
            .ToDictionary(g => g.Key, g => g.First().ModelReported);
        // A server that said its timings are modelled (serve-sim: x-spark-eval-simulated) makes the backend simulated.
        var servedSimulated = records.Where(x => x.Simulated).Select(x => x.Slot.Backend).ToHashSet(StringComparer.Ordinal);
        foreach (var name in manifest.Backends.Where(b => !b.Simulated && servedSimulated.Contains(b.Name)).Select(b => b.Name))
        {
            log($"note: SIMULATED: backend '{name}' is served by a simulator (its server says so): its timings are modelled, not measured.");
        }

        manifest = manifest with
        {
            Backends = [.. manifest.Backends.Select(b => b with { ModelReported = reported.GetValueOrDefault(b.Name) ?? b.ModelReported, Simulated = b.Simulated || servedSimulated.Contains(b.Name) })],
        };

        // Grading (an interrupted run is not graded: --resume grades it when it is finished).
        IReadOnlyList<AttemptRecord> final = records;
        GradingOutcome? graded = null;
        if (pipeline is not null && grading is not null && status != RunStatus.Interrupted)
        {
            graded = await GradeAsync(store, records, pipeline, grading, cancellationToken);
            if (graded is null)
            {
                status = RunStatus.Interrupted;
            }
            else
            {
                final = graded.Records;
                manifest = manifest with { SandboxIsolation = grading.Grader.Isolation, Grading = graded.Info, Judge = grading.Grader.Judge };
                if (grading.Mode == GradingMode.Concurrent)
                {
                    log($"graded concurrently: {pipeline.Queued} attempts queued during generation, {pipeline.StartedDuringGeneration} grades started before generation finished, {pipeline.Deferred} deferred (queue full) to after generation");
                }
            }
        }

        if (sessions is not null && grading is not null && status != RunStatus.Interrupted)
        {
            graded = InLoop(records, grading);
            manifest = manifest with { SandboxIsolation = grading.Grader.Isolation, Grading = graded.Info, Judge = grading.Grader.Judge };
        }

        if (sessions is not null)
        {
            log(SessionSummary.Text(SessionSummary.Compute(final)));
        }

        // Summaries, reports, history: from the records in memory, which are what attempts.jsonl now holds.
        manifest = manifest with { EndedUtc = time.GetUtcNow(), Status = StatusName(status) };
        store.WriteManifest(manifest);
        var summary = reports.Write(store.Directory, manifest, final);
        if (SummaryCalculator.Warnings(summary) is { Count: > 0 } warnings)
        {
            // Trustworthiness warnings (e.g. a server that counted far fewer input tokens than the client: a truncated prompt).
            foreach (var warning in warnings)
            {
                log(warning);
            }

            manifest = manifest with { Warnings = warnings };
            store.WriteManifest(manifest);
        }

        history?.Record(store.Directory, manifest, summary, log);
        return new EvaluationResult(status, manifest, summary, generated.Attempts, graded is null ? null : Report(store, graded, summary));
    }

    /// <summary>Grades (or re-grades) every ok, measured attempt of an existing run after generation, rewrites attempts.jsonl once with the grades, and rewrites the summaries.</summary>
    public async Task<EvaluationResult> GradeAsync(RunStore store, IAttemptGrader grader, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(grader);
        var grading = new GradingPlan(grader, GradingMode.After, reason);
        await using var pipeline = new GradingPipeline(grader, GradingMode.After, time, clockOrigin: null);
        var records = store.State.Records;
        var graded = await GradeAsync(store, records, pipeline, grading, cancellationToken);
        var manifest = store.Manifest;
        if (graded is not null)
        {
            manifest = manifest with { SandboxIsolation = grader.Isolation, Grading = graded.Info, Judge = grader.Judge };
            store.WriteManifest(manifest);
        }

        var summary = reports.Write(store.Directory, manifest, graded?.Records ?? records);
        return new EvaluationResult(graded is null ? RunStatus.Interrupted : RunStatus.Completed, manifest, summary, records.Count,
            graded is null ? null : Report(store, graded, summary));
    }

    /// <summary>Recomputes every summary and report of an existing run from its attempts alone and records it in the history.</summary>
    public EvaluationResult Summarize(RunStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var summary = reports.Write(store.Directory, store.Manifest, store.State.Records);
        history?.Record(store.Directory, store.Manifest, summary, log);
        return new EvaluationResult(RunStatus.Completed, store.Manifest, summary, store.State.Records.Count, null);
    }

    private sealed record GradingOutcome(IReadOnlyList<AttemptRecord> Records, GradingInfo Info, IReadOnlyDictionary<string, int> Outcomes, int Refused, JudgeSummary? Judge);

    /// <summary>Null when cancelled: then nothing was written.</summary>
    private async Task<GradingOutcome?> GradeAsync(RunStore store, IReadOnlyList<AttemptRecord> records, GradingPipeline pipeline, GradingPlan grading, CancellationToken cancellationToken)
    {
        var mode = grading.Mode == GradingMode.Concurrent ? "concurrent" : "after";
        log($"grading {pipeline.CountGradable(records)} answers ({mode}: {grading.Reason}); sandbox policy: {grading.Grader.Isolation}"
            + (grading.Grader.Judge is { } j ? $"; judge: {j.Name} ({j.Spec})" : ""));
        IReadOnlyDictionary<long, AttemptGrade> grades;
        try
        {
            grades = await pipeline.FinishAsync(records, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            log("stopped during grading: no grade written (the attempts are kept); grade later with 'spark-eval grade " + store.Directory.Path + "'");
            return null;
        }

        var graded = new List<AttemptRecord>(records.Count);
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var refused = 0;
        foreach (var record in records)
        {
            if (!grades.TryGetValue(record.Sequence, out var grade))
            {
                graded.Add(record);
                continue;
            }

            graded.Add(record with { Grade = grade });
            counts[grade.Outcome] = counts.GetValueOrDefault(grade.Outcome) + 1;
            if (grade.Detail?.StartsWith("refused", StringComparison.Ordinal) == true)
            {
                refused++;
            }
        }

        AttemptLog.Rewrite(store.Directory.AttemptsPath, graded);
        var judge = JudgeReport.Build(graded);
        if (judge is not null)
        {
            log(judge.Text);
        }

        if (refused > 0)
        {
            log($"warning: {refused} answer(s) were refused (bubblewrap missing, not suite text): install bubblewrap or re-grade with --allow-unsandboxed");
        }

        var info = new GradingInfo(mode, grading.Reason, GradingPipeline.QueueCapacity, GradingPipeline.Parallelism);
        return new GradingOutcome(graded, info, counts, refused, judge);
    }

    /// <summary>The grading figures of a session run, whose answers were graded in the loop as they came.</summary>
    private static GradingOutcome InLoop(IReadOnlyList<AttemptRecord> records, GradingPlan grading)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var grade in records.Select(r => r.Grade).OfType<AttemptGrade>())
        {
            counts[grade.Outcome] = counts.GetValueOrDefault(grade.Outcome) + 1;
        }

        var refused = records.Count(r => r.Grade?.Detail?.StartsWith("refused", StringComparison.Ordinal) == true);
        var info = new GradingInfo("in_loop", "sessions grade each answer as it ends (repair turns need the grade)", 0, 1);
        return new GradingOutcome(records, info, counts, refused, JudgeReport.Build(records));
    }

    private GradeReport Report(RunStore store, GradingOutcome graded, RunSummary summary)
    {
        var ic = CultureInfo.InvariantCulture;
        var lines = new List<string>();
        foreach (var b in summary.Backends)
        {
            if (b.Grading is { } g)
            {
                var atK = string.Join("  ", g.PassAtK.Concat(g.PassAllK).Select(kv => kv.Key + " " + kv.Value.ToString("0.###", ic)));
                var kinds = string.Join(", ", g.ByKind.Select(kv => kv.Key + " " + kv.Value.PassRate.ToString("P0", ic)));
                var languages = string.Join(", ", g.ByLanguage.Select(kv => kv.Key + " " + kv.Value.PassRate.ToString("P0", ic)));
                var mutation = g.MeanMutationScore is { } m ? "  mutation score " + m.ToString("0.##", ic) : "";
                lines.Add($"  {b.Backend}: pass rate {g.PassRate.ToString("P1", ic)} ({g.Passed.ToString(ic)}/{g.Graded.ToString(ic)})  {atK}  by kind: {kinds}  by language: {languages}{mutation}");
            }
        }

        var text = string.Join("\n", lines);
        log("grades written to attempts.jsonl; pass rates (details in summary.json → grading):\n" + text);
        return new GradeReport
        {
            RunDir = store.Directory.Path,
            Policy = store.Manifest.SandboxIsolation ?? "",
            Grading = graded.Info.Mode,
            Judge = graded.Judge,
            Outcomes = graded.Outcomes,
            Backends = [.. summary.Backends.Select(b => new BackendGradeReport(b.Backend, b.Grading))],
            Text = text,
        };
    }
}

/// <summary>What <c>spark-eval grade --json</c> prints: the run, the sandbox policy, the grading mode, the judge's figures, outcomes counted, and each backend's pass rates.</summary>
public sealed record GradeReport
{
    public required string RunDir { get; init; }
    public required string Policy { get; init; }
    public required string Grading { get; init; }
    public JudgeSummary? Judge { get; init; }
    public required IReadOnlyDictionary<string, int> Outcomes { get; init; }
    public required IReadOnlyList<BackendGradeReport> Backends { get; init; }
    public required string Text { get; init; }
}

/// <summary>One backend's grading figures in a <see cref="GradeReport"/>.</summary>
public sealed record BackendGradeReport(string Backend, GradingSummary? Grading);
