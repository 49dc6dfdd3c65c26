using System.Globalization;
using System.Text;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>A gate as a Markdown block for CI job pages (appended to GitHub's <c>GITHUB_STEP_SUMMARY</c> file).</summary>
public static class StepSummary
{
    /// <summary>The variable GitHub Actions sets to the file a step appends its Markdown summary to.</summary>
    public const string GitHubVariable = "GITHUB_STEP_SUMMARY";

    public static string Render(GateReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"### {(report.Failed ? "❌" : "✅")} {Escape(report.Name)}\n\n");
        md.Append("| backend | metric | status | numbers |\n|---|---|---|---|\n");
        foreach (var gate in report.Cases)
        {
            var status = gate.Status switch
            {
                GateStatus.Failed => "**FAIL**",
                GateStatus.Skipped => "skipped",
                _ => "pass",
            };
            md.Append(CultureInfo.InvariantCulture, $"| {Escape(gate.Backend)} | {Escape(gate.Metric)} | {status} | {Escape(gate.Detail)} |\n");
        }

        foreach (var note in report.Notes)
        {
            md.Append(CultureInfo.InvariantCulture, $"\n- {Escape(note)}");
        }

        return md.Append(CultureInfo.InvariantCulture, $"\n\n`{report.VerdictLine()}`\n\n").ToString();
    }

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
