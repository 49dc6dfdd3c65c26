using System.CommandLine;
using System.Text.Json;
using Spark.Eval.Core.Results;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval merge &lt;shard-dirs…&gt; --out DIR</c>: the shards of one plan (<c>run --shard i/N</c>) as one run directory.</summary>
public static class MergeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var dirs = new Argument<string[]>("shard-dirs") { Description = "The run directory of every shard of one plan ('spark-eval run --shard i/N'), each once, in any order.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--out", "-o") { Description = "Run directory to create for the merged run (default results/<run-id>)." };
        var history = new Option<string?>("--history") { Description = "Record the merged run into this history: a SQLite file or postgresql://user@host/db (default $SPARK_EVAL_HISTORY, else history.sqlite beside the merged run)." };
        var json = new Option<bool>("--json") { Description = "Print the merged run's summary as JSON on stdout." };
        var wide = new Option<bool>("--wide") { Description = "Print every column of the summary table." };
        var command = new Command("merge", "Join the run directories of every shard of one plan into one run directory (exactly one attempt per planned slot), with one summary and report, as if the plan had run unsharded. See docs/nightly.md.")
        {
            dirs, output, history, json, wide,
        };
        command.SetAction(parse =>
        {
            var shards = parse.GetValue(dirs)!;
            var result = ShardMerge.MergeDirectories(shards, parse.GetValue(output), EmbeddedDefaults.LoadSuite, new RunHistory(parse.GetValue(history)), TimeProvider.System, stderr.WriteLine);
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(result.Summary, CoreIndentedJsonContext.Default.RunSummary));
            }
            else
            {
                ConsoleSummaryTable.Write(stdout, result.Summary, result.Manifest, parse.GetValue(wide));
            }

            stderr.WriteLine($"merged {shards.Length} shards ({result.Attempts} attempts, plan {result.Manifest.PlanHash![..12]}…) into {result.Directory}; report: {Path.Combine(result.Directory, HtmlReport.FileName)}");
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
