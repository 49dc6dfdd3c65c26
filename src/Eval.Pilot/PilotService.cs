using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Pilot;

/// <summary>What <c>pilot analyze</c> was asked to do.</summary>
public sealed record PilotAnalyzeRequest
{
    public required IReadOnlyList<string> Inputs { get; init; }

    public string? CohortsPath { get; init; }

    public string? AuthorsPath { get; init; }

    public PilotReadOptions Read { get; init; } = new();

    public required PilotAnalysisOptions Analysis { get; init; }

    public bool ThinkTimes { get; init; }
}

/// <summary>The analysis result: the report, and the think-time export when asked for.</summary>
public sealed record PilotAnalyzeResult(PilotReport Report, ThinkTimeExport? ThinkTimes);

/// <summary>Reads every input, then analyses; nothing is written until all input has been read and validated.</summary>
public static class PilotService
{
    public static PilotAnalyzeResult Analyze(PilotAnalyzeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Inputs.Count == 0)
        {
            throw new InputException("no telemetry files given. Fix: pass one or more files (see 'spark-eval pilot analyze --help').");
        }

        request.Analysis.Validate();
        var authors = request.AuthorsPath is null ? IdentityMap.Empty : IdentityMap.Load(request.AuthorsPath);
        var cohorts = request.CohortsPath is null ? null : CohortMap.Load(request.CohortsPath);
        var sink = new PilotAggregator(authors, cohorts);
        var summaries = new List<PilotInputSummary>();
        foreach (var input in request.Inputs)
        {
            summaries.Add(PilotInput.Read(input, sink, request.Read));
        }

        var report = PilotAnalysis.Analyze(sink, summaries, request.Analysis);
        var thinkTimes = request.ThinkTimes ? PilotAnalysis.ThinkTimes(sink) : null;
        return new PilotAnalyzeResult(report, thinkTimes);
    }

    public static void WriteThinkTimes(ThinkTimeExport export, string path)
    {
        ArgumentNullException.ThrowIfNull(export);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        RunDirectory.WriteAtomic(path, Encoding.UTF8.GetBytes(JsonSerializer.Serialize(export, PilotJsonContext.Default.ThinkTimeExport)));
    }

    /// <summary>Reads a pilot report (pilot.json) back, checking its kind and format version.</summary>
    public static PilotReport ReadReport(string path) =>
        ReadExport(path, PilotJsonContext.Default.PilotReport, "spark-eval.pilot-report", PilotReport.CurrentFormatVersion, r => (r.Kind, r.FormatVersion),
            "a pilot report", "pass the pilot.json that 'spark-eval pilot analyze --out DIR' wrote");

    /// <summary>
    /// The pilot cohort's interactive uses per developer-day during the pilot (the mean over its developers, the report's
    /// uses_per_dev_day cell) and how many developers it averages: the measured demand a procurement plan can use.
    /// </summary>
    public static (double UsesPerDeveloperDay, int Developers) PilotDemand(PilotReport report, string path)
    {
        ArgumentNullException.ThrowIfNull(report);
        var cell = report.Effects.FirstOrDefault(e => e.Metric == "uses_per_dev_day")?.Cells.FirstOrDefault(c => c.Cohort == Cohort.Pilot && c.Period == Period.During);
        return cell is { Mean: { } mean, Developers: > 0 } && mean > 0
            ? (mean, cell.Developers)
            : throw InputException.At(path, null, "effects[uses_per_dev_day]", "has no pilot-cohort uses during the pilot", "analyze telemetry that covers the pilot period (--pilot-start) and names the pilot cohort (--cohorts)");
    }

    /// <summary>Reads a think-time export back (session replay's entry point), checking its format version.</summary>
    public static ThinkTimeExport ReadThinkTimes(string path) =>
        ReadExport(path, PilotJsonContext.Default.ThinkTimeExport, "spark-eval.think-times", ThinkTimeExport.CurrentFormatVersion, e => (e.Kind, e.FormatVersion),
            "a think-time export", "write it with 'spark-eval pilot analyze --think-times'");

    /// <summary>Reads one of pilot analyze's JSON outputs, refusing a missing file, bad JSON, or another kind or version (exit 2).</summary>
    private static T ReadExport<T>(string path, JsonTypeInfo<T> type, string kind, int version, Func<T, (string Kind, int Version)> header, string what, string fix)
        where T : class
    {
        if (!File.Exists(path))
        {
            throw new InputException($"{path}: file not found. Fix: {fix}");
        }

        T? value;
        try
        {
            value = JsonSerializer.Deserialize(File.ReadAllText(path), type);
        }
        catch (JsonException ex)
        {
            throw InputException.At(path, (int?)(ex.LineNumber + 1), ex.Path, $"not {what}", fix);
        }

        if (value is null || header(value) != (kind, version))
        {
            throw InputException.At(path, 1, "formatVersion", $"expected kind {kind} version {version}", "regenerate it with this version of spark-eval");
        }

        return value;
    }
}
