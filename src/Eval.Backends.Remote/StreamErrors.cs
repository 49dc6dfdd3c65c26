using System.Globalization;
using System.Text;
using System.Text.Json;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Recognises the error shapes real OpenAI-compatible servers put inside a 200 stream (or a 200 JSON body) and turns each
/// into a <see cref="BackendException"/> of class <c>server_error_event</c> that keeps the server's own message. Shapes
/// (fixtures in tests/Eval.Backends.Remote.Tests/Fixtures/servers, listed in docs/remote.md):
/// <list type="bullet">
/// <item>OpenAI, vLLM ≥ 0.10, SGLang, llama.cpp since mid-2025, TGI's OpenAI route, Ollama: <c>data: {"error": {"message": …, "type": …, "code": …}}</c>;</item>
/// <item>llama.cpp's llama-server before that: a non-standard SSE field <c>error: {"code":400,"message":…,"type":…}</c>, then <c>data: [DONE]</c>;</item>
/// <item>vLLM's older <c>ErrorResponse</c>: <c>{"object": "error", "message": …, "type": …, "code": 400}</c>;</item>
/// <item>TGI's native stream: <c>{"error": "…", "error_type": "…"}</c> (a string);</item>
/// <item>an <c>event: error</c> line, whatever its data (proxies, Anthropic-style gateways).</item>
/// </list>
/// </summary>
internal static class StreamErrors
{
    public const string ErrorClass = "server_error_event";

    /// <summary>The error an event carries, or null when it is not an error. <paramref name="eventName"/> is the SSE event field (or the non-standard <c>error</c> field's marker).</summary>
    public static BackendException? FromEvent(ReadOnlySpan<byte> eventName, ReadOnlyMemory<byte> data, Func<string, string> redact)
    {
        if (!eventName.SequenceEqual("error"u8))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(data);
            if (FromJson(document.RootElement, redact) is { } shaped)
            {
                return shaped;
            }

            return Build(null, null, Truncate(document.RootElement.GetRawText()), redact);
        }
        catch (JsonException)
        {
            return Build(null, null, Truncate(Encoding.UTF8.GetString(data.Span)), redact);
        }
    }

    /// <summary>The error a parsed JSON event or body carries (an <c>error</c> member that is not null or false, or <c>"object": "error"</c>), or null.</summary>
    public static BackendException? FromJson(JsonElement root, Func<string, string> redact)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (root.TryGetProperty("error", out var error) && error.ValueKind is not (JsonValueKind.Null or JsonValueKind.False or JsonValueKind.Undefined))
        {
            return error.ValueKind switch
            {
                JsonValueKind.Object => Build(Text(error, "code") ?? Text(error, "http_status_code"), Text(error, "type"),
                    Text(error, "message") ?? Truncate(error.GetRawText()), redact),
                JsonValueKind.String => Build(null, Text(root, "error_type"), error.GetString() ?? string.Empty, redact),
                _ => Build(null, null, Truncate(error.GetRawText()), redact),
            };
        }

        if (root.TryGetProperty("object", out var kind) && kind.ValueKind == JsonValueKind.String && kind.ValueEquals("error"u8))
        {
            return Build(Text(root, "code"), Text(root, "type"), Text(root, "message") ?? Truncate(root.GetRawText()), redact);
        }

        return null;
    }

    private static BackendException Build(string? code, string? type, string message, Func<string, string> redact)
    {
        var detail = (code, type) switch
        {
            (null, null) => string.Empty,
            (null, _) => $" ({type})",
            (_, null) => $" (code {code})",
            _ => $" (code {code}, {type})",
        };
        return new BackendException(ErrorClass, redact($"the server reported an error inside the stream{detail}: {Truncate(message)}"));
    }

    private static string? Text(JsonElement element, string name) =>
        !element.TryGetProperty(name, out var value) ? null
        : value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            _ => null,
        };

    /// <summary>Keeps a message readable in a table and bounded in a record: at most 1,000 characters.</summary>
    private static string Truncate(string text) =>
        text.Length <= 1000 ? text : string.Create(CultureInfo.InvariantCulture, $"{text[..1000]}… ({text.Length} characters)");
}
