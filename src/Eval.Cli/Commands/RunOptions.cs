using System.CommandLine;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Cli.Commands;

/// <summary>What <c>spark-eval run</c> was asked, resolved: the plan (from flags and --config, or the manifest of the run to resume) and the rest.</summary>
public sealed record RunRequest(RunPlanSpec Plan, RunManifest? Previous, string? OutDir, IReadOnlyList<Threshold> Thresholds, string? Judge, string Grading, bool Grade, bool Json)
{
    /// <summary>Print every column of the summary table.</summary>
    public bool Wide { get; init; }
    /// <summary>Write the --fail-if gate as JUnit XML here.</summary>
    public string? JUnit { get; init; }
    /// <summary>The history to record into (a file or postgresql:// URL); null: $SPARK_EVAL_HISTORY, else results/history.sqlite.</summary>
    public string? History { get; init; }
    /// <summary>Run only this part of the plan (<c>--shard i/N</c>); null: the whole plan.</summary>
    public Core.Running.ShardSpec? Shard { get; init; }
    /// <summary><c>--sweep concurrency=1,4,16</c>: one run per load value into step folders, then sweep.json and the latency-vs-load report; null: one run.</summary>
    public Core.Running.SweepSpec? Sweep { get; init; }
    /// <summary><c>--sweep-slo</c>: the bounds a sweep step must meet.</summary>
    public Core.Running.SweepSlo SweepSlo { get; init; } = Core.Running.SweepSlo.None;
    /// <summary><c>--sweep-search N</c>: bisection steps after the listed ones.</summary>
    public int SweepSearch { get; init; }
}

