using System.Globalization;
using Spark.Eval.Cli.Commands;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Reporting;
using Spectre.Console;

namespace Spark.Eval.Cli;

/// <summary>Display of the nightly-regression outputs of <c>compare</c>: the pooled baseline's estimates and the power plan.</summary>
internal static class NightlyOutput
{
    /// <summary>The baseline run, or, with more runs of its configuration, all of them pooled (their estimates printed first).</summary>
    public static ReportData LoadBaseline(string baseline, IReadOnlyList<string> more, TextWriter writer)
    {
        if (more.Count == 0)
        {
            return new RunDirectory(baseline).Load();
        }

        var (pooled, runs) = RunAggregate.Load([baseline, .. more]);
        WriteAggregate(writer, RunAggregate.Estimate(runs));
        return pooled;
    }

    public static void WriteAggregate(TextWriter writer, IReadOnlyList<AggregateEstimate> rows)
    {
        var console = SummaryTable.TableConsole(writer, 160);
        writer.WriteLine("baseline: several runs of one configuration, one estimate each");
        var table = new Table().Border(TableBorder.Simple).AddColumn("backend").AddColumn("metric").AddColumn(new TableColumn("runs").RightAligned())
            .AddColumn(new TableColumn("estimate").RightAligned()).AddColumn(new TableColumn("95 % interval").RightAligned()).AddColumn("per run").AddColumn("method");
        foreach (var r in rows)
        {
            var ratio = r.Metric.EndsWith("_ms", StringComparison.Ordinal);
            string F(double v) => ratio ? ReportTables.F(v) : ReportTables.Percent(v);
            string[] cells =
            [
                r.Backend, r.Metric, r.Runs.ToString(CultureInfo.InvariantCulture), F(r.Estimate),
                r.Low is { } low && r.High is { } high ? $"[{F(low)}, {F(high)}]" : "–", string.Join(" ", r.PerRun.Select(F)), r.Method,
            ];
            table.AddRow([.. cells.Select(Markup.Escape)]);
        }

        console.Write(table);
    }

    public static void WritePlan(TextWriter writer, PowerPlan plan)
    {
        var console = SummaryTable.TableConsole(writer, 180);
        writer.WriteLine($"power plan from baseline {plan.BaselineRun}: 80 % power to flag each target, false alarm ≤ 0.5 % per metric");
        var table = new Table().Border(TableBorder.Simple).AddColumn("backend").AddColumn("metric").AddColumn(new TableColumn("target").RightAligned())
            .AddColumn(new TableColumn("baseline n (repeats)").RightAligned()).AddColumn(new TableColumn("detectable now").RightAligned())
            .AddColumn(new TableColumn("repeats").RightAligned()).AddColumn(new TableColumn("n").RightAligned()).AddColumn("gate with --tolerance");
        foreach (var r in plan.Rows)
        {
            var ratio = r.ChangeKind == "ratio";
            string Effect(double v) => double.IsNaN(v) ? "–" : ratio ? (v * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : (v * 100).ToString("0.0", CultureInfo.InvariantCulture) + " pts";
            string[] cells =
            [
                r.Backend, r.Metric, Effect(r.Target), $"{r.BaselineSamples} ({r.BaselineRepeats})", Effect(r.DetectableAtBaseline),
                r.RecommendedRepeats.ToString(CultureInfo.InvariantCulture), r.RecommendedSamples.ToString(CultureInfo.InvariantCulture),
                $"{r.Metric}={(ratio ? (r.RecommendedTolerance * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%" : r.RecommendedTolerance.ToString("0.###", CultureInfo.InvariantCulture))}",
            ];
            table.AddRow([.. cells.Select(Markup.Escape)]);
        }

        console.Write(table);
        var tolerances = plan.Rows.GroupBy(r => r.Metric).Select(g => g.Key + "=" + (g.First().ChangeKind == "ratio"
            ? (g.Min(r => r.RecommendedTolerance) * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%"
            : g.Min(r => r.RecommendedTolerance).ToString("0.###", CultureInfo.InvariantCulture)));
        writer.WriteLine($"recommendation: run --repeats {plan.RecommendedRepeats}, then compare --tolerance \"{string.Join(',', tolerances)}\"");
        foreach (var note in plan.Notes)
        {
            writer.WriteLine($"note: {note}");
        }
    }

    /// <summary>The --fail-if gate's CI outputs (JUnit XML, GitHub step summary) and its closing PASS/FAIL line (docs/reports.md).</summary>
    public static void PublishRunGate(RunRequest request, Core.Metrics.RunSummary summary, int exit, string runDirectory, TimeProvider time, TextWriter stderr)
    {
        if ((request.Thresholds.Count == 0 && request.JUnit is null) || exit == SparkEvalCli.ExitInterrupted)
        {
            return;
        }

        var cases = Threshold.Cases(request.Thresholds, summary);
        var gate = new GateReport($"spark-eval run --fail-if {runDirectory}", time.GetUtcNow(),
            exit == SparkEvalCli.ExitThresholdFailed && !cases.Any(c => c.Status == GateStatus.Failed)
                ? [.. cases, .. summary.Backends.Select(b => new GateCase(b.Backend, "attempts_ok", GateStatus.Failed, "every attempt failed"))]
                : cases, summary.Notes);
        gate.Publish(request.JUnit, Environment.GetEnvironmentVariable(StepSummary.GitHubVariable), stderr);
    }
}
