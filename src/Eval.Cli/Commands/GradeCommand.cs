using System.CommandLine;
using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval grade &lt;run-dir&gt;</c>: grade (or re-grade) the stored answers of a run, version 1 or 2.</summary>
public static class GradeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var dir = new Argument<string>("run-dir") { Description = "A run directory written by 'spark-eval run'." };
        var suite = new Option<string?>("--suite") { Description = "The suite to grade against (default: the one in the run's manifest; its hash must match)." };
        var json = new Option<bool>("--json") { Description = "Print the grade summary as JSON." };
        var judgeSpec = JudgeOption.Create();
        var command = new Command("grade", "Grade (or re-grade) the stored answers of a run: writes each attempt's grade field and the pass rates.") { dir, suite, json, SandboxCommand.AllowUnsandboxed, judgeSpec };
        command.SetAction(async (parse, ct) =>
        {
            var time = TimeProvider.System;
            var directory = new RunDirectory(parse.GetValue(dir)!);
            if (!directory.Exists)
            {
                throw new InputException($"{directory.Path}: no manifest.json here. Fix: pass a run directory written by 'spark-eval run'");
            }

            var manifest = directory.ReadManifest();
            var tasks = EmbeddedDefaults.LoadSuite(parse.GetValue(suite) ?? manifest.Plan.SuitePath);
            if (parse.GetValue(suite) is null)
            {
                RunStore.CheckSameSuite(manifest, tasks.Sha256);
            }

            await using var grader = await GraderSetup.CreateAsync(tasks, parse.GetValue(judgeSpec), (GradingMode.After, "spark-eval grade (after generation)"),
                parse.GetValue(SandboxCommand.AllowUnsandboxed), manifest.Plan.Seed, time, stderr, ct);
            using var store = RunStore.Open(directory);
            using var signals = ShutdownSignals.Register(stderr, ct);
            var result = await new EvaluationRun(time, TokenCounter.Default, new RunReportWriter(), null, stderr.WriteLine)
                .GradeAsync(store, grader.Plan.Grader, grader.Plan.Reason, signals.Token);
            if (result.Grades is not { } report)
            {
                return SparkEvalCli.ExitInterrupted;
            }

            await stdout.WriteLineAsync(parse.GetValue(json)
                ? JsonSerializer.Serialize(report, CoreIndentedJsonContext.Default.GradeReport)
                : $"graded {report.RunDir}  ({report.Policy})\noutcomes: " + string.Join(", ", report.Outcomes.Select(kv => $"{kv.Key} {kv.Value}")) + "\n" + report.Text);
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
