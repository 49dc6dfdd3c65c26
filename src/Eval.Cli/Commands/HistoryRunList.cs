using System.Globalization;
using Spark.Eval.Reporting;
using Spectre.Console;

namespace Spark.Eval.Cli;

/// <summary>The table of <c>history --runs</c>: the runs a (possibly shared) history holds.</summary>
internal static class HistoryRunList
{
    public static void Write(TextWriter writer, IReadOnlyList<HistoryRun> runs)
    {
        var console = SummaryTable.TableConsole(writer, 180);
        var table = new Table().Border(TableBorder.Simple).AddColumn("started (UTC)").AddColumn("run").AddColumn("suite").AddColumn("commit")
            .AddColumn("machine").AddColumn("status").AddColumn("run directory");
        foreach (var run in runs)
        {
            string[] cells =
            [
                run.StartedUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), run.RunId, run.Suite,
                run.GitCommit is { Length: > 8 } c ? c[..8] : run.GitCommit ?? "–", run.Machine, run.Status ?? "–", run.RunDirectory,
            ];
            table.AddRow([.. cells.Select(Markup.Escape)]);
        }

        console.Write(table);
        writer.WriteLine($"{runs.Count} runs");
    }
}
