using System.Text;
using System.Text.Json;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>The files of one run directory and the one way they are (re)written: every summary from attempts.jsonl alone.</summary>
public sealed class RunDirectory(string path)
{
    public const string ManifestFileName = "manifest.json";
    public const string SummaryJsonFileName = "summary.json";

    public string Path { get; } = path;

    public string AttemptsPath => System.IO.Path.Combine(Path, AttemptLog.FileName);

    public string ManifestPath => System.IO.Path.Combine(Path, ManifestFileName);

    public bool Exists => File.Exists(ManifestPath);

    public RunManifest ReadManifest()
    {
        if (!File.Exists(ManifestPath))
        {
            throw Core.InputException.At(Path, null, null, $"not a run directory (no {ManifestFileName})",
                "pass a directory written by 'spark-eval run'");
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(ManifestPath), CoreJsonContext.Default.RunManifest)
                ?? throw new JsonException("empty manifest");
        }
        catch (JsonException ex)
        {
            throw Core.InputException.At(ManifestPath, null, ex.Path, $"unreadable manifest ({ex.Message})", "restore the file or start a new run");
        }
    }

    public void WriteManifest(RunManifest manifest) =>
        WriteAtomic(ManifestPath, JsonSerializer.SerializeToUtf8Bytes(manifest, CoreIndentedJsonContext.Default.RunManifest));

    /// <summary>Recomputes summary.json, summary.csv, attempts.csv and the reports (report.html, report.md, plots/) from attempts.jsonl and returns the summary.</summary>
    public RunSummary WriteSummaries(RunManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var (records, _) = AttemptLog.Read(AttemptsPath);
        var summary = SummaryCalculator.Compute(manifest.RunId, records, manifest.Plan.Slo);
        WriteAtomic(System.IO.Path.Combine(Path, SummaryJsonFileName),
            JsonSerializer.SerializeToUtf8Bytes(summary, CoreIndentedJsonContext.Default.RunSummary));
        WriteText(CsvReports.SummaryFileName, w => CsvReports.WriteSummary(w, summary, manifest));
        WriteText(CsvReports.AttemptsFileName, w => CsvReports.WriteAttempts(w, records));
        // The run's own arrivals as a Mooncake trace: replayable with run --trace, or by AIPerf.
        WriteAtomic(System.IO.Path.Combine(Path, Core.Traces.MooncakeTraceWriter.FileName),
            Encoding.UTF8.GetBytes(Core.Traces.MooncakeTraceWriter.Render(Core.Traces.MooncakeTraceWriter.FromAttempts(records))));
        WriteReports(ReportData.From(manifest, summary, records));
        return summary;
    }

    /// <summary>Reads the manifest and attempts and computes the summary, writing nothing (for comparisons).</summary>
    public ReportData Load()
    {
        var manifest = ReadManifest();
        if (manifest.Status == PeerImport.ImportedStatus)
        {
            // A peer tool's result (spark-eval import): its summary.json is the source; there are no attempts to recompute from.
            var imported = JsonSerializer.Deserialize(File.ReadAllBytes(System.IO.Path.Combine(Path, SummaryJsonFileName)), CoreJsonContext.Default.RunSummary)
                ?? throw Core.InputException.At(Path, null, SummaryJsonFileName, "empty summary of an imported run", "import the peer result again");
            return ReportData.From(manifest, imported, []);
        }

        var (records, _) = AttemptLog.Read(AttemptsPath);
        var summary = SummaryCalculator.Compute(manifest.RunId, records, manifest.Plan.Slo);
        return ReportData.From(manifest, summary, records);
    }

    /// <summary>Writes plots/*.png|svg, report.md and report.html.</summary>
    private void WriteReports(ReportData data)
    {
        var plots = ReportPlots.Build(data);
        var svgs = ReportPlots.Write(plots, System.IO.Path.Combine(Path, "plots"));
        WriteAtomic(System.IO.Path.Combine(Path, MarkdownReport.FileName), Encoding.UTF8.GetBytes(MarkdownReport.Render(data, plots)));
        WriteAtomic(System.IO.Path.Combine(Path, HtmlReport.FileName), Encoding.UTF8.GetBytes(HtmlReport.Render(data, plots, svgs)));
    }

    private void WriteText(string name, Action<TextWriter> write)
    {
        using var buffer = new StringWriter();
        write(buffer);
        WriteAtomic(System.IO.Path.Combine(Path, name), Encoding.UTF8.GetBytes(buffer.ToString()));
    }

    /// <summary>Writes through a temporary file and a rename, so a reader never sees half a file.</summary>
    public static void WriteAtomic(string path, byte[] bytes)
    {
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
