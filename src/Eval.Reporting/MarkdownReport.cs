using System.Globalization;
using System.Text;

namespace Spark.Eval.Reporting;

/// <summary>Writes report.md: the comparison table and notes, for pull requests and chat.</summary>
public static class MarkdownReport
{
    public const string FileName = "report.md";

    public static string Render(ReportData data, IReadOnlyList<ReportPlot> plots)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(plots);
        var m = data.Manifest;
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# Spark Eval report: {m.RunId}\n\n");
        md.Append(CultureInfo.InvariantCulture, $"Suite **{m.Suite.Name}** ({m.Suite.TaskCount} tasks) on {m.Environment.Cpu} ({m.Environment.Cores} cores); status {m.Status ?? "running"}.\n\n");
        md.Append(CultureInfo.InvariantCulture, $"Load: {m.DescribeLoad()}.\n\n");
        if (data.Summary.Backends.Any(b => b.Simulated))
        {
            md.Append("> **SIMULATED** rows report modelled timings and quality, not measurements of real hardware.");
            md.Append(m.Backends.Any(b => b.Kind == "hwsim") ? " " + HtmlReport.SimulatedAnswersText + "\n\n" : "\n\n");
        }

        md.Append("## Verdict\n\n");
        var verdict = RunVerdict.Decide(data.Summary, m);
        foreach (var b in verdict.Backends)
        {
            md.Append(CultureInfo.InvariantCulture, $"- {b.Sentence}\n");
        }

        foreach (var finding in verdict.Findings)
        {
            md.Append(CultureInfo.InvariantCulture, $"- {finding}\n");
        }

        md.Append(CultureInfo.InvariantCulture, $"\nSLO: {(m.Plan.Slo.IsSet ? Core.Results.SloSyntax.Describe(m.Plan.Slo) + " (checked on p99; goodput = ok attempts meeting it / decided)" : "none set, so no goodput")}; flow target: ≥ {RunVerdict.FlowTargetRatio * 100:0} % of attempts answered within 1 s.\n\n");
        md.Append("| ").AppendJoin(" | ", ReportTables.Columns.Select(c => c.Header)).Append(" |\n|");
        md.Append(string.Concat(Enumerable.Repeat("---|", ReportTables.Columns.Count))).Append('\n');
        foreach (var row in ReportTables.Rows(data.Summary, m))
        {
            md.Append("| ").AppendJoin(" | ", row).Append(" |\n");
        }

        md.Append("\nFormulas: ").AppendJoin("; ", ReportTables.Columns.Skip(1).Select(c => $"*{c.Header}* = {c.Formula}")).Append(" (docs/metrics.md).\n\n");
        if (data.Sessions is { } sessions)
        {
            md.Append(sessions.RenderMarkdown());
        }

        foreach (var plot in plots)
        {
            md.Append(CultureInfo.InvariantCulture, $"![{plot.Name}](plots/{plot.Name}.png)\n\n{plot.Caption}\n\n");
        }

        foreach (var note in data.Summary.Notes)
        {
            md.Append(CultureInfo.InvariantCulture, $"- {note}\n");
        }

        return md.ToString();
    }
}