/// <summary>The options of <c>spark-eval run</c> and how they become a <see cref="RunRequest"/>.</summary>
public static class RunOptions
{
    private static readonly Option<string?> Suite = new("--suite") { Description = "Suite directory (with tasks.jsonl) or .jsonl file. Default: the embedded spark-mini suite." };
    private static readonly Option<string[]> Backend = new("--backend", "-b") { Description = "Backend spec kind?key=value&… (repeatable). Default: three simulated hardware profiles and a real llama.cpp runtime on a generated random-weight model. See docs/formats.md.", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<string?> Config = new("--config") { Description = "YAML or JSON plan file; flags override it." };
    private static readonly Option<int?> Concurrency = new("--concurrency", "-c") { Description = $"Closed loop: requests in flight at once, per backend (default 4, at most {RunPlanLimits.MaxConcurrency})." };
    private static readonly Option<double?> Rate = new("--rate") { Description = "Open loop: requests per second per backend from a seeded schedule (replaces closed loop)." };
    private static readonly Option<string?> Arrival = new("--arrival") { Description = "Open-loop inter-arrivals: poisson (default) or gamma." };
    private static readonly Option<double?> Burstiness = new("--burstiness") { Description = "Gamma shape: 1 = Poisson, < 1 burstier, > 1 more regular (default 1)." };
    private static readonly Option<bool> Interleave = new("--interleave") { Description = "Run the backends side by side (each with its own load) instead of one after another (the default: none competes with another for this machine while measured)." };
    private static readonly Option<int?> Repeats = new("--repeats", "-k") { Description = $"Attempts per task and backend (default 2; a run plans at most {RunPlanLimits.MaxPlannedAttempts:N0} attempts)." };
    private static readonly Option<int?> Seed = new("--seed") { Description = "Seed for every random choice (default 42)." };
    private static readonly Option<int?> Warmup = new("--warmup") { Description = "Warm-up attempts per backend, excluded from metrics (default 1)." };
    private static readonly Option<double?> Duration = new("--duration") { Description = "Maximum run time in seconds; unfinished attempts are recorded as cancelled." };
    private static readonly Option<double?> Timeout = new("--timeout") { Description = "Per-attempt timeout in seconds (default 120)." };
    private static readonly Option<int?> MaxTokens = new("--max-tokens") { Description = "Cap on output tokens (default: each task's token budget)." };
    private static readonly Option<double?> Temperature = new("--temperature") { Description = "Sampling temperature sent to backends (default 0)." };
    private static readonly Option<int?> Tasks = new("--tasks") { Description = "Use only the first N tasks of the suite." };
    private static readonly Option<string?> Out = new("--out", "-o") { Description = "Run directory to create (default results/<run-id>)." };
    private static readonly Option<string?> FailIf = new("--fail-if") { Description = "Thresholds that make the run exit 1, e.g. ttft_p99_ms>800,error_rate>0.02." };
    private static readonly Option<bool> Wide = new("--wide") { Description = "Print every column of the summary table (default: the key columns, fitting 100 characters)." };
    private static readonly Option<string?> SloList = new("--slo") { Description = "Goodput SLO targets, e.g. ttft_ms=500,tpot_ms=50,e2e_ms=2000 (same as --slo-ttft-ms/--slo-tpot-ms/--slo-e2e-ms)." };
    private static readonly Option<string?> Trace = new("--trace") { Description = "Replay arrivals and answer lengths from a production trace (Azure CSV or Mooncake JSONL; replaces closed loop and --rate). See docs/formats.md." };
    private static readonly Option<string?> TraceFormat = new("--trace-format") { Description = "azure or mooncake (default: by extension, .csv azure, else mooncake)." };
    private static readonly Option<double?> TimeScale = new("--time-scale") { Description = "Multiply trace timestamps by this: 0.1 replays ten times faster (default 1)." };
    private static readonly Option<string?> Window = new("--window") { Description = "Replay only the trace's requests arriving in START..END seconds, e.g. 0..60 (before --time-scale)." };
    private static readonly Option<string?> History = new("--history") { Description = "Record the run into this history: a SQLite file or postgresql://user@host/db shared by many runners (default $SPARK_EVAL_HISTORY, else results/history.sqlite)." };
    private static readonly Option<string?> JUnit = new("--junit") { Description = "With --fail-if: also write the gate as JUnit XML here (one test case per backend × threshold); a Markdown summary goes to $GITHUB_STEP_SUMMARY when set." };
    private static readonly Option<double?> SloTtft = new("--slo-ttft-ms") { Description = "Goodput SLO on TTFT, ms." };
    private static readonly Option<double?> SloTpot = new("--slo-tpot-ms") { Description = "Goodput SLO on TPOT, ms." };
    private static readonly Option<double?> SloE2e = new("--slo-e2e-ms") { Description = "Goodput SLO on end-to-end latency, ms." };
    private static readonly Option<string?> Resume = new("--resume") { Description = "Finish the plan of an interrupted run directory: exactly one attempt per planned slot." };
    private static readonly Option<string?> Shard = new("--shard") { Description = "Run only shard i of N (0-based, e.g. $SLURM_ARRAY_TASK_ID/4): every N-th measured slot, seeds unchanged; join the shards' run directories with 'spark-eval merge'. See docs/nightly.md." };
    private static readonly Option<string?> Sweep = new("--sweep") { Description = "Measure a latency-vs-load curve: one run per value, e.g. concurrency=1,4,16,64 or rate=0.5,1,2 (each a run directory under --out/step-NN-…), then sweep.json, sweep.csv and sweep.html. See docs/simulator.md, 'Sweeps and SLO search'." };
    private static readonly Option<string?> SweepSloOption = new("--sweep-slo") { Description = "With --sweep: the bounds a step must meet, e.g. ttft_p99_ms=800,tpot_p99_ms=50,error_rate=0.01; prints the highest load meeting them." };
    private static readonly Option<int?> SweepSearch = new("--sweep-search") { Description = $"With --sweep and --sweep-slo, one backend: up to N more steps (at most {Core.Running.SweepSpec.MaxSearchSteps}) bisecting between the last load meeting the SLO and the first missing it." };
    private static readonly Option<bool> Json = new("--json") { Description = "Print the summary as JSON on stdout (progress stays on stderr)." };
    private static readonly Option<bool> NoGrade = new("--no-grade") { Description = "Do not grade answers (grade later with 'spark-eval grade <run-dir>')." };
    private static readonly Option<string?> Judge = JudgeOption.Create();
    private static readonly Option<string?> Grading = JudgeOption.CreateGradingMode();

    /// <summary>The flags that make a plan: refused with --resume, whose plan is the manifest's.</summary>
    private static readonly Option[] PlanFlags = [Suite, Backend, Config, Concurrency, Rate, Arrival, Burstiness, Interleave, Repeats, Seed, Warmup, Duration, Timeout, MaxTokens, Temperature, Tasks, Out, Trace, TraceFormat, TimeScale, Window, Shard, .. SessionOptions.All];

    public static void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (var option in PlanFlags.Concat([FailIf, SloList, SloTtft, SloTpot, SloE2e, Wide, Resume, Json, NoGrade, Judge, Grading, JUnit, History, Sweep, SweepSloOption, SweepSearch]))
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Resolves the request: flags over --config over defaults, or the manifest's plan with --resume. Validates the plan's own values.</summary>
    public static RunRequest Resolve(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        if (parse.GetValue(Resume) is { } resumeDir)
        {
            if (new Option[] { Sweep, SweepSloOption, SweepSearch }.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false }) is { } sweepGiven)
            {
                throw new InputException($"{sweepGiven.Name} cannot be combined with --resume: a sweep's steps are runs of their own. Fix: resume one step with --resume <sweep>/step-NN-…, or start the sweep again");
            }

            var given = PlanFlags.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false });
            if (given is not null)
            {
                throw new InputException($"{given.Name} cannot be combined with --resume: the plan comes from the run's manifest. Fix: drop {given.Name}, or start a new run");
            }

            var sloGiven = new Option[] { SloList, SloTtft, SloTpot, SloE2e }.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false });
            if (sloGiven is not null)
            {
                throw new InputException($"{sloGiven.Name} cannot be combined with --resume: the SLOs are part of the run's plan. Fix: drop {sloGiven.Name}, or change the SLOs later with a new run");
            }

            var previous = new RunDirectory(resumeDir).ReadManifest();
            return Request(parse, previous.Plan, previous, resumeDir, parse.GetValue(FailIf), parse.GetValue(Judge), parse.GetValue(Grading));
        }

        var config = parse.GetValue(Config) is { } path ? ConfigFile.Load(path) : new ConfigFile();
        var plan = new RunPlanSpec
        {
            SuitePath = parse.GetValue(Suite) ?? config.Suite ?? EmbeddedDefaults.EmbeddedPrefix + EmbeddedDefaults.SuiteName,
            BackendSpecs = parse.GetValue(Backend) is { Length: > 0 } b ? b.ToList() : config.Backends ?? [.. EmbeddedDefaults.Backends],
            Repeats = parse.GetValue(Repeats) ?? config.Repeats ?? 2,
            Warmup = parse.GetValue(Warmup) ?? config.Warmup ?? 1,
            Concurrency = parse.GetValue(Concurrency) ?? config.Concurrency ?? 4,
            Rate = parse.GetValue(Rate) ?? config.Rate,
            Arrival = parse.GetValue(Arrival) ?? config.Arrival ?? "poisson",
            Burstiness = parse.GetValue(Burstiness) ?? config.Burstiness ?? 1.0,
            Load = parse.GetValue(Interleave) || config.Interleave == true ? BackendLoad.Interleaved : BackendLoad.Sequential,
            Seed = parse.GetValue(Seed) ?? config.Seed ?? 42,
            DurationSeconds = parse.GetValue(Duration) ?? config.Duration,
            TimeoutSeconds = parse.GetValue(Timeout) ?? config.Timeout ?? 120,
            Temperature = parse.GetValue(Temperature) ?? config.Temperature ?? 0,
            MaxTokens = parse.GetValue(MaxTokens) ?? config.MaxTokens,
            TaskLimit = parse.GetValue(Tasks) ?? config.Tasks,
            Slo = SloSyntax.Combine(parse.GetValue(SloList), parse.GetValue(SloTtft), parse.GetValue(SloTpot), parse.GetValue(SloE2e),
                new SloSpec(config.Slo?.TtftMs, config.Slo?.TpotMs, config.Slo?.E2eMs)),
        };
        if (parse.GetValue(Trace) is { } tracePath)
        {
            if (plan.Rate is not null)
            {
                throw new InputException("--trace with --rate: the trace sets the arrivals. Fix: drop --rate (scale the trace's pace with --time-scale)");
            }

            plan = plan with { Trace = Core.Traces.TraceReplay.Describe(tracePath, parse.GetValue(TraceFormat) ?? Core.Traces.TraceReader.FormatOf(tracePath), parse.GetValue(TimeScale) ?? 1, parse.GetValue(Window)) };
        }
        else if (parse.GetValue(TraceFormat) is not null || parse.GetValue(TimeScale) is not null || parse.GetValue(Window) is not null)
        {
            throw new InputException("--trace-format/--time-scale/--window without --trace. Fix: add --trace <file>, or drop them");
        }

        plan = SessionOptions.Apply(parse, plan);
        if (plan.Sessions is not null && parse.GetValue(Shard) is not null)
        {
            throw new InputException("--shard cannot be combined with --sessions: a session's interactions are not planned slots to split. Fix: run the sessions whole, or split the developers across runs with --sessions and different --seed values");
        }

        // The plan's own values are checked now, its size once the suite is loaded (RunPlanSpec.Validate).
        plan.Validate(taskCount: 0);
        return Request(parse, plan, null, parse.GetValue(Out) ?? config.Out, parse.GetValue(FailIf) ?? config.FailIf, parse.GetValue(Judge) ?? config.Judge, parse.GetValue(Grading) ?? config.Grading);
    }

    private static RunRequest Request(ParseResult parse, RunPlanSpec plan, RunManifest? previous, string? outDir, string? failIf, string? judge, string? grading)
    {
        var grade = !parse.GetValue(NoGrade);
        if (judge is not null && !grade)
        {
            throw new InputException("--judge with --no-grade: the judge grades explain answers, and --no-grade skips grading. Fix: drop --no-grade, or drop --judge and judge later with 'spark-eval grade <run-dir> --judge SPEC'");
        }

        var sweep = SweepOptions(parse, plan);
        if (sweep is not null && (failIf is not null || parse.GetValue(JUnit) is not null))
        {
            throw new InputException("--sweep with --fail-if/--junit: a sweep's gate is its SLO. Fix: give the bounds with --sweep-slo, or gate one run without --sweep");
        }

        return new RunRequest(plan, previous, outDir, Threshold.ParseList(failIf), judge, grading ?? "auto", grade, parse.GetValue(Json))
        {
            Sweep = sweep,
            SweepSlo = Core.Running.SweepSlo.Parse(parse.GetValue(SweepSloOption)),
            SweepSearch = parse.GetValue(SweepSearch) ?? 0,
            Wide = parse.GetValue(Wide),
            JUnit = parse.GetValue(JUnit),
            History = parse.GetValue(History),
            Shard = parse.GetValue(Shard) is { } shard ? Core.Running.ShardSpec.Parse(shard) : null,
        };
    }

    /// <summary>--sweep and its companions, checked against the plan: a sweep steps the closed-loop concurrency or the open-loop rate of ordinary runs.</summary>
    private static Core.Running.SweepSpec? SweepOptions(ParseResult parse, RunPlanSpec plan)
    {
        if (parse.GetValue(Sweep) is not { } text)
        {
            if (parse.GetValue(SweepSloOption) is not null || parse.GetValue(SweepSearch) is not null)
            {
                throw new InputException("--sweep-slo/--sweep-search without --sweep. Fix: add --sweep concurrency=1,4,16 (for example), or drop them");
            }

            return null;
        }

        var sweep = Core.Running.SweepSpec.Parse(text);
        var conflict = plan.Sessions is not null ? "--sessions" : plan.Trace is not null ? "--trace" : parse.GetValue(Shard) is not null ? "--shard"
            : sweep.Key == "concurrency" && parse.GetValue(Rate) is not null ? "--rate"
            : sweep.Key == "concurrency" && parse.GetValue(Concurrency) is not null ? "--concurrency"
            : sweep.Key == "rate" && parse.GetValue(Rate) is not null ? "--rate" : null;
        if (conflict is not null)
        {
            throw new InputException($"--sweep {text} with {conflict}: the sweep sets the load of each step. Fix: drop {conflict}");
        }

        // The search's bounds, checked before any backend starts (SweepRunner checks them again).
        if (parse.GetValue(SweepSearch) is { } search && (search is < 0 or > Core.Running.SweepSpec.MaxSearchSteps || parse.GetValue(SweepSloOption) is null || plan.BackendSpecs.Count != 1))
        {
            throw new InputException(search is < 0 or > Core.Running.SweepSpec.MaxSearchSteps
                ? $"--sweep-search {search}: must be 0..{Core.Running.SweepSpec.MaxSearchSteps}. Fix: give a small bound such as 3"
                : parse.GetValue(SweepSloOption) is null
                    ? "--sweep-search without --sweep-slo: the search looks for the highest load meeting an SLO. Fix: add --sweep-slo ttft_p99_ms=800 (for example)"
                    : $"--sweep-search with {plan.BackendSpecs.Count} backends: each backend's limit lies at another load. Fix: search one backend at a time (one --backend)");
        }

        return sweep;
    }
}
