using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Reporting;
using Spark.Eval.Sandbox.Grading;

namespace Spark.Eval.Cli;

/// <summary><c>spark-eval run</c>: plan, validate, run, record, summarise, gate.</summary>
public static class RunCommand
{
    private static readonly Option<string?> Suite = new("--suite") { Description = "Suite directory (with tasks.jsonl) or .jsonl file. Default: the embedded spark-mini suite." };
    private static readonly Option<string[]> Backend = new("--backend", "-b") { Description = "Backend spec kind?key=value&… (repeatable). Default: three simulated profiles. See docs/formats.md.", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<string?> Config = new("--config") { Description = "YAML or JSON plan file; flags override it." };
    private static readonly Option<int?> Concurrency = new("--concurrency", "-c") { Description = "Closed loop: requests in flight at once (default 4)." };
    private static readonly Option<double?> Rate = new("--rate") { Description = "Open loop: requests per second from a seeded schedule (replaces closed loop)." };
    private static readonly Option<string?> Arrival = new("--arrival") { Description = "Open-loop inter-arrivals: poisson (default) or gamma." };
    private static readonly Option<double?> Burstiness = new("--burstiness") { Description = "Gamma shape: 1 = Poisson, < 1 burstier, > 1 more regular (default 1)." };
    private static readonly Option<int?> Repeats = new("--repeats", "-k") { Description = "Attempts per task and backend (default 2)." };
    private static readonly Option<int?> Seed = new("--seed") { Description = "Seed for every random choice (default 42)." };
    private static readonly Option<int?> Warmup = new("--warmup") { Description = "Warm-up attempts per backend, excluded from metrics (default 1)." };
    private static readonly Option<double?> Duration = new("--duration") { Description = "Maximum run time in seconds; unfinished attempts are recorded as cancelled." };
    private static readonly Option<double?> Timeout = new("--timeout") { Description = "Per-attempt timeout in seconds (default 120)." };
    private static readonly Option<int?> MaxTokens = new("--max-tokens") { Description = "Cap on output tokens (default: each task's token budget)." };
    private static readonly Option<double?> Temperature = new("--temperature") { Description = "Sampling temperature sent to backends (default 0)." };
    private static readonly Option<int?> Tasks = new("--tasks") { Description = "Use only the first N tasks of the suite." };
    private static readonly Option<string?> Out = new("--out", "-o") { Description = "Run directory to create (default results/<run-id>)." };
    private static readonly Option<string?> FailIf = new("--fail-if") { Description = "Thresholds that make the run exit 1, e.g. ttft_p99_ms>800,error_rate>0.02." };
    private static readonly Option<double?> SloTtft = new("--slo-ttft-ms") { Description = "Goodput SLO on TTFT, ms." };
    private static readonly Option<double?> SloTpot = new("--slo-tpot-ms") { Description = "Goodput SLO on TPOT, ms." };
    private static readonly Option<double?> SloE2e = new("--slo-e2e-ms") { Description = "Goodput SLO on end-to-end latency, ms." };
    private static readonly Option<string?> Resume = new("--resume") { Description = "Finish the plan of an interrupted run directory: exactly one attempt per planned slot." };
    private static readonly Option<bool> Json = new("--json") { Description = "Print the summary as JSON on stdout (progress stays on stderr)." };
    private static readonly Option<bool> NoGrade = new("--no-grade") { Description = "Do not grade answers (grade later with 'spark-eval grade <run-dir>')." };
    private static readonly Option<string?> Judge = JudgeOption.Create();
    private static readonly Option<string?> Grading = JudgeOption.CreateGradingMode();

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("run", "Replay a task suite against backends and write a run directory (attempts.jsonl, manifest, summaries, CSVs).")
        {
            Suite, Backend, Config, Concurrency, Rate, Arrival, Burstiness, Repeats, Seed, Warmup, Duration, Timeout,
            MaxTokens, Temperature, Tasks, Out, FailIf, SloTtft, SloTpot, SloE2e, Resume, Json, NoGrade, Judge, Grading,
        };
        command.SetAction((parse, ct) => ExecuteAsync(parse, stdout, stderr, ct));
        return command;
    }

