using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Reporting;
using Spark.Eval.Sandbox;
using Spark.Eval.Sandbox.Execution;
using Spark.Eval.Sandbox.Grading;
using Spark.Eval.Sandbox.Importing;

namespace Spark.Eval.Cli;

/// <summary><c>spark-eval sandbox run</c>, <c>spark-eval grade</c>, <c>spark-eval datasets check|import</c>: executing and grading answers.</summary>
public static class GradingCommands
{
    private static readonly Option<bool> AllowUnsandboxed = new("--allow-unsandboxed") { Description = "Run untrusted code under process limits alone when bubblewrap is missing (unsafe)." };

    public static IEnumerable<Command> Create(TextWriter stdout, TextWriter stderr) => [Sandbox(stdout, stderr), Grade(stdout, stderr), Datasets(stdout, stderr)];

    private static Command Sandbox(TextWriter stdout, TextWriter stderr)
    {
        var language = new Option<string>("--language", "-l") { Description = "csharp, python, typescript or javascript.", Required = true };
        var file = new Argument<string>("file") { Description = "The program to run (a whole program: exit 0 = passed)." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var cpu = new Option<double?>("--cpu-seconds") { Description = "CPU-time limit (default 5)." };
        var memory = new Option<int?>("--memory-mb") { Description = "Memory limit in MiB (default 512)." };
        var run = new Command("run", "Run one program under the grading sandbox and print its classified outcome (how to debug a grade).") { language, file, json, cpu, memory, AllowUnsandboxed };
        run.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(file)!;
            var lang = parse.GetValue(language)!;
            if (!File.Exists(path))
            {
                throw new InputException($"{path}: no such file. Fix: pass the path of a program file");
            }

            if (!CodeSandbox.Languages.Contains(lang))
            {
                throw new InputException($"--language {lang}: unknown. Fix: use one of {string.Join(", ", CodeSandbox.Languages)}");
            }

            var limits = SandboxLimits.Default with
            {
                CpuSeconds = parse.GetValue(cpu) ?? SandboxLimits.Default.CpuSeconds,
                MemoryBytes = (parse.GetValue(memory) ?? 512) * (1L << 20),
            };
            using var sandbox = new CodeSandbox(new SandboxOptions { AllowUnsandboxed = parse.GetValue(AllowUnsandboxed), Limits = limits }, TimeProvider.System, l => stderr.WriteLine(l));
            var result = await sandbox.ExecuteAsync(new ProgramRequest { Language = lang, Source = await File.ReadAllTextAsync(path, ct), Limits = limits }, ct);
            if (parse.GetValue(json))
            {
                var node = new JsonObject
                {
                    ["outcome"] = result.Outcome.Name(),
                    ["detail"] = result.Detail,
                    ["isolation"] = result.Isolation,
                    ["policy"] = sandbox.Policy,
                    ["exitCode"] = result.Run?.ExitCode,
                    ["signal"] = result.Run?.Signal,
                    ["stoppedBy"] = result.Run?.StoppedBy,
                    ["cpuSeconds"] = result.Run?.CpuSeconds,
                    ["wallSeconds"] = result.Run?.WallSeconds,
                    ["outputBytes"] = result.Run?.OutputBytes,
                    ["stdout"] = result.Run?.Stdout,
                    ["stderr"] = result.Run?.Stderr,
                };
                await stdout.WriteLineAsync(node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                await stdout.WriteLineAsync($"outcome: {result.Outcome.Name()}");
                if (result.Detail is not null)
                {
                    await stdout.WriteLineAsync($"detail: {result.Detail}");
                }

                await stdout.WriteLineAsync($"isolation: {result.Isolation}  ({sandbox.Policy})");
                if (result.Run is { } r)
                {
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"exit: {r.ExitCode}{(r.Signal is { } s ? $" (signal {s})" : "")}  cpu: {r.CpuSeconds?.ToString("0.###", CultureInfo.InvariantCulture) ?? "n/a"} s  wall: {r.WallSeconds:0.###} s  output: {r.OutputBytes} bytes{(r.StoppedBy is { } by ? $"  stopped by: {by}" : "")}"));
                    if (r.Stdout.Length > 0)
                    {
                        await stdout.WriteLineAsync("--- stdout ---\n" + r.Stdout.TrimEnd());
                    }

                    if (r.Stderr.Length > 0)
                    {
                        await stdout.WriteLineAsync("--- stderr ---\n" + r.Stderr.TrimEnd());
                    }
                }
            }

            return result.Outcome == ExecutionOutcome.Passed ? SparkEvalCli.ExitOk : SparkEvalCli.ExitThresholdFailed;
        });
        return new Command("sandbox", "The grading sandbox (bubblewrap, rlimits, cgroups).") { run, Bench(stdout, stderr) };
    }

