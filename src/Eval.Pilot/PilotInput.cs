using System.Text.RegularExpressions;
using Spark.Eval.Core;

namespace Spark.Eval.Pilot;

/// <summary>The telemetry formats pilot analysis reads (docs/pilot.md documents each one and its source).</summary>
public enum PilotSourceFormat
{
    PlainCsv,
    PlainJsonLines,
    Otlp,
    CopilotUserReport,
    CopilotTeamMetrics,
    GitLog,
    GitRepository,
}

/// <summary>Options that apply while reading: lenient bad-row handling and how commit messages name tasks.</summary>
public sealed record PilotReadOptions
{
    public bool Lenient { get; init; }

    public string TaskPattern { get; init; } = GitHistoryReader.DefaultTaskPattern;
}

/// <summary>Detects each input's format and streams it into a <see cref="PilotAggregator"/>.</summary>
public static class PilotInput
{
    public static PilotSourceFormat Detect(string path)
    {
        if (Directory.Exists(path))
        {
            if (Directory.Exists(Path.Combine(path, ".git")) || File.Exists(Path.Combine(path, ".git")) || File.Exists(Path.Combine(path, "HEAD")))
            {
                return PilotSourceFormat.GitRepository;
            }

            throw InputException.At(path, null, null, "a directory that is not a git repository", "pass files, or a git repository's directory");
        }

        if (!File.Exists(path))
        {
            throw InputException.At(path, null, null, "file not found", "check the path");
        }

        var extension = Path.GetExtension(path).ToLowerInvariant();
        switch (extension)
        {
            case ".gitlog":
                return PilotSourceFormat.GitLog;
            case ".csv":
                return PilotSourceFormat.PlainCsv;
            case ".json":
                return FirstChar(path) == '[' ? PilotSourceFormat.CopilotTeamMetrics : PilotSourceFormat.Otlp;
            case ".jsonl":
            case ".ndjson":
                {
                    var first = FirstLine(path) ?? "";
                    if (first.Contains("\"resourceLogs\"", StringComparison.Ordinal) || first.Contains("\"resourceMetrics\"", StringComparison.Ordinal)
                        || first.Contains("\"resourceSpans\"", StringComparison.Ordinal))
                    {
                        return PilotSourceFormat.Otlp;
                    }

                    return first.Contains("\"user_login\"", StringComparison.Ordinal) ? PilotSourceFormat.CopilotUserReport : PilotSourceFormat.PlainJsonLines;
                }

            default:
                throw InputException.At(path, null, null, $"unknown file type '{extension}'",
                    "use .csv / .jsonl (plain events), .jsonl with OTLP export requests, .ndjson (Copilot per-user report), .json (Copilot org/team metrics), .gitlog or a git repository directory");
        }
    }

    /// <summary>Reads one input; a bad row throws <see cref="InputException"/> unless lenient, where it is counted.</summary>
    public static PilotInputSummary Read(string path, PilotAggregator sink, PilotReadOptions options)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        var format = Detect(path);
        var errors = new RowErrors(path, options.Lenient);
        var taskPattern = new Regex(options.TaskPattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        var rows = format switch
        {
            PilotSourceFormat.PlainCsv => PlainEventReader.ReadCsv(path, sink, errors),
            PilotSourceFormat.PlainJsonLines => PlainEventReader.ReadJsonLines(path, sink, errors),
            PilotSourceFormat.Otlp => OtlpJsonReader.Read(path, sink, errors),
            PilotSourceFormat.CopilotUserReport => CopilotMetricsReader.ReadUserReport(path, sink, errors),
            PilotSourceFormat.CopilotTeamMetrics => CopilotMetricsReader.ReadTeamMetrics(path, sink, errors),
            PilotSourceFormat.GitLog => GitHistoryReader.ReadFile(path, sink, errors, taskPattern),
            PilotSourceFormat.GitRepository => GitHistoryReader.ReadRepository(path, sink, errors, taskPattern),
            _ => throw new InvalidOperationException(format.ToString()),
        };
        return new PilotInputSummary(Path.GetFileName(Path.TrimEndingDirectorySeparator(path)), FormatName(format), rows, errors.Skipped, errors.FirstSkipped);
    }

    public static string FormatName(PilotSourceFormat format) => format switch
    {
        PilotSourceFormat.PlainCsv => "plain-csv",
        PilotSourceFormat.PlainJsonLines => "plain-jsonl",
        PilotSourceFormat.Otlp => "otlp-json",
        PilotSourceFormat.CopilotUserReport => "copilot-users",
        PilotSourceFormat.CopilotTeamMetrics => "copilot-metrics",
        PilotSourceFormat.GitLog => "gitlog",
        PilotSourceFormat.GitRepository => "git",
        _ => format.ToString(),
    };

    private static char FirstChar(string path)
    {
        using var reader = new StreamReader(path);
        int c;
        while ((c = reader.Read()) >= 0)
        {
            if (!char.IsWhiteSpace((char)c) && c != '\uFEFF')
            {
                return (char)c;
            }
        }

        return '\0';
    }

    private static string? FirstLine(string path)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                return line;
            }
        }

        return null;
    }
}
