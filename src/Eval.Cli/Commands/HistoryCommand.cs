using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Reporting;
using Spectre.Console;

namespace Spark.Eval.Cli;

/// <summary><c>spark-eval history</c>: the trend of one metric across recorded runs (results/history.sqlite).</summary>
public static class HistoryCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var file = new Argument<string>("history")
        {
            Description = "The history: a SQLite file or a postgresql://user@host/db URL (default $SPARK_EVAL_HISTORY, else results/history.sqlite; every run records itself into history.sqlite beside its run directory).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(HistoryStores.EnvironmentVariable) is { Length: > 0 } shared ? shared : Path.Combine("results", HistoryStore.FileName),
        };
        var metric = new Option<string>("--metric") { Description = "The metric to show (names as in --fail-if and summary.csv).", DefaultValueFactory = _ => "ttft_p50_ms" };
        var backend = new Option<string?>("--backend") { Description = "Only this backend." };
        var last = new Option<int>("--last") { Description = "At most this many most recent points.", DefaultValueFactory = _ => 30 };
        var plot = new Option<string?>("--plot") { Description = "Also draw the trend as a PNG (or .svg) to this path." };
        var json = new Option<bool>("--json") { Description = "Print the points as JSON." };
        var runs = new Option<bool>("--runs") { Description = "List the recorded runs (id, start, suite, commit, machine, status) instead of a metric." };
        var command = new Command("history", "Show one metric across recorded runs, oldest first, with the change from the previous run of the same backend.")
        {
            file, metric, backend, last, plot, json, runs,
        };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            if (!HistoryStores.IsPostgres(path) && !File.Exists(path))
            {
                throw InputException.At(path, null, null, "no history here", "run 'spark-eval run' first (it records into results/history.sqlite), or pass the history file");
            }

            var name = parse.GetValue(metric)!;
            var count = parse.GetValue(last);
            if (count < 1)
            {
                throw new InputException($"--last {count}: must be at least 1. Fix: pass e.g. --last 30");
            }

            using var store = HistoryStores.Open(path, readExisting: true);
            if (parse.GetValue(runs))
            {
                HistoryRunList.Write(stdout, store.Runs(count));
                return SparkEvalCli.ExitOk;
            }

            var points = store.Query(name, parse.GetValue(backend), count);
            if (points.Count == 0)
            {
                var known = store.MetricNames();
                throw new InputException($"--metric {name}: no recorded values{(parse.GetValue(backend) is { } b ? $" for backend '{b}'" : "")} in {path}. Fix: use one of {string.Join(", ", known.Take(12))}{(known.Count > 12 ? ", …" : "")}");
            }

            if (parse.GetValue(json))
            {
                var array = new JsonArray([.. points.Select(p => (JsonNode)new JsonObject
                {
                    ["runId"] = p.RunId, ["startedUtc"] = p.StartedUtc.ToString("O", CultureInfo.InvariantCulture), ["gitCommit"] = p.GitCommit,
                    ["backend"] = p.Backend, ["simulated"] = p.Simulated, ["metric"] = p.Metric, ["value"] = p.Value,
                })]);
                stdout.WriteLine(array.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                WriteTable(stdout, points);
            }

            if (parse.GetValue(plot) is { } plotPath)
            {
                ReportPlots.SaveTrend(points, plotPath);
                stderr.WriteLine($"wrote {plotPath}");
            }

            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    private static void WriteTable(TextWriter writer, IReadOnlyList<HistoryPoint> points)
    {
        var console = SummaryTable.TableConsole(writer, 160);
        var table = new Table().Border(TableBorder.Simple).AddColumn("started (UTC)").AddColumn("run").AddColumn("commit").AddColumn("backend")
            .AddColumn(new TableColumn(points[0].Metric).RightAligned()).AddColumn(new TableColumn("vs previous").RightAligned());
        var previous = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in points)
        {
            var change = previous.TryGetValue(p.Backend, out var before) && before != 0
                ? ((p.Value / before) - 1).ToString("+0.0%;−0.0%;0.0%", CultureInfo.InvariantCulture)
                : "–";
            previous[p.Backend] = p.Value;
            string[] cells =
            [
                p.StartedUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), p.RunId, p.GitCommit is { Length: > 8 } c ? c[..8] : p.GitCommit ?? "–",
                p.Backend + (p.Simulated ? " (SIMULATED)" : ""), SummaryCalculator.Format(p.Value), change,
            ];
            table.AddRow([.. cells.Select(Markup.Escape)]);
        }

        console.Write(table);
    }
}
