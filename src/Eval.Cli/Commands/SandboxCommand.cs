using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox;
using Spark.Eval.Sandbox.Execution;
using Spark.Eval.Sandbox.Grading;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval sandbox run|bench</c>: run one program under the grading sandbox; time the sandbox.</summary>
public static class SandboxCommand
{
    internal static readonly Option<bool> AllowUnsandboxed = new("--allow-unsandboxed") { Description = "Run untrusted code under process limits alone when bubblewrap is missing (unsafe)." };

    public static Command Create(TextWriter stdout, TextWriter stderr)
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
                var report = new SandboxRunReport(result.Outcome.Name(), result.Detail, result.Isolation, sandbox.Policy, result.Run?.ExitCode, result.Run?.Signal,
                    result.Run?.StoppedBy, result.Run?.CpuSeconds, result.Run?.WallSeconds, result.Run?.OutputBytes, result.Run?.Stdout, result.Run?.Stderr);
                await stdout.WriteLineAsync(JsonSerializer.Serialize(report, SandboxReportIndentedJsonContext.Default.SandboxRunReport));
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
}
