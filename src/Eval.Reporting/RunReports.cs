using System.Text;
using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;

namespace Spark.Eval.Reporting;

/// <summary>The one way a run directory's summaries and reports are (re)written: every figure from the attempt records alone.</summary>
public static class RunReports
{
    /// <summary>Recomputes summary.json, summary.csv, attempts.csv and the reports (report.html, report.md, plots/) from attempts.jsonl and returns the summary.</summary>
    public static RunSummary WriteSummaries(this RunDirectory directory, RunManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var (records, _) = AttemptLog.Read(directory.AttemptsPath);
        return directory.WriteSummaries(manifest, records);
    }

    /// <summary>Writes every summary and report of <paramref name="records"/> (the run's attempts, already read) and returns the summary.</summary>
    public static RunSummary WriteSummaries(this RunDirectory directory, RunManifest manifest, IReadOnlyList<AttemptRecord> records)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(records);
        // attempts.csv and the arrivals trace need no summary: written on a second core meanwhile (each file as before; a session run
        // in virtual time spends a fifth of its time here, docs/benchmarks.md).
        var perAttempt = Task.Run(() =>
        {
            WriteText(directory, CsvReports.AttemptsFileName, w => CsvReports.WriteAttempts(w, records));
            // The run's own arrivals as a Mooncake trace: replayable with run --trace, or by AIPerf.
            RunDirectory.WriteAtomic(Path.Combine(directory.Path, Core.Traces.MooncakeTraceWriter.FileName),
                Encoding.UTF8.GetBytes(Core.Traces.MooncakeTraceWriter.Render(Core.Traces.MooncakeTraceWriter.FromAttempts(records))));
        });
        try
        {
            var summary = SummaryCalculator.Compute(manifest, records);
            RunDirectory.WriteAtomic(Path.Combine(directory.Path, RunDirectory.SummaryJsonFileName),
                JsonSerializer.SerializeToUtf8Bytes(summary, CoreIndentedJsonContext.Default.RunSummary));
            WriteText(directory, CsvReports.SummaryFileName, w => CsvReports.WriteSummary(w, summary, manifest));
            WriteReports(directory, ReportData.From(manifest, summary, records));
            return summary;
        }
        finally
        {
            // Its error (a full disk) surfaces here; on an error of this thread's work, after it has finished.
            perAttempt.GetAwaiter().GetResult();
        }
    }

    /// <summary>Reads the manifest and attempts and computes the summary, writing nothing (for comparisons).</summary>
    public static ReportData Load(this RunDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var manifest = directory.ReadManifest();
        if (manifest.Status == PeerImport.ImportedStatus)
        {
            // A peer tool's result (spark-eval import): its summary.json is the source; there are no attempts to recompute from.
            var imported = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(directory.Path, RunDirectory.SummaryJsonFileName)), CoreJsonContext.Default.RunSummary)
                ?? throw InputException.At(directory.Path, null, RunDirectory.SummaryJsonFileName, "empty summary of an imported run", "import the peer result again");
            return ReportData.From(manifest, imported, []);
        }

        var (records, _) = AttemptLog.Read(directory.AttemptsPath);
        var summary = SummaryCalculator.Compute(manifest, records);
        return ReportData.From(manifest, summary, records);
    }

    /// <summary>Writes plots/*.png|svg, report.md and report.html.</summary>
    private static void WriteReports(RunDirectory directory, ReportData data)
    {
        var plots = ReportPlots.Build(data);
        var svgs = ReportPlots.Write(plots, Path.Combine(directory.Path, "plots"));
        RunDirectory.WriteAtomic(Path.Combine(directory.Path, MarkdownReport.FileName), Encoding.UTF8.GetBytes(MarkdownReport.Render(data, plots)));
        RunDirectory.WriteAtomic(Path.Combine(directory.Path, HtmlReport.FileName), Encoding.UTF8.GetBytes(HtmlReport.Render(data, plots, svgs)));
    }

    private static void WriteText(RunDirectory directory, string name, Action<TextWriter> write)
    {
        using var buffer = new StringWriter();
        write(buffer);
        RunDirectory.WriteAtomic(Path.Combine(directory.Path, name), Encoding.UTF8.GetBytes(buffer.ToString()));
    }
}

/// <summary>The report writer an <see cref="EvaluationRun"/> uses: summary.json/csv, attempts.csv, report.md/html and plots.</summary>
public sealed class RunReportWriter : IRunReportWriter
{
    public RunSummary Write(RunDirectory directory, RunManifest manifest, IReadOnlyList<AttemptRecord> records) =>
        directory.WriteSummaries(manifest, records);
}

/// <summary>Records runs into history.sqlite beside their run directory (results/history.sqlite by default).</summary>
public sealed class RunHistory(string? location = null) : IRunHistory
{
    /// <summary>The history file for a run directory: history.sqlite beside it.</summary>
    public static string PathFor(string runDirectory) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(runDirectory)) ?? ".", HistoryStore.FileName);

    /// <summary>Where a run is recorded: the given location (a file or postgresql:// URL), else $SPARK_EVAL_HISTORY, else history.sqlite beside the run.</summary>
    public string Describe(RunDirectory directory)
    {
        var target = Target(directory);
        return HistoryStores.IsPostgres(target) ? PostgresHistoryStore.ToConnectionString(target).Redacted : target;
    }

    /// <summary>Records a run's summary into the history; a history that cannot be written is reported, never fatal to the run.</summary>
    public void Record(RunDirectory directory, RunManifest manifest, RunSummary summary, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var target = Target(directory);
        try
        {
            using var store = HistoryStores.Open(target);
            store.Record(manifest, summary, directory.Path);
        }
        catch (Exception ex) when (ex is InputException or IOException or UnauthorizedAccessException or System.Data.Common.DbException)
        {
            // A corrupt, locked or unwritable history must not lose the run's verdict nor crash every later run.
            log($"warning: run not recorded in history {Describe(directory)}: {ex.Message} Fix: move the history file aside (a new one is created) or pass --history elsewhere");
        }
    }

    /// <summary>The history a run goes to: the given location, else $SPARK_EVAL_HISTORY, else history.sqlite beside the run.</summary>
    private string Target(RunDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var shared = Environment.GetEnvironmentVariable(HistoryStores.EnvironmentVariable);
        return location ?? (string.IsNullOrEmpty(shared) ? PathFor(directory.Path) : shared);
    }
}