    private static async Task<int> ExecuteAsync(ParseResult parse, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var time = TimeProvider.System;
        var resumeDir = parse.GetValue(Resume);
        var failIfText = parse.GetValue(FailIf);
        var judgeText = parse.GetValue(Judge);
        var gradingText = parse.GetValue(Grading);
        RunManifest? previous = null;
        RunPlanSpec plan;
        string? outDir;
        if (resumeDir is not null)
        {
            var planFlags = new Option[] { Suite, Backend, Config, Concurrency, Rate, Arrival, Burstiness, Repeats, Seed, Warmup, Duration, Timeout, MaxTokens, Temperature, Tasks, Out };
            var given = planFlags.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false });
            if (given is not null)
            {
                throw new InputException($"{given.Name} cannot be combined with --resume: the plan comes from the run's manifest. Fix: drop {given.Name}, or start a new run");
            }

            previous = new RunDirectory(resumeDir).ReadManifest();
            plan = previous.Plan;
            outDir = resumeDir;
        }
        else
        {
            var config = parse.GetValue(Config) is { } path ? ConfigFile.Load(path) : new ConfigFile();
            failIfText ??= config.FailIf;
            judgeText ??= config.Judge;
            gradingText ??= config.Grading;
            plan = BuildPlan(parse, config);
            outDir = parse.GetValue(Out) ?? config.Out;
        }

        var thresholds = Threshold.ParseList(failIfText);
        var suite = EmbeddedDefaults.LoadSuite(plan.SuitePath);
        if (previous is not null && suite.Sha256 != previous.Suite.Sha256)
        {
            throw new InputException($"{plan.SuitePath}: the suite changed since the run started (sha256 {suite.Sha256[..12]}… vs {previous.Suite.Sha256[..12]}…). Fix: restore the suite, or start a new run");
        }

        var tasks = plan.TaskLimit is { } limit ? suite.Tasks.Take(limit).ToList() : suite.Tasks;
        var registry = Backends.CreateRegistry();
        var context = new BackendContext(time, Directory.GetCurrentDirectory(), line => stderr.WriteLine(line));
        var handles = new List<BackendHandle>();
        BackendHandle? judgeHandle = null;
        try
        {
            foreach (var spec in plan.BackendSpecs)
            {
                handles.Add(await registry.CreateAsync(spec, context, ct));
            }

            var duplicate = handles.GroupBy(h => h.Info.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                throw new InputException($"--backend: two backends are named '{duplicate.Key}'. Fix: give each a distinct name=… in its spec");
            }

            var gradeAnswers = !parse.GetValue(NoGrade);
            var (gradingMode, gradingReason) = GradingModeRule.Resolve(gradingText ?? "auto", handles.Select(h => h.Info).ToList());
            JudgeGrader? judge = null;
            if (judgeText is { } judgeSpec)
            {
                if (!gradeAnswers)
                {
                    throw new InputException("--judge with --no-grade: the judge grades explain answers, and --no-grade skips grading. Fix: drop --no-grade, or drop --judge and judge later with 'spark-eval grade <run-dir> --judge SPEC'");
                }

                (judgeHandle, judge) = await JudgeOption.CreateJudgeAsync(judgeSpec, time, stderr, ct);
            }

            // Everything is validated: only now does anything get written.
            // The random tail keeps two runs started in the same second (history keys on the id) apart.
            var runId = previous?.RunId ?? $"{time.GetUtcNow():yyyyMMdd-HHmmss}-s{plan.Seed}-{Random.Shared.Next(0x10000):x4}";
            outDir ??= Path.Combine("results", runId);
            var directory = new RunDirectory(outDir);
            if (previous is null && Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            {
                throw new InputException($"--out {outDir}: the directory exists and is not empty. Fix: choose a new directory, or use --resume {outDir} to finish that run");
            }

            Directory.CreateDirectory(outDir);
            var manifest = previous is null
                ? new RunManifest
                {
                    RunId = runId,
                    HarnessVersion = EnvironmentProbe.HarnessVersion,
                    Plan = plan,
                    Suite = new SuiteInfo(suite.Name, suite.Source, suite.Sha256, tasks.Count),
                    Backends = handles.Select(h => h.Info).ToList(),
                    Environment = EnvironmentProbe.Describe(),
                    StartedUtc = time.GetUtcNow(),
                    Status = "running",
                }
                : previous with { Status = "running", Resumes = previous.Resumes + 1, EndedUtc = null };
            directory.WriteManifest(manifest);

            var (completed, nextSequence, baseOffset) = PrepareResume(directory, previous is not null);
            var slots = BenchmarkRunner.PlanSlots(plan, tasks, handles.Select(h => h.Info.Name).ToList());
            var runBackends = handles.Select(h => new RunBackend(h.Info, new ChatClientBuilder(h.Client).UseTiming().Build())).ToList();
            var remaining = slots.Count(s => !completed.Contains(s.Key));
            await stderr.WriteLineAsync($"spark-eval run {runId}: {tasks.Count} tasks × {handles.Count} backends × {plan.Repeats} repeats"
                + (plan.Warmup > 0 ? $" (+{plan.Warmup} warm-up per backend)" : "")
                + $", {(plan.Rate is { } r ? $"open loop {r.ToString(CultureInfo.InvariantCulture)} req/s {plan.Arrival}" : $"closed loop × {plan.Concurrency}")}"
                + $" → {outDir}" + (completed.Count > 0 ? $" (resuming: {completed.Count} done, {remaining} to go)" : ""));
            if (handles.Any(h => h.Info.Simulated))
            {
                await stderr.WriteLineAsync("note: SIMULATED backends report modelled timings, not measurements.");
            }

            using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var signals = RegisterSignals(interrupt, stderr);
            var runner = new BenchmarkRunner(time, TokenCounter.Default);
            RunResult result;
            var gradingSettings = new GradingSettings(AllowUnsandboxed: false, judge, plan.Seed);
            // Grading is never on the measured path: after generation, or (remote backends) in a bounded queue beside it.
            await using var pipeline = gradeAnswers
                ? new GradingPipeline(suite, gradingSettings, gradingMode, time, stderr, clockOrigin: time.GetTimestamp())
                : null;
            using (var log = new AttemptLog(directory.AttemptsPath))
            {
                var progress = new ProgressDisplay(stderr, remaining, time);
                result = await progress.RunAsync(onAttempt => runner.RunAsync(plan, slots, runBackends, log, completed,
                    nextSequence, baseOffset, record =>
                    {
                        onAttempt(record);
                        pipeline?.Offer(record);
                    }, interrupt.Token));
            }

            pipeline?.MarkGenerationFinished();

            var (records, _) = AttemptLog.Read(directory.AttemptsPath);
            var reported = records.Where(x => x.ModelReported is not null).GroupBy(x => x.Slot.Backend)
                .ToDictionary(g => g.Key, g => g.First().ModelReported);
            manifest = manifest with
            {
                EndedUtc = time.GetUtcNow(),
                Status = result.Status,
                Backends = manifest.Backends.Select(b => b with { ModelReported = reported.GetValueOrDefault(b.Name) ?? b.ModelReported }).ToList(),
            };
            directory.WriteManifest(manifest);
            RunSummary? summary = null;
            if (pipeline is not null && result.Status != "interrupted")
            {
                var info = new GradingInfo(gradingMode == GradingMode.Concurrent ? "concurrent" : "after", gradingReason, GradingPipeline.QueueCapacity, GradingPipeline.Parallelism);
                (_, summary) = await GradingCommands.GradeRunAsync(directory, suite, gradingSettings, stderr, ct, pipeline, info);
                if (gradingMode == GradingMode.Concurrent)
                {
                    await stderr.WriteLineAsync($"graded concurrently: {pipeline.Queued} attempts queued during generation, {pipeline.StartedDuringGeneration} grades started before generation finished, {pipeline.Deferred} deferred (queue full) to after generation");
                }

                manifest = directory.ReadManifest();
            }

            // Grading has just written the summaries and reports; an ungraded run writes them here.
            summary ??= directory.WriteSummaries(manifest);
            HistoryCommand.Record(directory, manifest, summary, stderr);
            SummaryTable.Write(parse.GetValue(Json) ? stderr : stdout, summary);
            if (parse.GetValue(Json))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(summary, CoreIndentedJsonContext.Default.RunSummary));
            }

            await stderr.WriteLineAsync($"run directory: {outDir}  (status {result.Status}; report: {Path.Combine(outDir, HtmlReport.FileName)}; recompute with: spark-eval summarize {outDir})");
            return Verdict(result, summary, thresholds, stderr, outDir);
        }
        finally
        {
            foreach (var handle in handles)
            {
                await handle.DisposeAsync();
            }

            if (judgeHandle is not null)
            {
                await judgeHandle.DisposeAsync();
            }
        }
    }

    private static int Verdict(RunResult result, RunSummary summary, IReadOnlyList<Threshold> thresholds, TextWriter stderr, string outDir)
    {
        if (result.Status == "interrupted")
        {
            stderr.WriteLine($"interrupted: finished attempts are kept; continue with: spark-eval run --resume {outDir}");
            return SparkEvalCli.ExitInterrupted;
        }

        var measured = summary.Backends.Sum(b => b.Counts.Ok + b.Counts.Error + b.Counts.Timeout);
        if (measured > 0 && summary.Backends.All(b => b.Counts.Ok == 0))
        {
            stderr.WriteLine("FAILED: every attempt failed (see error classes above and attempts.csv).");
            return SparkEvalCli.ExitThresholdFailed;
        }

        var breaches = Threshold.Evaluate(thresholds, summary);
        foreach (var breach in breaches)
        {
            stderr.WriteLine($"FAILED threshold: {breach}");
        }

        return breaches.Count > 0 ? SparkEvalCli.ExitThresholdFailed : SparkEvalCli.ExitOk;
    }

    /// <summary>Drops a torn last line and moves cancelled attempts to interrupted.jsonl, so each slot ends with one attempt.</summary>
    private static (HashSet<SlotKey> Completed, long NextSequence, long BaseOffsetUs) PrepareResume(RunDirectory directory, bool resuming)
    {
        var completed = new HashSet<SlotKey>();
        if (!resuming)
        {
            return (completed, 0, 0);
        }

        var (records, torn) = AttemptLog.Read(directory.AttemptsPath);
        var keep = new List<AttemptRecord>();
        var interrupted = new List<AttemptRecord>();
        foreach (var record in records)
        {
            if (record.Outcome.Status == AttemptStatus.Cancelled)
            {
                interrupted.Add(record);
            }
            else if (completed.Add(record.Slot))
            {
                keep.Add(record);
            }
        }

        if (interrupted.Count > 0)
        {
            using var sidecar = new AttemptLog(Path.Combine(directory.Path, "interrupted.jsonl"));
            foreach (var record in interrupted)
            {
                sidecar.Append(record);
            }
        }

        if (torn || interrupted.Count > 0 || keep.Count != records.Count)
        {
            AttemptLog.Rewrite(directory.AttemptsPath, keep);
        }

        var next = records.Count == 0 ? 0 : records.Max(r => r.Sequence) + 1;
        var lastEnd = records.Count == 0 ? 0 : records.Max(r => r.StartUs + (r.Events.Count > 0 ? r.Events[^1].OffsetMicroseconds : 0));
        return (completed, next, lastEnd + 1);
    }

    private static RunPlanSpec BuildPlan(ParseResult parse, ConfigFile config)
    {
        var backends = parse.GetValue(Backend) is { Length: > 0 } b ? b.ToList() : config.Backends ?? [.. EmbeddedDefaults.Backends];
        var suite = parse.GetValue(Suite) ?? config.Suite ?? EmbeddedDefaults.EmbeddedPrefix + EmbeddedDefaults.SuiteName;
        var arrival = parse.GetValue(Arrival) ?? config.Arrival ?? "poisson";
        if (arrival is not ("poisson" or "gamma"))
        {
            throw new InputException($"--arrival {arrival}: unknown arrival process. Fix: use poisson or gamma");
        }

        var plan = new RunPlanSpec
        {
            SuitePath = suite,
            BackendSpecs = backends,
            Repeats = Positive("--repeats", parse.GetValue(Repeats) ?? config.Repeats ?? 2),
            Warmup = NonNegative("--warmup", parse.GetValue(Warmup) ?? config.Warmup ?? 1),
            Concurrency = Positive("--concurrency", parse.GetValue(Concurrency) ?? config.Concurrency ?? 4),
            Rate = parse.GetValue(Rate) ?? config.Rate,
            Arrival = arrival,
            Burstiness = parse.GetValue(Burstiness) ?? config.Burstiness ?? 1.0,
            Seed = parse.GetValue(Seed) ?? config.Seed ?? 42,
            DurationSeconds = parse.GetValue(Duration) ?? config.Duration,
            TimeoutSeconds = parse.GetValue(Timeout) ?? config.Timeout ?? 120,
            Temperature = parse.GetValue(Temperature) ?? config.Temperature ?? 0,
            MaxTokens = parse.GetValue(MaxTokens) ?? config.MaxTokens,
            TaskLimit = parse.GetValue(Tasks) ?? config.Tasks,
            Slo = new SloSpec(
                parse.GetValue(SloTtft) ?? config.Slo?.TtftMs,
                parse.GetValue(SloTpot) ?? config.Slo?.TpotMs,
                parse.GetValue(SloE2e) ?? config.Slo?.E2eMs),
        };
        if (plan.Rate is <= 0)
        {
            throw new InputException($"--rate {plan.Rate}: must be > 0 requests/s. Fix: give a positive rate, or drop --rate for closed loop");
        }

        if (plan.Burstiness <= 0)
        {
            throw new InputException($"--burstiness {plan.Burstiness}: must be > 0. Fix: use 1 for Poisson, 0.5 for bursty traffic");
        }

        if (plan.DurationSeconds is <= 0 || plan.TimeoutSeconds <= 0)
        {
            throw new InputException("--duration/--timeout: must be > 0 seconds. Fix: give a positive number of seconds");
        }

        if (plan.MaxTokens is < 1 || plan.TaskLimit is < 1)
        {
            throw new InputException("--max-tokens/--tasks: must be ≥ 1. Fix: give a positive count");
        }

        return plan;
    }

    private static int Positive(string name, int value) =>
        value >= 1 ? value : throw new InputException($"{name} {value}: must be ≥ 1. Fix: give a positive count");

    private static int NonNegative(string name, int value) =>
        value >= 0 ? value : throw new InputException($"{name} {value}: must be ≥ 0. Fix: give 0 or more");

    private static Signals RegisterSignals(CancellationTokenSource interrupt, TextWriter stderr)
    {
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            if (!interrupt.IsCancellationRequested)
            {
                stderr.WriteLine("stopping: recording in-flight attempts as cancelled…");
                interrupt.Cancel();
            }
        }

        return new Signals(PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop));
    }

    private sealed record Signals(PosixSignalRegistration Interrupt, PosixSignalRegistration Terminate) : IDisposable
    {
        public void Dispose()
        {
            Interrupt.Dispose();
            Terminate.Dispose();
        }
    }
}
