using System.Globalization;
using System.Text.Json;

namespace Spark.Eval.Pilot;

/// <summary>
/// Reads OTLP JSON files as the OpenTelemetry Collector's file exporter writes them (one export request a line):
/// Claude Code and Codex CLI events (logs), Claude Code metrics, and generic GenAI spans (<c>gen_ai.*</c>).
/// Prompt text (<c>prompt</c> attributes, present when prompt logging is on) is never read.
/// </summary>
internal static class OtlpJsonReader
{
    private static readonly string[] IdentityKeys = ["user.email", "user.account_uuid", "user.account_id", "enduser.id", "user.id"];

    private static readonly HashSet<string> AcceptDecisions = new(StringComparer.OrdinalIgnoreCase) { "accept", "accepted", "approved", "approved_for_session", "allow" };

    public static long Read(string path, PilotAggregator sink, RowErrors errors)
    {
        long rows = 0;
        var lineNumber = 0;
        var cumulative = new Dictionary<string, double>(StringComparer.Ordinal);
        // A .json file holds one (possibly indented) export request; .jsonl holds one a line.
        IEnumerable<string> lines = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? [File.ReadAllText(path)] : File.ReadLines(path);
        foreach (var line in lines)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException ex)
            {
                errors.Bad(lineNumber, "json", "not valid JSON (" + ex.Message.Split(". ")[0] + ")", "write one OTLP JSON export request a line (the collector's file exporter format)");
                continue;
            }

            using (document)
            {
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    errors.Bad(lineNumber, "json", "not a JSON object", "write one OTLP JSON export request a line");
                    continue;
                }

                var known = false;
                if (root.TryGetProperty("resourceLogs", out var logs))
                {
                    known = true;
                    rows += ReadLogs(logs, lineNumber, sink, errors);
                }

                if (root.TryGetProperty("resourceMetrics", out var metrics))
                {
                    known = true;
                    rows += ReadMetrics(metrics, lineNumber, sink, errors, cumulative);
                }

                if (root.TryGetProperty("resourceSpans", out var spans))
                {
                    known = true;
                    rows += ReadSpans(spans, lineNumber, sink, errors);
                }

