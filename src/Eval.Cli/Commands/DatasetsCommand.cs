using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spark.Eval.Sandbox;
using Spark.Eval.Sandbox.Execution;
using Spark.Eval.Sandbox.Grading;
using Spark.Eval.Sandbox.Importing;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval datasets check|import</c>: prove a suite honest; import a public suite.</summary>
public static class DatasetsCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var suiteArg = new Argument<string>("suite") { Description = "Suite directory (with tasks.jsonl) or .jsonl file." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per task and a summary." };
        var parallel = new Option<int?>("--parallel") { Description = "Tasks checked at once (default: the number of cores)." };
        var check = new Command("check", "Prove a suite honest: every reference passes and every mutant fails (exit 1 if not).") { suiteArg, json, SandboxCommand.AllowUnsandboxed, parallel };
        check.SetAction(async (parse, ct) =>
        {
            var suite = EmbeddedDefaults.LoadSuite(parse.GetValue(suiteArg)!);
            using var sandbox = new CodeSandbox(new SandboxOptions { AllowUnsandboxed = parse.GetValue(SandboxCommand.AllowUnsandboxed) }, TimeProvider.System, l => stderr.WriteLine(l));
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
                    var line = new TaskCheckReport(result.TaskId, result.Kind, result.Language, result.Status, result.Reference?.Outcome.Name(),
                        [.. result.Mutants.Select(m => m.Outcome.Name())], result.Problems);
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(line, SandboxReportJsonContext.Default.TaskCheckReport));
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
