using System.CommandLine;
using System.Text.Json;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval summarize &lt;run-dir&gt;</c>: recompute every summary from attempts.jsonl alone.</summary>
public static class SummarizeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var dir = new Argument<string>("run-dir") { Description = "A run directory written by 'spark-eval run' (format version 1 or 2)." };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON on stdout." };
        var wide = new Option<bool>("--wide") { Description = "Print every column of the summary table (default: the key columns, fitting 100 characters)." };
        var command = new Command("summarize", "Recompute summary.json, summary.csv, attempts.csv and the reports (report.html, report.md, plots/) from a run's attempts.jsonl.") { dir, json, wide };
        command.SetAction(parse =>
        {
            using var store = RunStore.Open(new RunDirectory(parse.GetValue(dir)!));
            var history = new RunHistory();
            var result = new EvaluationRun(TimeProvider.System, TokenCounter.Default, new RunReportWriter(), history, stderr.WriteLine).Summarize(store);
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(result.Summary, CoreIndentedJsonContext.Default.RunSummary));
            }
            else
            {
                ConsoleSummaryTable.Write(stdout, result.Summary, store.Manifest, parse.GetValue(wide));
            }

            stderr.WriteLine($"rewrote summary.json, summary.csv, attempts.csv, report.html, report.md and plots/ in {store.Directory.Path}; recorded in {history.Describe(store.Directory)}");
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
