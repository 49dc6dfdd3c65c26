using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Spark.Eval.Pilot;

/// <summary>One row of the plain event format (docs/pilot.md): CSV columns or JSON Lines fields of the same names.</summary>
public sealed record PlainEventRow
{
    [JsonPropertyName("developer")] public string? Developer { get; init; }
    [JsonPropertyName("timestamp")] public string? Timestamp { get; init; }
    [JsonPropertyName("event")] public string? Event { get; init; }
    [JsonPropertyName("task")] public string? Task { get; init; }
    [JsonPropertyName("cohort")] public string? Cohort { get; init; }
    [JsonPropertyName("kind")] public string? Kind { get; init; }
    [JsonPropertyName("duration_ms")] public double? DurationMs { get; init; }
    [JsonPropertyName("count")] public int? Count { get; init; }
}

/// <summary>Reads the plain event format, CSV (streaming, span-based: the fast path for large pilots) or JSON Lines.</summary>
internal static class PlainEventReader
{
    public static readonly string[] Columns = ["developer", "timestamp", "event", "task", "cohort", "kind", "duration_ms", "count"];

    public static readonly string[] EventNames =
        ["task_start", "prompt", "api_request", "suggestion_shown", "suggestion_accepted", "commit", "session_start", "activity", "interaction"];

