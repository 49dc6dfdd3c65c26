using System.Text.Json;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Reporting;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval run --sweep</c>: wires <see cref="SweepRunner"/> (one run per load, then the SLO search) and prints the table and the verdict.</summary>
internal static class RunSweep
{
    public static async Task<int> ExecuteAsync(RunRequest request, SweepSpec sweep, TaskSuite suite, IReadOnlyList<BenchTask> tasks, BackendSet backends,
        GradingPlan? grading, TextWriter stdout, TextWriter stderr, TimeProvider time, CancellationToken ct)
    {
        var plan = request.Plan;
        var dir = request.OutDir ?? Path.Combine("results", $"sweep-{time.GetUtcNow():yyyyMMdd-HHmmss}-s{plan.Seed}");
        var suiteInfo = new SuiteInfo(suite.Name, suite.Source, suite.Sha256, tasks.Count);
        RunManifest NewManifest(RunPlanSpec stepPlan) =>
            RunStore.NewManifest(stepPlan with { BackendSpecs = [.. stepPlan.BackendSpecs.Select(SecretRedaction.RedactSpec)] }, suiteInfo, backends.Infos, time);

        using var signals = ShutdownSignals.Register(stderr, ct);
        // The steps are parts of one measurement, not runs of their own in the history.
        var evaluation = new EvaluationRun(time, TokenCounter.Default, new RunReportWriter(), history: null, stderr.WriteLine);
        var runner = new SweepRunner(time, evaluation, stderr.WriteLine);
        // A progress display per step (its counts and TTFT are the step's), printed a line per 10 %.
        var outcome = await runner.RunAsync(dir, plan, sweep, request.SweepSlo, request.SweepSearch, suite.Name, NewManifest,
            tasks, backends.Runnable, grading, () => [new ProgressDisplay(stderr, time)], (report, at) => SweepReportWriter.WriteAll(report, at), signals.Token);

        var report = outcome.Report;
        var table = request.Json ? stderr : stdout;
        await table.WriteAsync(SweepReportWriter.RenderTable(report).AsMemory(), ct);
        foreach (var line in report.Verdicts.Select(v => "verdict: " + v.Text).Concat(report.Notes.Select(n => "note: " + n)))
        {
            await table.WriteLineAsync(line.AsMemory(), ct);
        }

        if (request.Json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(report, CoreIndentedJsonContext.Default.SweepReport).AsMemory(), ct);
        }

        await stderr.WriteLineAsync($"sweep directory: {dir}  (status {report.Status}; {SweepReport.FileName}, {SweepReportWriter.CsvFile}, report: {Path.Combine(dir, SweepReportWriter.HtmlFile)}; fit a profile to it: spark-eval simulate calibrate --from-run {dir} --hw <id> --model <id>)".AsMemory(), ct);
        if (outcome.Status == RunStatus.Interrupted)
        {
            await stderr.WriteLineAsync("interrupted: the finished steps are in sweep.json; the interrupted step can be finished with spark-eval run --resume <its step folder>".AsMemory(), ct);
            return SparkEvalCli.ExitInterrupted;
        }

        // Every attempt of every step failed: the curve measures nothing.
        return report.Points.Count > 0 && report.Points.All(p => p.Ok == 0) ? SparkEvalCli.ExitThresholdFailed : SparkEvalCli.ExitOk;
    }
}