                if (!known)
                {
                    errors.Bad(lineNumber, "resourceLogs", "none of resourceLogs, resourceMetrics, resourceSpans is present", "write OTLP JSON export requests");
                }
            }
        }

        return rows;
    }

    private static long ReadLogs(JsonElement resourceLogs, int line, PilotAggregator sink, RowErrors errors)
    {
        long rows = 0;
        var r = 0;
        foreach (var resource in Items(resourceLogs))
        {
            var resourceAttributes = ResourceAttributes(resource);
            var s = 0;
            foreach (var scope in Items(resource, "scopeLogs"))
            {
                var i = 0;
                foreach (var record in Items(scope, "logRecords"))
                {
                    rows++;
                    var where = $"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]";
                    ReadLogRecord(record, resourceAttributes, where, line, sink, errors);
                    i++;
                }

                s++;
            }

            r++;
        }

        return rows;
    }

    private static void ReadLogRecord(JsonElement record, JsonElement? resourceAttributes, string where, int line, PilotAggregator sink, RowErrors errors)
    {
        var attributes = record.TryGetProperty("attributes", out var a) ? a : (JsonElement?)null;
        var name = Attribute(attributes, "event.name") ?? (record.TryGetProperty("body", out var body) ? StringValue(body) : null);
        if (string.IsNullOrEmpty(name))
        {
            errors.Bad(line, where + ".attributes[event.name]", "the record has no event name", "export events as Claude Code / Codex do (event.name attribute or a string body)");
            return;
        }

        var developer = Identity(attributes, resourceAttributes);
        if (developer is null)
        {
            errors.Bad(line, where + ".attributes[user.email]", "no developer identity (user.email, user.account_uuid, user.account_id, enduser.id or user.id)",
                "keep account attributes in the export (Claude Code: OTEL_METRICS_INCLUDE_ACCOUNT_UUID, Codex: signed-in user), or add user.email through OTEL_RESOURCE_ATTRIBUTES");
            return;
        }

        if (!RecordTime(record, attributes, out var timeMs))
        {
            errors.Bad(line, where + ".timeUnixNano", "no usable time (timeUnixNano, event.timestamp or observedTimeUnixNano)", "export records with their timestamps");
            return;
        }

        var shortName = name.StartsWith("claude_code.", StringComparison.Ordinal) ? name["claude_code.".Length..]
            : name.StartsWith("codex.", StringComparison.Ordinal) ? name["codex.".Length..] : name;
        var dev = sink.Developer(developer);
        var task = TaskOf(sink, attributes, resourceAttributes);
        switch (shortName)
        {
            case "user_prompt":
                sink.Add(dev, timeMs, PilotEventKind.Prompt, task);
                break;
            case "api_request":
                {
                    var durationText = Attribute(attributes, "duration_ms");
                    double duration = 0;
                    if (durationText is not null && (!double.TryParse(durationText, NumberStyles.Float, CultureInfo.InvariantCulture, out duration) || duration < 0))
                    {
                        errors.Bad(line, where + ".attributes[duration_ms]", $"'{durationText}' is not a non-negative number", "export duration_ms as a number of milliseconds");
                        return;
                    }

                    // Claude Code and Codex emit api_request when the response has completed: the request began duration earlier.
                    sink.Add(dev, timeMs - (long)duration, PilotEventKind.ApiRequest, task, duration);
                    break;
                }

            case "tool_decision":
                {
                    var decision = Attribute(attributes, "decision");
                    sink.Add(dev, timeMs, PilotEventKind.SuggestionShown, task);
                    if (decision is not null && AcceptDecisions.Contains(decision))
                    {
                        sink.Add(dev, timeMs, PilotEventKind.SuggestionAccepted, task);
                    }

                    break;
                }

            case "conversation_starts":
                sink.Add(dev, timeMs, PilotEventKind.SessionStart, task);
                break;
            default:
                sink.Add(dev, timeMs, PilotEventKind.Activity, task);
                break;
        }
    }

    private static long ReadMetrics(JsonElement resourceMetrics, int line, PilotAggregator sink, RowErrors errors, Dictionary<string, double> cumulative)
    {
        long rows = 0;
        var r = 0;
        foreach (var resource in Items(resourceMetrics))
        {
            var resourceAttributes = ResourceAttributes(resource);
            var s = 0;
            foreach (var scope in Items(resource, "scopeMetrics"))
            {
                var m = 0;
                foreach (var metric in Items(scope, "metrics"))
                {
                    var name = metric.TryGetProperty("name", out var n) ? n.GetString() : null;
                    var kind = name switch
                    {
                        "claude_code.commit.count" => PilotEventKind.Commit,
                        "claude_code.code_edit_tool.decision" => PilotEventKind.SuggestionShown,
                        "claude_code.session.count" => PilotEventKind.SessionStart,
                        "claude_code.active_time.total" => PilotEventKind.Activity,
                        _ => (PilotEventKind)255,
                    };
                    if (kind == (PilotEventKind)255 || !metric.TryGetProperty("sum", out var sum))
                    {
                        m++;
                        continue;
                    }

                    var isCumulative = sum.TryGetProperty("aggregationTemporality", out var t) && TemporalityIsCumulative(t);
                    var p = 0;
                    foreach (var point in Items(sum, "dataPoints"))
                    {
                        rows++;
                        var where = $"resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}].sum.dataPoints[{p}]";
                        p++;
                        var attributes = point.TryGetProperty("attributes", out var a) ? a : (JsonElement?)null;
                        var developer = Identity(attributes, resourceAttributes);
                        if (developer is null)
                        {
                            errors.Bad(line, where + ".attributes[user.account_uuid]", "no developer identity", "keep OTEL_METRICS_INCLUDE_ACCOUNT_UUID on (the default)");
                            continue;
                        }

                        if (!point.TryGetProperty("timeUnixNano", out var time) || !Timestamps.TryParseUnixNanos(RawText(time), out var timeMs))
                        {
                            errors.Bad(line, where + ".timeUnixNano", "missing or not a positive integer", "export data points with their times");
                            continue;
                        }

                        if (!PointValue(point, out var value) || value < 0)
                        {
                            errors.Bad(line, where + ".asInt", "missing or negative value (asInt or asDouble)", "export the counter's value");
                            continue;
                        }

                        if (isCumulative)
                        {
                            var key = $"{name}|{developer}|{attributes?.GetRawText()}";
                            var last = cumulative.TryGetValue(key, out var l) ? l : 0;
                            cumulative[key] = value;
                            value = value >= last ? value - last : value;
                        }

                        var count = (int)Math.Round(value);
                        var dev = sink.Developer(developer);
                        if (kind == PilotEventKind.SuggestionShown)
                        {
                            sink.Add(dev, timeMs, PilotEventKind.SuggestionShown, -1, 0, count);
                            var decision = Attribute(attributes, "decision");
                            if (decision is not null && AcceptDecisions.Contains(decision))
                            {
                                sink.Add(dev, timeMs, PilotEventKind.SuggestionAccepted, -1, 0, count);
                            }
                        }
                        else
                        {
                            sink.Add(dev, timeMs, kind, -1, 0, count);
                        }
                    }

                    m++;
                }

                s++;
            }

            r++;
        }

        return rows;
    }

    private static long ReadSpans(JsonElement resourceSpans, int line, PilotAggregator sink, RowErrors errors)
    {
        long rows = 0;
        var r = 0;
        foreach (var resource in Items(resourceSpans))
        {
            var resourceAttributes = ResourceAttributes(resource);
            var s = 0;
            foreach (var scope in Items(resource, "scopeSpans"))
            {
                // A GenAI span counts as one interactive use when its parent is not itself a GenAI span of the batch
                // (an agent's nested model calls are part of the one wait the developer sees).
                var genAiIds = new HashSet<string>(StringComparer.Ordinal);
                foreach (var span in Items(scope, "spans"))
                {
                    if (span.TryGetProperty("attributes", out var a) && Attribute(a, "gen_ai.operation.name") is not null
                        && span.TryGetProperty("spanId", out var id) && id.GetString() is { Length: > 0 } sid)
                    {
                        genAiIds.Add(sid);
                    }
                }

                var i = 0;
                foreach (var span in Items(scope, "spans"))
                {
                    var where = $"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]";
                    i++;
                    var attributes = span.TryGetProperty("attributes", out var a) ? a : (JsonElement?)null;
                    if (Attribute(attributes, "gen_ai.operation.name") is null)
                    {
                        continue;
                    }

                    rows++;
                    var parent = span.TryGetProperty("parentSpanId", out var ps) ? ps.GetString() : null;
                    if (!string.IsNullOrEmpty(parent) && genAiIds.Contains(parent))
                    {
                        continue;
                    }

                    var developer = Identity(attributes, resourceAttributes);
                    if (developer is null)
                    {
                        errors.Bad(line, where + ".attributes[user.id]", "no developer identity (user.id, enduser.id or user.email on the span or its resource)",
                            "set user.id on the span or OTEL_RESOURCE_ATTRIBUTES=user.id=<developer>");
                        continue;
                    }

                    if (!span.TryGetProperty("startTimeUnixNano", out var start) || !Timestamps.TryParseUnixNanos(RawText(start), out var startMs))
                    {
                        errors.Bad(line, where + ".startTimeUnixNano", "missing or not a positive integer", "export spans with their times");
                        continue;
                    }

                    if (!span.TryGetProperty("endTimeUnixNano", out var end) || !Timestamps.TryParseUnixNanos(RawText(end), out var endMs) || endMs < startMs)
                    {
                        errors.Bad(line, where + ".endTimeUnixNano", "missing, not a positive integer or before the start", "export finished spans with their end times");
                        continue;
                    }

                    var dev = sink.Developer(developer);
                    var task = TaskOf(sink, attributes, resourceAttributes);
                    sink.Add(dev, startMs, PilotEventKind.Prompt, task);
                    sink.Add(dev, startMs, PilotEventKind.ApiRequest, task, endMs - startMs);
                }

                s++;
            }

            r++;
        }

        return rows;
    }

    private static int TaskOf(PilotAggregator sink, JsonElement? attributes, JsonElement? resourceAttributes)
    {
        var task = Attribute(attributes, "task.id") ?? Attribute(resourceAttributes, "task.id");
        return string.IsNullOrWhiteSpace(task) ? -1 : sink.Task(task);
    }

    private static bool TemporalityIsCumulative(JsonElement t) =>
        t.ValueKind == JsonValueKind.Number ? t.GetInt32() == 2 : t.GetString() is "AGGREGATION_TEMPORALITY_CUMULATIVE";

    private static bool RecordTime(JsonElement record, JsonElement? attributes, out long timeMs)
    {
        if (record.TryGetProperty("timeUnixNano", out var t) && Timestamps.TryParseUnixNanos(RawText(t), out timeMs))
        {
            return true;
        }

        if (Attribute(attributes, "event.timestamp") is { } iso && Timestamps.TryParseUnixMs(iso, out timeMs))
        {
            return true;
        }

        if (record.TryGetProperty("observedTimeUnixNano", out var o) && Timestamps.TryParseUnixNanos(RawText(o), out timeMs))
        {
            return true;
        }

        timeMs = 0;
        return false;
    }

    private static bool PointValue(JsonElement point, out double value)
    {
        if (point.TryGetProperty("asInt", out var i))
        {
            return double.TryParse(RawText(i), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }

        if (point.TryGetProperty("asDouble", out var d))
        {
            return double.TryParse(RawText(d), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }

        value = 0;
        return false;
    }

    private static string RawText(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText();

    private static string? Identity(JsonElement? attributes, JsonElement? resourceAttributes)
    {
        foreach (var key in IdentityKeys)
        {
            if (Attribute(attributes, key) is { Length: > 0 } v)
            {
                return v;
            }
        }

        foreach (var key in IdentityKeys)
        {
            if (Attribute(resourceAttributes, key) is { Length: > 0 } v)
            {
                return v;
            }
        }

        return null;
    }

    private static JsonElement? ResourceAttributes(JsonElement resource) =>
        resource.TryGetProperty("resource", out var res) && res.TryGetProperty("attributes", out var a) ? a : null;

    /// <summary>An OTLP attribute's value as text (string, int, double or bool), or null.</summary>
    private static string? Attribute(JsonElement? attributes, string key)
    {
        if (attributes is not { ValueKind: JsonValueKind.Array } list)
        {
            return null;
        }

        foreach (var kv in list.EnumerateArray())
        {
            if (kv.TryGetProperty("key", out var k) && k.ValueEquals(key) && kv.TryGetProperty("value", out var value))
            {
                return StringValue(value);
            }
        }

        return null;
    }

    private static string? StringValue(JsonElement anyValue)
    {
        if (anyValue.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var p in anyValue.EnumerateObject())
        {
            return p.Name switch
            {
                "stringValue" => p.Value.GetString(),
                "intValue" or "doubleValue" => RawText(p.Value),
                "boolValue" => p.Value.GetRawText(),
                _ => null,
            };
        }

        return null;
    }

    private static readonly JsonElement EmptyArray = JsonSerializer.SerializeToElement(Array.Empty<int>(), PilotJsonContext.Default.Int32Array);

    private static JsonElement.ArrayEnumerator Items(JsonElement array) =>
        (array.ValueKind == JsonValueKind.Array ? array : EmptyArray).EnumerateArray();

    private static JsonElement.ArrayEnumerator Items(JsonElement parent, string property) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(property, out var a) ? Items(a) : EmptyArray.EnumerateArray();
}