    public static long ReadCsv(string path, PilotAggregator sink, RowErrors errors)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8, true, 1 << 16);
        var header = reader.ReadLine();
        var lineNumber = 1;
        while (header is not null && (header.Length == 0 || header.StartsWith('#')))
        {
            header = reader.ReadLine();
            lineNumber++;
        }

        if (header is null)
        {
            errors.Bad(1, "header", "the file is empty", $"start with the header '{string.Join(',', Columns[..5])}'");
            return 0;
        }

        // Column positions: which CSV column holds each known field (-1 when absent).
        var names = SimpleCsv.Split(header);
        var position = new int[Columns.Length];
        for (var c = 0; c < Columns.Length; c++)
        {
            position[c] = names.FindIndex(n => n.Trim().Equals(Columns[c], StringComparison.OrdinalIgnoreCase));
        }

        for (var c = 0; c < 3; c++)
        {
            if (position[c] < 0)
            {
                throw Spark.Eval.Core.InputException.At(path, lineNumber, Columns[c], "header is missing this column",
                    $"start the file with a header naming at least developer,timestamp,event (optional: {string.Join(',', Columns[3..])})");
            }
        }

        var width = names.Count;
        Span<Range> ranges = new Range[width + 1];
        long rows = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            rows++;
            if (line.Contains('"', StringComparison.Ordinal))
            {
                var fields = SimpleCsv.Split(line);
                var joined = string.Join('\u001f', fields);
                AddCsvRow(joined.AsSpan(), ranges, joined.AsSpan().Split(ranges, '\u001f'), position, width, lineNumber, sink, errors);
                continue;
            }

            var span = line.AsSpan();
            AddCsvRow(span, ranges, span.Split(ranges, ','), position, width, lineNumber, sink, errors);
        }

        return rows;
    }

    private static void AddCsvRow(ReadOnlySpan<char> line, Span<Range> ranges, int count, int[] position, int width, int lineNumber, PilotAggregator sink, RowErrors errors)
    {
        if (count != width)
        {
            errors.Bad(lineNumber, count < width ? Columns[Math.Min(FirstMissing(position, count), Columns.Length - 1)] : "row",
                $"{count} fields where the header has {width}", "give one value per header column (empty for none)");
            return;
        }

        Add(Field(line, ranges, position, 0), Field(line, ranges, position, 1), Field(line, ranges, position, 2), Field(line, ranges, position, 3),
            Field(line, ranges, position, 4), Field(line, ranges, position, 5), Field(line, ranges, position, 6), Field(line, ranges, position, 7),
            lineNumber, sink, errors);
    }

    private static ReadOnlySpan<char> Field(ReadOnlySpan<char> line, Span<Range> ranges, int[] position, int column) =>
        position[column] < 0 ? [] : line[ranges[position[column]]];

    private static int FirstMissing(int[] position, int count)
    {
        for (var c = 0; c < position.Length; c++)
        {
            if (position[c] >= count)
            {
                return c;
            }
        }

        return 0;
    }

    public static long ReadJsonLines(string path, PilotAggregator sink, RowErrors errors)
    {
        long rows = 0;
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            rows++;
            PlainEventRow? row;
            try
            {
                row = JsonSerializer.Deserialize(line, PilotJsonContext.Default.PlainEventRow);
            }
            catch (JsonException ex)
            {
                var field = ex.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : "json";
                errors.Bad(lineNumber, field, "not valid JSON for this field (" + FirstSentence(ex.Message) + ")", "write one JSON object a line with the fields of docs/pilot.md");
                continue;
            }

            if (row is null)
            {
                errors.Bad(lineNumber, "json", "null", "write one JSON object a line");
                continue;
            }

            Add(row.Developer, row.Timestamp, row.Event, row.Task, row.Cohort, row.Kind,
                row.DurationMs?.ToString("R", CultureInfo.InvariantCulture), row.Count?.ToString(CultureInfo.InvariantCulture), lineNumber, sink, errors);
        }

        return rows;
    }

    private static string FirstSentence(string message)
    {
        var dot = message.IndexOf(". ", StringComparison.Ordinal);
        return dot > 0 ? message[..dot] : message;
    }

    private static void Add(ReadOnlySpan<char> developer, ReadOnlySpan<char> timestamp, ReadOnlySpan<char> eventName, ReadOnlySpan<char> task,
        ReadOnlySpan<char> cohort, ReadOnlySpan<char> kind, ReadOnlySpan<char> duration, ReadOnlySpan<char> countText, int lineNumber, PilotAggregator sink, RowErrors errors)
    {
        developer = developer.Trim();
        if (developer.IsEmpty)
        {
            errors.Bad(lineNumber, "developer", "empty", "give the developer's name, e-mail or login");
            return;
        }

        if (!Timestamps.TryParseUnixMs(timestamp, out var timeMs))
        {
            errors.Bad(lineNumber, "timestamp", $"'{timestamp.ToString()}' is not an ISO 8601 time", "write e.g. 2026-03-02T09:15:00Z");
            return;
        }

        if (!TryKind(eventName.Trim(), out var eventKind))
        {
            errors.Bad(lineNumber, "event", $"'{eventName.ToString()}' is not a known event", $"use one of {string.Join(", ", EventNames)}");
            return;
        }

        if (!CohortMap.TryParseCohort(cohort, out var cohortValue))
        {
            errors.Bad(lineNumber, "cohort", $"'{cohort.ToString()}' is not a cohort", "write pilot, control or leave it empty");
            return;
        }

        double durationMs = 0;
        duration = duration.Trim();
        if (!duration.IsEmpty && (!double.TryParse(duration, NumberStyles.Float, CultureInfo.InvariantCulture, out durationMs) || durationMs < 0 || !double.IsFinite(durationMs)))
        {
            errors.Bad(lineNumber, "duration_ms", $"'{duration.ToString()}' is not a non-negative number", "give the wait in milliseconds, e.g. 1850");
            return;
        }

        var count = 1;
        countText = countText.Trim();
        if (!countText.IsEmpty && (!int.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out count)))
        {
            errors.Bad(lineNumber, "count", $"'{countText.ToString()}' is not a non-negative whole number", "give a count such as 3, or leave it empty for 1");
            return;
        }

        task = task.Trim();
        if (eventKind == PilotEventKind.TaskStart && task.IsEmpty)
        {
            errors.Bad(lineNumber, "task", "a task_start needs a task", "give the task's key, e.g. PROJ-123");
            return;
        }

        var dev = sink.Developer(developer);
        if (cohortValue != Cohort.Unknown)
        {
            sink.SetCohortFromEvents(dev, cohortValue);
        }

        var taskId = -1;
        if (!task.IsEmpty)
        {
            taskId = sink.Task(task);
            sink.SetTaskKind(taskId, kind.Trim());
        }

        sink.Add(dev, timeMs, eventKind, taskId, durationMs, count);
    }

    private static bool TryKind(ReadOnlySpan<char> name, out PilotEventKind kind)
    {
        kind = name switch
        {
            "task_start" => PilotEventKind.TaskStart,
            "prompt" => PilotEventKind.Prompt,
            "api_request" => PilotEventKind.ApiRequest,
            "suggestion_shown" => PilotEventKind.SuggestionShown,
            "suggestion_accepted" => PilotEventKind.SuggestionAccepted,
            "commit" => PilotEventKind.Commit,
            "session_start" => PilotEventKind.SessionStart,
            "activity" => PilotEventKind.Activity,
            "interaction" => PilotEventKind.Interaction,
            _ => (PilotEventKind)255,
        };
        return kind != (PilotEventKind)255;
    }
}
