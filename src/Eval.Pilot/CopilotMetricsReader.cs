using System.Globalization;
using System.Text.Json;

namespace Spark.Eval.Pilot;

/// <summary>
/// GitHub Copilot usage metrics: the REST API's organisation/team daily metrics (a JSON array of days, team-level,
/// no developers) and the per-user usage report (NDJSON, one record per user and day).
/// </summary>
internal static class CopilotMetricsReader
{
    /// <summary>Per-user report records (<c>users-1-day</c> NDJSON): user_login, day and the activity counts.</summary>
    public static long ReadUserReport(string path, PilotAggregator sink, RowErrors errors)
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
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException ex)
            {
                errors.Bad(lineNumber, "json", "not valid JSON (" + ex.Message.Split(". ")[0] + ")", "write one per-user record a line, as the report download does");
                continue;
            }

            using (document)
            {
                var record = document.RootElement;
                var login = record.ValueKind == JsonValueKind.Object && record.TryGetProperty("user_login", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;
                if (string.IsNullOrWhiteSpace(login))
                {
                    errors.Bad(lineNumber, "user_login", "missing or not a string", "keep user_login in each record");
                    continue;
                }

                if (!record.TryGetProperty("day", out var d) || d.ValueKind != JsonValueKind.String
                    || !DateOnly.TryParseExact(d.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
                {
                    errors.Bad(lineNumber, "day", "missing or not a yyyy-MM-dd date", "keep day in each record, e.g. \"2025-10-01\"");
                    continue;
                }

                if (!Count(record, "user_initiated_interaction_count", lineNumber, errors, out var interactions)
                    || !Count(record, "code_generation_activity_count", lineNumber, errors, out var generated)
                    || !Count(record, "code_acceptance_activity_count", lineNumber, errors, out var accepted))
                {
                    continue;
                }

                // A daily record has no time of day: it is placed at noon UTC of its day.
                var timeMs = (day.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber) * PilotAggregator.MsPerDay + (PilotAggregator.MsPerDay / 2);
                var dev = sink.Developer(login);
                sink.Add(dev, timeMs, PilotEventKind.Interaction, -1, 0, interactions);
                sink.Add(dev, timeMs, PilotEventKind.SuggestionShown, -1, 0, generated);
                sink.Add(dev, timeMs, PilotEventKind.SuggestionAccepted, -1, 0, accepted);
            }
        }

        return rows;
    }

    private static bool Count(JsonElement record, string field, int line, RowErrors errors, out int value)
    {
        value = 0;
        if (!record.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out value) || value < 0)
        {
            errors.Bad(line, field, $"'{v.GetRawText()}' is not a non-negative whole number", "keep the report's counts as numbers");
            return false;
        }

        return true;
    }

    /// <summary>Organisation/team metrics (<c>GET /orgs/{org}/copilot/metrics</c>, <c>/orgs/{org}/team/{team}/copilot/metrics</c>): team-level days.</summary>
    public static long ReadTeamMetrics(string path, PilotAggregator sink, RowErrors errors)
    {
        var bytes = File.ReadAllBytes(path);
        var lines = JsonLines.ElementStartLines(bytes);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException ex)
        {
            errors.Bad((int)(ex.LineNumber ?? 0) + 1, "json", "not valid JSON (" + ex.Message.Split(". ")[0] + ")", "save the API response body unchanged");
            return 0;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                errors.Bad(1, "json", "not a JSON array of days", "save the body of GET /orgs/{org}/copilot/metrics (an array)");
                return 0;
            }

            var scope = Path.GetFileNameWithoutExtension(path);
            long rows = 0;
            var index = 0;
            foreach (var day in document.RootElement.EnumerateArray())
            {
                var line = index < lines.Count ? lines[index] : 1;
                index++;
                rows++;
                if (day.ValueKind != JsonValueKind.Object || !day.TryGetProperty("date", out var d) || d.ValueKind != JsonValueKind.String
                    || !DateOnly.TryParseExact(d.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
                {
                    errors.Bad(line, $"[{index - 1}].date", "missing or not a yyyy-MM-dd date", "keep each day's date");
                    continue;
                }

                if (!IntField(day, "total_active_users", out var active) || !IntField(day, "total_engaged_users", out var engaged))
                {
                    errors.Bad(line, $"[{index - 1}].total_active_users", "not a non-negative whole number", "keep the API's counts as numbers");
                    continue;
                }

                long suggestions = 0, acceptances = 0, chats = 0;
                if (day.TryGetProperty("copilot_ide_code_completions", out var completions))
                {
                    foreach (var model in Nested(completions, "editors", "models"))
                    {
                        foreach (var language in Nested(model, "languages"))
                        {
                            suggestions += Long(language, "total_code_suggestions");
                            acceptances += Long(language, "total_code_acceptances");
                        }
                    }
                }

                if (day.TryGetProperty("copilot_ide_chat", out var chat))
                {
                    foreach (var model in Nested(chat, "editors", "models"))
                    {
                        chats += Long(model, "total_chats");
                    }
                }

                sink.TeamDays.Add(new TeamDay(date, scope, active, engaged, suggestions, acceptances, chats));
            }

            return rows;
        }
    }

    private static bool IntField(JsonElement e, string name, out int value)
    {
        value = 0;
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out value) && value >= 0;
    }

    private static long Long(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var x) && x > 0 ? x : 0;

    private static IEnumerable<JsonElement> Nested(JsonElement e, params string[] path)
    {
        IEnumerable<JsonElement> level = [e];
        foreach (var name in path)
        {
            level = level.SelectMany(x => x.ValueKind == JsonValueKind.Object && x.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array
                ? a.EnumerateArray() : Enumerable.Empty<JsonElement>()).ToList();
        }

        return level;
    }
}

/// <summary>Line numbers of a JSON array's elements, so a bad element can be named by line.</summary>
internal static class JsonLines
{
    public static List<int> ElementStartLines(byte[] utf8)
    {
        var lines = new List<int>();
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            long scanned = 0;
            var line = 1;
            while (reader.Read())
            {
                if (reader.CurrentDepth == 1 && reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray or JsonTokenType.String or JsonTokenType.Number)
                {
                    var start = reader.TokenStartIndex;
                    line += utf8.AsSpan((int)scanned, (int)(start - scanned)).Count((byte)'\n');
                    scanned = start;
                    lines.Add(line);
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        reader.Skip();
                    }
                }
            }
        }
        catch (JsonException)
        {
            // The full parse reports the syntax error with its own position.
        }

        return lines;
    }
}