    private static Command Bench(TextWriter stdout, TextWriter stderr)
    {
        var suiteArg = new Argument<string>("suite") { Description = "Suite whose reference solutions are graded (e.g. .cache/datasets/humaneval)." };
        var count = new Option<int?>("--count") { Description = "Programs per mode (tasks are repeated to reach it; default 100)." };
        var parallel = new Option<int?>("--parallel") { Description = "Programs graded at once (default 1)." };
        var language = new Option<string?>("--language", "-l") { Description = "Only tasks of this language." };
        var kind = new Option<string?>("--kind") { Description = "Only tasks of this kind: stub, refactor, fix or unit-tests (test-writing tasks, left out by default: each grade runs the tests against the reference and every mutant)." };
        var bench = new Command("bench", "Throughput: reference answers graded per second, fully isolated vs naive (no bubblewrap, no limits), in the same session.") { suiteArg, count, parallel, language, kind };
        bench.SetAction(async (parse, ct) =>
        {
            var suite = EmbeddedDefaults.LoadSuite(parse.GetValue(suiteArg)!);
            var lang = parse.GetValue(language);
            var tasks = suite.Tasks.Where(t => t.QuarantineReason is null && !t.Tags.Contains(SuiteChecker.NoReferenceTag) && (parse.GetValue(kind) is { } k ? t.Kind.ToString().Equals(k.Replace("-", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase) && t.Kind is not TaskKind.Explain : t.Kind is not (TaskKind.Explain or TaskKind.UnitTests)) && (lang is null || t.Language == lang)).ToList();
            if (tasks.Count == 0)
            {
                throw new InputException($"{suite.Source}: no task with a reference to grade. Fix: pass a suite with references (for example an imported HumanEval)");
            }

            var n = parse.GetValue(count) ?? 100;
            var degree = Math.Max(1, parse.GetValue(parallel) ?? 1);
            var time = TimeProvider.System;
            var naiveEnvironment = new SandboxEnvironment { ScratchRoot = SandboxEnvironment.Current.ScratchRoot };
            foreach (var (mode, environment) in new[] { ("isolated", SandboxEnvironment.Current), ("naive", naiveEnvironment) })
            {
                using var sandbox = new CodeSandbox(new SandboxOptions { AllowUnsandboxed = true }, time, l => stderr.WriteLine(l), environment);
                var grader = new TaskGrader(sandbox, TrustIndex.Empty);
                // Warm-up, untimed, in each mode: one program per language and parallel slot (worker, compile server, runner and
                // fork-server start, npm tools), then the first 30 programs (the JIT tiering of Roslyn and the harness, which
                // otherwise penalises whichever mode is measured first).
                foreach (var first in tasks.GroupBy(t => t.Language).Select(g => g.First()))
                {
                    await Task.WhenAll(Enumerable.Range(0, degree).Select(_ => grader.GradeAsync(first, new Extraction(first.ReferenceSolution, "suite", null, "whole-function"), ct)));
                }

                foreach (var first in Enumerable.Range(0, Math.Min(n, 30)).Select(i => tasks[i % tasks.Count]))
                {
                    _ = await grader.GradeAsync(first, new Extraction(first.ReferenceSolution, "suite", null, CodeExtractor.IsWholeDefinition(first.ReferenceSolution, first) ? "whole-function" : "body"), ct);
                }

                var passed = 0;
                var cpuBefore = ModeCpuSeconds(environment);
                var started = time.GetTimestamp();
                await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = degree, CancellationToken = ct }, async (i, token) =>
                {
                    var task = tasks[i % tasks.Count];
                    var grade = await grader.GradeAsync(task, new Extraction(task.ReferenceSolution, "suite", null, CodeExtractor.IsWholeDefinition(task.ReferenceSolution, task) ? "whole-function" : "body"), token);
                    if (grade.Passed)
                    {
                        Interlocked.Increment(ref passed);
                    }
                    else
                    {
                        stderr.WriteLine($"not passed: {task.Id}: {grade.Outcome.Name()} {grade.Detail}");
                    }
                });
                var seconds = time.GetElapsedTime(started).TotalSeconds;
                // Disposing reaps the pooled workers and fork-servers, so their CPU time (and their programs') is counted.
                sandbox.Dispose();
                var cpuAfter = ModeCpuSeconds(environment);
                var cpuMs = (cpuAfter.Total - cpuBefore.Total) * 1000 / n;
                var harnessMs = (cpuAfter.Harness - cpuBefore.Harness) * 1000 / n;
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{mode,-9} {lang ?? "all"}: {n} programs in {seconds:0.00} s = {n / seconds:0.0} graded/s, {cpuMs:0.0} CPU-ms/program ({harnessMs:0.0} in spark-eval itself; parallel {degree}, {passed} passed; isolation {environment.Describe(mode == "isolated")}{(mode == "isolated" && environment.CanSwitchUsers && tasks.Any(t => t.Language == "python") ? "+python forkserver" : "")})"));
            }

            await stdout.WriteLineAsync($"machine: {Environment.ProcessorCount} cores; graded/s = programs / wall seconds after a warm-up; CPU-ms/program = (CPU of spark-eval + of its per-attempt cgroups (cpuacct, isolated) or of its reaped children (naive)) / programs; shared machines give noisy numbers.");
            return SparkEvalCli.ExitOk;
        });
        return bench;
    }

    /// <summary>
    /// CPU seconds of a bench mode so far: this process, plus its sandboxes' cgroup (cpuacct of the per-process root, which keeps
    /// the usage of removed attempt groups) when there is one, else its reaped children. Sandboxes killed by the cgroup sweep are
    /// never reaped by their own parents, so only the cgroup counts them.
    /// </summary>
    private static (double Total, double Harness) ModeCpuSeconds(SandboxEnvironment environment)
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ": state is field 0; utime, stime, cutime, cstime are fields 11-14 (USER_HZ = 100).
            var self = fields.Skip(11).Take(2).Sum(f => long.Parse(f, CultureInfo.InvariantCulture)) / 100.0;
            if (environment.CgroupRoots.TryGetValue("cpuacct", out var root))
            {
                return (self + (long.Parse(File.ReadAllText(Path.Combine(root, "cpuacct.usage")).Trim(), CultureInfo.InvariantCulture) / 1e9), self);
            }

            return (fields.Skip(11).Take(4).Sum(f => long.Parse(f, CultureInfo.InvariantCulture)) / 100.0, self);
        }
        catch (Exception ex) when (ex is IOException or FormatException)
        {
            return (0, 0);
        }
    }

    private static Command Grade(TextWriter stdout, TextWriter stderr)
    {
        var dir = new Argument<string>("run-dir") { Description = "A run directory written by 'spark-eval run'." };
        var suite = new Option<string?>("--suite") { Description = "The suite to grade against (default: the one in the run's manifest; its hash must match)." };
        var json = new Option<bool>("--json") { Description = "Print the grade summary as JSON." };
        var judgeSpec = JudgeOption.Create();
        var command = new Command("grade", "Grade (or re-grade) the stored answers of a run: writes each attempt's grade field and the pass rates.") { dir, suite, json, AllowUnsandboxed, judgeSpec };
        command.SetAction(async (parse, ct) =>
        {
            var directory = new RunDirectory(parse.GetValue(dir)!);
            if (!directory.Exists)
            {
                throw new InputException($"{directory.Path}: no manifest.json here. Fix: pass a run directory written by 'spark-eval run'");
            }

            var manifest = directory.ReadManifest();
            var suitePath = parse.GetValue(suite) ?? manifest.Plan.SuitePath;
            var tasks = EmbeddedDefaults.LoadSuite(suitePath);
            if (tasks.Sha256 != manifest.Suite.Sha256 && parse.GetValue(suite) is null)
            {
                throw new InputException($"{suitePath}: the suite changed since the run (sha256 {tasks.Sha256[..12]}… vs {manifest.Suite.Sha256[..12]}…). Fix: restore the suite or pass --suite explicitly");
            }

            BackendHandle? judgeHandle = null;
            try
            {
                JudgeGrader? judge = null;
                if (parse.GetValue(judgeSpec) is { } spec)
                {
                    (judgeHandle, judge) = await JudgeOption.CreateJudgeAsync(spec, TimeProvider.System, stderr, ct);
                }

                var (report, _) = await GradeRunAsync(directory, tasks, new GradingSettings(parse.GetValue(AllowUnsandboxed), judge, manifest.Plan.Seed), stderr, ct);
                await stdout.WriteLineAsync(parse.GetValue(json) ? report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) : FormatReport(report));
            }
            finally
            {
                if (judgeHandle is not null)
                {
                    await judgeHandle.DisposeAsync();
                }
            }

            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    /// <summary>
    /// Grades every ok, measured attempt of a run (through <paramref name="pipeline"/>, which may already hold grades made
    /// during generation, else a new one grading after it), rewrites attempts.jsonl atomically with the grades, records the
    /// isolation, the grading mode and the judge in the manifest and recomputes the summaries (returned with the report).
    /// </summary>
    public static async Task<(JsonObject Report, RunSummary Summary)> GradeRunAsync(RunDirectory directory, TaskSuite suite, GradingSettings settings, TextWriter stderr, CancellationToken cancellationToken,
        GradingPipeline? pipeline = null, GradingInfo? mode = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(settings);
        var manifest = directory.ReadManifest();
        var (records, _) = AttemptLog.Read(directory.AttemptsPath);
        var owned = pipeline is null;
        pipeline ??= new GradingPipeline(suite, settings, GradingMode.After, TimeProvider.System, stderr, clockOrigin: null);
        mode ??= new GradingInfo("after", "spark-eval grade (after generation)", GradingPipeline.QueueCapacity, GradingPipeline.Parallelism);
        IReadOnlyDictionary<long, JsonObject> grades;
        string policy;
        try
        {
            await stderr.WriteLineAsync($"grading {records.Count(r => r.Outcome.Status == AttemptStatus.Ok && !r.Slot.Warmup)} answers ({mode.Mode}: {mode.Reason}); sandbox policy: {pipeline.Policy}"
                + (settings.Judge is { } j ? $"; judge: {j.Setup.Name} ({j.Setup.Spec})" : ""));
            grades = await pipeline.FinishAsync(records, cancellationToken);
            policy = pipeline.Policy;
        }
        finally
        {
            if (owned)
            {
                await pipeline.DisposeAsync();
            }
        }

        var graded = new List<AttemptRecord>(records.Count);
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var refused = 0;
        foreach (var record in records)
        {
            if (!grades.TryGetValue(record.Sequence, out var json))
            {
                graded.Add(record);
                continue;
            }

            graded.Add(record with { Grade = json });
            var outcome = json["outcome"]?.GetValue<string>() ?? "harness_error";
            counts[outcome] = counts.GetValueOrDefault(outcome) + 1;
            if (json["detail"]?.GetValue<string>()?.StartsWith("refused", StringComparison.Ordinal) == true)
            {
                refused++;
            }
        }

        AttemptLog.Rewrite(directory.AttemptsPath, graded);
        manifest = manifest with
        {
            SandboxIsolation = policy,
            Grading = mode,
            Judge = settings.Judge is { } judge ? JudgeOption.Describe(judge) : null,
        };
        directory.WriteManifest(manifest);
        var summary = directory.WriteSummaries(manifest);
        var judgeReport = JudgeReport.Build(graded);
        if (judgeReport is not null)
        {
            await stderr.WriteLineAsync(judgeReport["text"]!.GetValue<string>());
        }

        if (refused > 0)
        {
            await stderr.WriteLineAsync($"warning: {refused} answer(s) were refused (bubblewrap missing, not suite text): install bubblewrap or re-grade with --allow-unsandboxed");
        }

        var backends = new JsonArray();
        var lines = new List<string>();
        foreach (var b in summary.Backends)
        {
            backends.Add(new JsonObject
            {
                ["backend"] = b.Backend,
                ["grading"] = b.Grading is null ? null : JsonSerializer.SerializeToNode(b.Grading, Core.Results.CoreJsonContext.Default.GradingSummary),
            });
            if (b.Grading is { } g)
            {
                var ic = CultureInfo.InvariantCulture;
                var atK = string.Join("  ", g.PassAtK.Concat(g.PassAllK).Select(kv => kv.Key + " " + kv.Value.ToString("0.###", ic)));
                var kinds = string.Join(", ", g.ByKind.Select(kv => kv.Key + " " + kv.Value.PassRate.ToString("P0", ic)));
                var languages = string.Join(", ", g.ByLanguage.Select(kv => kv.Key + " " + kv.Value.PassRate.ToString("P0", ic)));
                var mutation = g.MeanMutationScore is { } m ? "  mutation score " + m.ToString("0.##", ic) : "";
                lines.Add($"  {b.Backend}: pass rate {g.PassRate.ToString("P1", ic)} ({g.Passed.ToString(ic)}/{g.Graded.ToString(ic)})  {atK}  by kind: {kinds}  by language: {languages}{mutation}");
            }
        }

        await stderr.WriteLineAsync("grades written to attempts.jsonl; pass rates (details in summary.json → grading):\n" + string.Join("\n", lines));
        var report = new JsonObject
        {
            ["runDir"] = directory.Path,
            ["policy"] = policy,
            ["grading"] = mode.Mode,
            ["judge"] = judgeReport,
            ["outcomes"] = new JsonObject(counts.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["backends"] = backends,
            ["text"] = string.Join("\n", lines),
        };
        return (report, summary);
    }

    private static string FormatReport(JsonObject report) =>
        $"graded {report["runDir"]}  ({report["policy"]})\noutcomes: " + string.Join(", ", report["outcomes"]!.AsObject().Select(kv => $"{kv.Key} {kv.Value}")) + "\n" + report["text"];

    private static Command Datasets(TextWriter stdout, TextWriter stderr)
    {
        var suiteArg = new Argument<string>("suite") { Description = "Suite directory (with tasks.jsonl) or .jsonl file." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per task and a summary." };
        var parallel = new Option<int?>("--parallel") { Description = "Tasks checked at once (default: the number of cores)." };
        var check = new Command("check", "Prove a suite honest: every reference passes and every mutant fails (exit 1 if not).") { suiteArg, json, AllowUnsandboxed, parallel };
        check.SetAction(async (parse, ct) =>
        {
            var suite = EmbeddedDefaults.LoadSuite(parse.GetValue(suiteArg)!);
            using var sandbox = new CodeSandbox(new SandboxOptions { AllowUnsandboxed = parse.GetValue(AllowUnsandboxed) }, TimeProvider.System, l => stderr.WriteLine(l));
            var checker = new SuiteChecker(new TaskGrader(sandbox, new TrustIndex(suite.Tasks)));
            await stderr.WriteLineAsync($"checking {suite.Tasks.Count} tasks of {suite.Name}; sandbox policy: {sandbox.Policy}");
            var results = new List<TaskCheck>();
            var checks = new TaskCheck[suite.Tasks.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, suite.Tasks.Count),
                new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parse.GetValue(parallel) ?? Environment.ProcessorCount), CancellationToken = ct },
                async (i, token) => checks[i] = await checker.CheckAsync(suite.Tasks[i], token));
            foreach (var result in checks)
            {
                results.Add(result);
                if (parse.GetValue(json))
                {
                    var node = new JsonObject
                    {
                        ["id"] = result.TaskId,
                        ["kind"] = result.Kind,
                        ["language"] = result.Language,
                        ["status"] = result.Status,
                        ["reference"] = result.Reference?.Outcome.Name(),
                        ["mutants"] = new JsonArray([.. result.Mutants.Select(m => (JsonNode?)m.Outcome.Name())]),
                        ["problems"] = new JsonArray([.. result.Problems.Select(p => (JsonNode?)p)]),
                    };
                    await stdout.WriteLineAsync(node.ToJsonString());
                }
                else
                {
                    await stdout.WriteLineAsync($"{(result.Status == "ok" ? "ok  " : result.Status == "skipped" ? "skip" : "FAIL")} {result.TaskId} ({result.Kind}, {result.Language})"
                        + (result.Problems.Count > 0 ? ": " + string.Join("; ", result.Problems) : ""));
                }
            }

            var failed = results.Count(r => !r.Ok);
            var summary = string.Create(CultureInfo.InvariantCulture,
                $"{results.Count(r => r.Status == "ok")} ok, {failed} failed, {results.Count(r => r.Status == "skipped")} skipped of {results.Count} tasks; references passing {results.Count(r => r.Reference?.Passed == true)}, mutants failing {results.Sum(r => r.Mutants.Count(m => !m.Passed))}/{results.Sum(r => r.Mutants.Count)}");
            await (parse.GetValue(json) ? stderr : stdout).WriteLineAsync(summary);
            return failed == 0 ? SparkEvalCli.ExitOk : SparkEvalCli.ExitThresholdFailed;
        });

        var format = new Argument<string>("format") { Description = "humaneval or multipl-e." };
        var file = new Argument<string>("file") { Description = "HumanEval .jsonl/.jsonl.gz, or a MultiPL-E humaneval-cs/ts .jsonl." };
        var outDir = new Option<string?>("--out") { Description = $"Suite directory to write (default {Importers.DefaultRoot}/<name>, git-ignored: public suites are never committed)." };
        var import = new Command("import", "Import a public suite into the task model (HumanEval, MultiPL-E C#/TypeScript).") { format, file, outDir };
        import.SetAction(async (parse, ct) =>
        {
            var result = await Importers.ImportAsync(parse.GetValue(format)!, parse.GetValue(file)!, parse.GetValue(outDir), ct);
            await stdout.WriteLineAsync($"imported {result.Tasks} tasks ({result.Quarantined} quarantined) into {result.Path}");
            foreach (var note in result.Notes)
            {
                await stdout.WriteLineAsync($"note: {note}");
            }

            return SparkEvalCli.ExitOk;
        });
        return new Command("datasets", "Check and import task suites.") { check, import };
    }
}
