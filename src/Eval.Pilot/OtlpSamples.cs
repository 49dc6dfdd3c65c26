using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Spark.Eval.Pilot;

/// <summary>
/// Writes telemetry in the shapes the real tools export (docs/pilot.md cites each source): Claude Code and Codex CLI
/// OTLP log events, OTel GenAI spans, Copilot per-user records and organisation metrics. Used by <c>pilot synth</c>.
/// </summary>
internal static class OtlpSamples
{
    public static string ClaudeCodeLogs(string email, IReadOnlyList<SynthEvent> events)
    {
        var session = Guid(email + events[0].TimeMs);
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("resourceLogs");
            w.WriteStartObject();
            Resource(w, ("service.name", "claude-code"), ("service.version", "2.0.14"));
            w.WriteStartArray("scopeLogs");
            w.WriteStartObject();
            w.WriteStartObject("scope");
            w.WriteString("name", "com.anthropic.claude_code.events");
            w.WriteString("version", "2.0.14");
            w.WriteEndObject();
            w.WriteStartArray("logRecords");
            var sequence = 0;
            foreach (var e in events)
            {
                if (e.Kind is not (PilotEventKind.Prompt or PilotEventKind.ApiRequest))
                {
                    continue;
                }

                // api_request is emitted when the response completes.
                var time = e.Kind == PilotEventKind.ApiRequest ? e.TimeMs + (long)e.DurationMs : e.TimeMs;
                var name = e.Kind == PilotEventKind.Prompt ? "user_prompt" : "api_request";
                w.WriteStartObject();
                w.WriteString("timeUnixNano", Nanos(time));
                w.WriteString("observedTimeUnixNano", Nanos(time));
                w.WriteStartObject("body");
                w.WriteString("stringValue", "claude_code." + name);
                w.WriteEndObject();
                w.WriteStartArray("attributes");
                Attr(w, "user.id", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(email)))[..32]);
                Attr(w, "session.id", session);
                Attr(w, "organization.id", "9f3c2c1e-0000-4000-8000-00000000c0de");
                Attr(w, "user.email", email);
                Attr(w, "user.account_uuid", Guid("account" + email));
                Attr(w, "terminal.type", "vscode");
                Attr(w, "event.name", name);
                Attr(w, "event.timestamp", PilotSynth.Iso(time));
                Attr(w, "event.sequence", (sequence++).ToString(CultureInfo.InvariantCulture));
                if (e.Kind == PilotEventKind.Prompt)
                {
                    Attr(w, "prompt_length", "64");
                }
                else
                {
                    Attr(w, "model", "claude-sonnet-4-5");
                    Attr(w, "cost_usd", "0.0123");
                    Attr(w, "duration_ms", e.DurationMs.ToString("0", CultureInfo.InvariantCulture));
                    Attr(w, "input_tokens", "2400");
                    Attr(w, "output_tokens", "180");
                    Attr(w, "cache_read_tokens", "16000");
                    Attr(w, "cache_creation_tokens", "0");
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    public static string CodexLogs(string email, IReadOnlyList<SynthEvent> events)
    {
        var conversation = Guid(email + events[0].TimeMs);
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("resourceLogs");
            w.WriteStartObject();
            Resource(w, ("service.name", "codex_cli_rs"), ("service.version", "0.46.0"), ("env", "prod"));
            w.WriteStartArray("scopeLogs");
            w.WriteStartObject();
            w.WriteStartObject("scope");
            w.WriteString("name", "codex_otel");
            w.WriteEndObject();
            w.WriteStartArray("logRecords");
            foreach (var e in events)
            {
                var name = e.Kind switch
                {
                    PilotEventKind.Prompt => "codex.user_prompt",
                    PilotEventKind.ApiRequest => "codex.api_request",
                    _ => "codex.conversation_starts",
                };
                var time = e.Kind == PilotEventKind.ApiRequest ? e.TimeMs + (long)e.DurationMs : e.TimeMs;
                w.WriteStartObject();
                w.WriteString("timeUnixNano", Nanos(time));
                w.WriteStartArray("attributes");
                Attr(w, "event.name", name);
                Attr(w, "event.timestamp", PilotSynth.Iso(time));
                Attr(w, "conversation.id", conversation);
                Attr(w, "app.version", "0.46.0");
                Attr(w, "auth_mode", "Chatgpt");
                Attr(w, "user.account_id", Guid("account" + email));
                Attr(w, "user.email", email);
                Attr(w, "terminal.type", "vscode");
                Attr(w, "model", "gpt-5-codex");
                Attr(w, "slug", "gpt-5-codex");
                if (e.Kind == PilotEventKind.Prompt)
                {
                    Attr(w, "prompt_length", "64");
                    Attr(w, "prompt", "[REDACTED]");
                }
                else if (e.Kind == PilotEventKind.ApiRequest)
                {
                    Attr(w, "attempt", "1");
                    Attr(w, "duration_ms", e.DurationMs.ToString("0", CultureInfo.InvariantCulture));
                    Attr(w, "http.response.status_code", "200");
                }
                else
                {
                    Attr(w, "provider_name", "openai");
                    Attr(w, "approval_policy", "on-request");
                    Attr(w, "sandbox_policy", "workspace-write");
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    public static string GenAiSpans(string login, IReadOnlyList<SynthEvent> events, ref int counter)
    {
        var first = counter;
        var spans = events.Where(e => e.Kind == PilotEventKind.ApiRequest).ToList();
        counter += spans.Count;
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("resourceSpans");
            w.WriteStartObject();
            Resource(w, ("service.name", "team-assistant"), ("user.id", login));
            w.WriteStartArray("scopeSpans");
            w.WriteStartObject();
            w.WriteStartObject("scope");
            w.WriteString("name", "opentelemetry.instrumentation.openai_v2");
            w.WriteEndObject();
            w.WriteStartArray("spans");
            var i = first;
            foreach (var e in spans)
            {
                w.WriteStartObject();
                w.WriteString("traceId", i.ToString("x32", CultureInfo.InvariantCulture));
                w.WriteString("spanId", i.ToString("x16", CultureInfo.InvariantCulture));
                w.WriteString("parentSpanId", "");
                w.WriteString("name", "chat gpt-4.1");
                w.WriteNumber("kind", 3);
                w.WriteString("startTimeUnixNano", Nanos(e.TimeMs));
                w.WriteString("endTimeUnixNano", Nanos(e.TimeMs + (long)e.DurationMs));
                w.WriteStartArray("attributes");
                Attr(w, "gen_ai.operation.name", "chat");
                Attr(w, "gen_ai.provider.name", "openai");
                Attr(w, "gen_ai.request.model", "gpt-4.1");
                Attr(w, "gen_ai.response.model", "gpt-4.1-2025-04-14");
                IntAttr(w, "gen_ai.usage.input_tokens", 1800);
                IntAttr(w, "gen_ai.usage.output_tokens", 150);
                w.WriteEndArray();
                w.WriteStartObject("status");
                w.WriteEndObject();
                w.WriteEndObject();
                i++;
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    public static string CopilotUserRecord(SynthDeveloper dev, int day, int shown, int accepted) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("day", PilotAnalysis.ToDate(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        w.WriteString("enterprise_id", "1");
        w.WriteNumber("user_id", 1000 + dev.Index);
        w.WriteString("user_login", dev.Login);
        w.WriteNumber("user_initiated_interaction_count", 0);
        w.WriteNumber("code_generation_activity_count", shown);
        w.WriteNumber("code_acceptance_activity_count", accepted);
        w.WriteNumber("loc_suggested_to_add_sum", shown * 3);
        w.WriteNumber("loc_added_sum", accepted * 3);
        w.WriteBoolean("used_agent", false);
        w.WriteBoolean("used_chat", false);
        w.WriteStartArray("totals_by_feature");
        w.WriteStartObject();
        w.WriteString("feature", "code_completion");
        w.WriteNumber("code_generation_activity_count", shown);
        w.WriteNumber("code_acceptance_activity_count", accepted);
        w.WriteNumber("user_initiated_interaction_count", 0);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    });

    public static string CopilotOrgMetrics(Dictionary<(int Dev, int Day), (int Shown, int Accepted)> perUserDay)
    {
        var days = perUserDay.GroupBy(kv => kv.Key.Day).OrderBy(g => g.Key).ToList();
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartArray();
            foreach (var day in days)
            {
                var users = day.Count();
                w.WriteStartObject();
                w.WriteString("date", PilotAnalysis.ToDate(day.Key).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                w.WriteNumber("total_active_users", users);
                w.WriteNumber("total_engaged_users", users);
                w.WriteStartObject("copilot_ide_code_completions");
                w.WriteNumber("total_engaged_users", users);
                w.WriteStartArray("editors");
                w.WriteStartObject();
                w.WriteString("name", "vscode");
                w.WriteNumber("total_engaged_users", users);
                w.WriteStartArray("models");
                w.WriteStartObject();
                w.WriteString("name", "default");
                w.WriteBoolean("is_custom_model", false);
                w.WriteNumber("total_engaged_users", users);
                w.WriteStartArray("languages");
                w.WriteStartObject();
                w.WriteString("name", "csharp");
                w.WriteNumber("total_engaged_users", users);
                w.WriteNumber("total_code_suggestions", day.Sum(kv => kv.Value.Shown));
                w.WriteNumber("total_code_acceptances", day.Sum(kv => kv.Value.Accepted));
                w.WriteNumber("total_code_lines_suggested", day.Sum(kv => kv.Value.Shown) * 3);
                w.WriteNumber("total_code_lines_accepted", day.Sum(kv => kv.Value.Accepted) * 3);
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Resource(Utf8JsonWriter w, params (string Key, string Value)[] attributes)
    {
        w.WriteStartObject("resource");
        w.WriteStartArray("attributes");
        foreach (var (k, v) in attributes)
        {
            Attr(w, k, v);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Attr(Utf8JsonWriter w, string key, string value)
    {
        w.WriteStartObject();
        w.WriteString("key", key);
        w.WriteStartObject("value");
        w.WriteString("stringValue", value);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void IntAttr(Utf8JsonWriter w, string key, long value)
    {
        w.WriteStartObject();
        w.WriteString("key", key);
        w.WriteStartObject("value");
        w.WriteString("intValue", value.ToString(CultureInfo.InvariantCulture));
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static string Nanos(long unixMs) => (unixMs * 1_000_000).ToString(CultureInfo.InvariantCulture);

    private static string Guid(string seed)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(seed));
        return new System.Guid(hash.AsSpan(0, 16)).ToString();
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            write(w);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
