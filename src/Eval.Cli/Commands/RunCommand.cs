using System.CommandLine;
using System.Text.Json;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval run</c>: plan, validate, run, grade, summarise, report, gate — the whole run, wired from the libraries.</summary>
public static class RunCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("run", "Replay a task suite against backends and write a run directory (attempts.jsonl, manifest, summaries, CSVs).");
        RunOptions.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var request = RunOptions.Resolve(parse);
            if (SessionRuntime.Wanted(request.Plan, Environment.GetEnvironmentVariable) && Spark.Eval.Diagnostics.TunedRuntime.CanRelaunch(typeof(RunCommand).Assembly))
            {
                // Sessions in real time or a real-time remote backend: the gen0 budget is a start-up setting, so the run starts itself again under it (SessionRuntime).
                return await Spark.Eval.Diagnostics.TunedRuntime.RunChildAsync(typeof(RunCommand).Assembly.Location, parse.Tokens.Select(t => t.Value), SessionRuntime.Settings, 0, ct);
            }

            Spark.Eval.Diagnostics.TunedRuntime.BindToParent();
            return await ExecuteAsync(request, stdout, stderr, ct);
        });
        return command;
    }

    private static async Task<int> ExecuteAsync(RunRequest request, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var time = TimeProvider.System;
        // 1. The plan and its suite, checked before anything is written.
        var (plan, previous) = (request.Plan, request.Previous);
        var suite = EmbeddedDefaults.LoadSuite(plan.SuitePath);
        var tasks = plan.TaskLimit is { } limit ? suite.Tasks.Take(limit).ToList() : suite.Tasks;
        plan.Validate(tasks.Count);
        GateReport.CheckWritable(request.JUnit, "--junit");
        if (previous is not null)
        {
            RunStore.CheckSameSuite(previous, suite.Sha256);
        }

        // 2. The backends and the grader (sandbox, judge), built and checked before the run directory exists.
        // A session run on simulated backends plays on a virtual clock: the backends keep time on it too.
        var sessions = plan.Sessions is { } spec ? SessionOptions.Setup(spec, [.. plan.BackendSpecs.Select(s => BackendSpec.Parse(s).Name)]) : null;
        using var wakeClock = sessions?.WakeClock as Spark.Eval.Simulator.Server.EmissionClock;
        string? wake = null;
        if (wakeClock is not null)
        {
            // Recorded in the manifest's environment: how the sessions woke, and the gen0 budget the client ran under.
            wake = $"{wakeClock.Description}; {SessionRuntime.Describe(Environment.GetEnvironmentVariable)}";
            stderr.WriteLine($"sessions in real time wake up on {wake}");
        }

        // A closed loop holds --concurrency requests in flight: remote backends open and warm that many connections first
        // (a concurrency sweep: its highest step's).
        var inFlight = request.Sweep is { Key: "concurrency" } concurrencySweep ? (int)concurrencySweep.Values.Max() : plan.Concurrency;
        // Sessions in real time: one per session that can ask the backend, so that no session opens its connection in its first interaction.
        await using var backends = await BackendSet.CreateAsync(plan.BackendSpecs, sessions?.VirtualClock ?? time, stderr, ct,
            sessions is not null ? SessionOptions.InFlight(plan.Sessions!)
            : plan.Rate is null && plan.Trace is null && request.Sweep is not { Key: "rate" } ? inFlight : 0);
        await using var grader = request.Grade ? await GraderSetup.CreateAsync(suite, request.Judge, GradingModeRule.Resolve(request.Grading, backends.Infos),
            allowUnsandboxed: false, plan.Seed, time, stderr, ct) : null;

        if (request.Sweep is { } sweep)
        {
            // run --sweep: one run per load value (RunSweep.cs), the same backends and grader for every step.
            return await RunSweep.ExecuteAsync(request, sweep, suite, tasks, backends, grader?.Plan, stdout, stderr, time, ct);
        }

        // 3. The run directory: new, or the interrupted one reopened and repaired; this process alone writes it until the end.
        using var store = previous is null
            ? RunStore.Create(request.OutDir, Sharded(WithWake(RunStore.NewManifest(plan with { BackendSpecs = [.. plan.BackendSpecs.Select(SecretRedaction.RedactSpec)] }, new SuiteInfo(suite.Name, suite.Source, suite.Sha256, tasks.Count), backends.Infos, time), wake), request.Shard))
            : RunStore.Resume(new RunDirectory(request.OutDir!), previous);

        // 4. Generation → grading → summaries → reports → history. Ctrl+C / SIGTERM stops any phase; a second signal exits at once.
        using var signals = ShutdownSignals.Register(stderr, ct);
        var progress = new ProgressDisplay(stderr, time);
        // A shard is not a run of its own in the history: 'spark-eval merge' records the whole plan.
        var evaluation = new EvaluationRun(time, TokenCounter.Default, new RunReportWriter(), store.Manifest.Shard is null ? new RunHistory(request.History) : null, stderr.WriteLine);
        var result = await progress.ShowAsync(() => evaluation.RunAsync(store, tasks, backends.Runnable, grader?.Plan, [progress], sessions, signals.Token));

        // 5. The table, and the exit code.
        ConsoleSummaryTable.Write(request.Json ? stderr : stdout, result.Summary, result.Manifest, request.Wide);
        if (request.Json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(result.Summary, CoreIndentedJsonContext.Default.RunSummary));
        }

        var exit = RunExitCode.ExitCode(result, request.Thresholds, store.Directory.Path, stderr);
        NightlyOutput.PublishRunGate(request, result.Summary, exit, store.Directory.Path, time, stderr);
        return exit;
    }

    private static RunManifest WithWake(RunManifest manifest, string? wake) =>
        wake is null ? WithClientRuntime(manifest) : manifest with { Environment = manifest.Environment with { SessionWakeClock = wake } };

    /// <summary>A run through a real-time remote backend: the gen0 budget its client ran under (SessionRuntime), in the manifest's environment.</summary>
    private static RunManifest WithClientRuntime(RunManifest manifest) =>
        manifest.Plan.Sessions is null && manifest.Backends.Any(b => b.Kind == "openai")
            ? manifest with { Environment = manifest.Environment with { ClientRuntime = SessionRuntime.Describe(Environment.GetEnvironmentVariable) } }
            : manifest;

    /// <summary>--shard i/N: the manifest records the shard and the plan's hash, which merge checks across shards.</summary>
    private static RunManifest Sharded(RunManifest manifest, ShardSpec? shard) =>
        shard is null ? manifest : manifest with { Shard = shard, PlanHash = Sharding.PlanHash(manifest.Plan) };
}
