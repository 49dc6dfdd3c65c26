using System.CommandLine;
using System.Text.Json;
using Spark.Eval.Core.Results;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli;

/// <summary><c>spark-eval summarize &lt;run-dir&gt;</c>: recompute every summary from attempts.jsonl alone.</summary>
public static class SummarizeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var dir = new Argument<string>("run-dir") { Description = "A run directory written by 'spark-eval run'." };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON on stdout." };
        var command = new Command("summarize", "Recompute summary.json, summary.csv, attempts.csv and the reports (report.html, report.md, plots/) from a run's attempts.jsonl.") { dir, json };
        command.SetAction(parse =>
        {
            var directory = new RunDirectory(parse.GetValue(dir)!);
            var manifest = directory.ReadManifest();
            var summary = directory.WriteSummaries(manifest);
            HistoryCommand.Record(directory, manifest, summary, stderr);
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(summary, CoreIndentedJsonContext.Default.RunSummary));
            }
            else
            {
                SummaryTable.Write(stdout, summary);
            }

            stderr.WriteLine($"rewrote summary.json, summary.csv, attempts.csv, report.html, report.md and plots/ in {directory.Path}; recorded in {HistoryCommand.PathFor(directory.Path)}");
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
