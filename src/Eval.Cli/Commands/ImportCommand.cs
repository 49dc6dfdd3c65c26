using System.CommandLine;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval import aiperf|vllm-bench &lt;result.json&gt;</c>: a peer tool's result as a run directory that compare reads.</summary>
public static class ImportCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("import", "Turn a peer benchmark's result JSON into a Spark Eval run directory (manifest.json + summary.json), so compare sets its numbers beside Spark Eval's.");
        command.Subcommands.Add(Peer("aiperf", "AIPerf's aggregate export (artifacts/<run>/profile_export_aiperf.json).", PeerImport.FromAiperf, stdout, stderr));
        command.Subcommands.Add(Peer("vllm-bench", "vLLM's benchmark result JSON ('vllm bench serve --save-result' or benchmark_serving.py --save-result).", PeerImport.FromVllmBench, stdout, stderr));
        return command;
    }

    private static Command Peer(
        string kind, string description, Func<string, string?, DateTimeOffset, (Core.Results.RunManifest, Core.Metrics.RunSummary)> import, TextWriter stdout, TextWriter stderr)
    {
        var file = new Argument<string>("result") { Description = description };
        var name = new Option<string?>("--name") { Description = $"Backend name in the imported run (default {kind}-<model>); compare pairs backends by name or --backend OLD=NEW." };
        var output = new Option<string?>("--out", "-o") { Description = "Run directory to create (default results/<import-id>)." };
        var command = new Command(kind, $"Import {description}") { file, name, output };
        command.SetAction(parse =>
        {
            var (manifest, summary) = import(parse.GetValue(file)!, parse.GetValue(name), TimeProvider.System.GetUtcNow());
            var directory = parse.GetValue(output) ?? Path.Combine("results", manifest.RunId);
            PeerImport.Write(directory, manifest, summary);
            ConsoleSummaryTable.Write(stdout, summary, manifest);
            stderr.WriteLine($"imported {kind} result as {directory} (backend '{summary.Backends[0].Backend}'); compare with: spark-eval compare {directory} <run-dir> --backend {summary.Backends[0].Backend}=<backend>");
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
